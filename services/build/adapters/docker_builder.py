"""ImageBuilder over the Docker engine: the SDK's low-level build API, in a thread of its own.

A build is one long HTTP response read by a blocking thread. Cancelling the build shuts that
response's socket down: the engine sees its client gone and stops the build (it kills the running
step's container), and the thread, its read failing, ends on its own — nobody waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from requests.exceptions import ConnectionError as RequestsConnectionError
from urllib3.exceptions import ProtocolError

from services.build.builder import (
    BuildError,
    BuilderUnavailable,
    BuildSpec,
    BuiltImage,
    LineSink,
    Stream,
)

ApiFactory = Callable[[], Any]


def api_from_env() -> Any:
    # No HTTP timeout: a build step may print nothing for a long while; the job's own timeout
    # (SLIPWAY_BUILD_TIMEOUT_S) bounds it instead.
    return docker.APIClient(**{**docker.utils.kwargs_from_env(), "timeout": None})


class _Abort:
    """Shared by the event loop (which aborts) and the build thread (which attaches responses)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._responses: list[Any] = []
        self.aborted = False

    def attach(self, response: Any) -> None:
        with self._lock:
            self._responses.append(response)
            if self.aborted:
                _hang_up(response)

    def abort(self) -> None:
        with self._lock:
            self.aborted = True
            for response in self._responses:
                _hang_up(response)


def _hang_up(response: Any) -> None:
    # shutdown() wakes a thread blocked reading the socket; close() alone would not.
    with contextlib.suppress(Exception):
        response.raw._fp.fp.raw._sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(Exception):
        response.close()


class _Lines:
    """Docker's `stream` chunks are pieces of lines: emit whole lines only."""

    def __init__(self, emit: LineSink) -> None:
        self.emit = emit
        self.pending = ""

    def feed(self, text: str, stream: Stream) -> None:
        *lines, self.pending = (self.pending + text).split("\n")
        for line in lines:
            if line.strip():
                self.emit(line.rstrip("\r"), stream)

    def flush(self) -> None:
        if self.pending.strip():
            self.emit(self.pending, "stdout")
        self.pending = ""


class DockerImageBuilder:
    def __init__(self, make_api: ApiFactory = api_from_env) -> None:
        self._make_api = make_api
        self._api: Any = None
        self._lock = threading.Lock()

    def _connect(self) -> Any:
        try:
            return self._make_api()
        except DockerException as exc:
            raise BuilderUnavailable(f"the Docker engine is unreachable: {exc}") from None

    def _shared(self) -> Any:
        with self._lock:
            if self._api is None:
                self._api = self._connect()
            return self._api

    # ------------------------------------------------------------------ build

    async def build(self, spec: BuildSpec, log: LineSink) -> BuiltImage:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[BuiltImage] = loop.create_future()
        abort = _Abort()

        def emit(line: str, stream: Stream) -> None:
            _threadsafe(loop, log, line, stream)

        def work() -> None:
            try:
                result = self._build_blocking(spec, emit, abort)
            except BaseException as exc:
                _threadsafe(loop, _settle, done, None, exc)
            else:
                _threadsafe(loop, _settle, done, result, None)

        threading.Thread(target=work, name=f"docker-build {spec.tag}", daemon=True).start()
        try:
            return await done
        except asyncio.CancelledError:
            abort.abort()
            raise

    def _build_blocking(self, spec: BuildSpec, emit: LineSink, abort: _Abort) -> BuiltImage:
        api = self._connect()
        original = api._stream_helper

        def capture(response: Any, decode: bool = False) -> Iterator[Any]:
            abort.attach(response)
            return original(response, decode)  # type: ignore[no-any-return]

        api._stream_helper = capture
        lines = _Lines(emit)
        image_id: str | None = None
        error: str | None = None
        try:
            chunks = api.build(
                path=str(spec.context),
                dockerfile=spec.dockerfile,
                tag=spec.tag,
                buildargs=dict(spec.buildargs),
                labels=dict(spec.labels),
                rm=True,
                forcerm=True,
                pull=False,
                decode=True,
                timeout=None,
            )
            for chunk in chunks:
                if abort.aborted:
                    break
                if "stream" in chunk:
                    lines.feed(str(chunk["stream"]), "stdout")
                elif "error" in chunk:
                    lines.flush()
                    error = str(chunk["error"]).strip()
                    emit(error, "stderr")
                elif "status" in chunk and "progress" not in chunk:
                    where = f"{chunk['id']}: " if chunk.get("id") else ""
                    emit(f"{where}{chunk['status']}", "stdout")
                elif isinstance(chunk.get("aux"), dict) and "ID" in chunk["aux"]:
                    image_id = str(chunk["aux"]["ID"])
            lines.flush()
            if abort.aborted:
                raise BuildError("build stopped", "cancelled")
            if error is not None:
                raise BuildError(f"docker build failed: {error}")
            info = api.inspect_image(spec.tag)
        except (RequestsConnectionError, ProtocolError) as exc:
            if abort.aborted:
                raise BuildError("build stopped", "cancelled") from None
            raise BuilderUnavailable(f"lost the Docker engine during the build: {exc}") from None
        except APIError as exc:
            raise BuildError(f"docker build failed: {exc.explanation or exc}") from None
        except DockerException as exc:
            raise BuilderUnavailable(f"the Docker engine is unreachable: {exc}") from None
        finally:
            with contextlib.suppress(Exception):
                api.close()
        ports = (info.get("Config") or {}).get("ExposedPorts") or {}
        return BuiltImage(
            id=image_id or str(info["Id"]),
            tag=spec.tag,
            exposed_ports=tuple(sorted(int(str(p).split("/")[0]) for p in ports)),
        )

    # ------------------------------------------------------------------ files and cleanup

    async def export_path(
        self, image: str, path: str, dest: Path, labels: Mapping[str, str]
    ) -> None:
        await asyncio.to_thread(self._export_blocking, image, path, dest, dict(labels))

    def _export_blocking(self, image: str, path: str, dest: Path, labels: dict[str, str]) -> None:
        api = self._shared()
        try:
            # Never started: the command only has to exist on paper (a FROM scratch image has
            # none), and the container only holds the image's files for get_archive.
            container = api.create_container(
                image, command=["/slipway-export"], labels=labels, network_disabled=True
            )["Id"]
        except DockerException as exc:
            raise BuildError(f"cannot open the built image {image}: {exc}") from None
        try:
            stream, _ = api.get_archive(container, path)
            with dest.open("wb") as f:
                for chunk in stream:
                    f.write(chunk)
        except NotFound:
            raise BuildError(f"the built image has no {path}", "no_output") from None
        except DockerException as exc:
            raise BuildError(f"cannot copy {path} out of the built image: {exc}") from None
        finally:
            with contextlib.suppress(DockerException):
                api.remove_container(container, force=True)

    async def remove_image(self, image: str, labels: Mapping[str, str] | None = None) -> bool:
        return await asyncio.to_thread(self._remove_blocking, image, labels)

    def _remove_blocking(self, image: str, labels: Mapping[str, str] | None) -> bool:
        api = self._shared()
        try:
            info = api.inspect_image(image)
            have = (info.get("Config") or {}).get("Labels") or {}
            if labels and any(have.get(k) != v for k, v in labels.items()):
                return False
            api.remove_image(image)
        except ImageNotFound:
            return False
        except APIError as exc:
            raise BuildError(f"cannot remove image {image}: {exc.explanation or exc}") from None
        return True


def _threadsafe(loop: asyncio.AbstractEventLoop, fn: Callable[..., None], *args: Any) -> None:
    # The loop may be gone when an abandoned build thread finishes: nothing left to tell.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(fn, *args)


def _settle(
    fut: asyncio.Future[BuiltImage], result: BuiltImage | None, exc: BaseException | None
) -> None:
    if fut.done():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        assert result is not None
        fut.set_result(result)
