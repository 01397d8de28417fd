"""HTTP access for the CLI: where the gateway and the query API are, the token, one-line errors.

URLs: `--gateway` / `SLIPWAY_GATEWAY_URL`, else `http://127.0.0.1:<SLIPWAY_GATEWAY_PORT>`;
`--api` / `SLIPWAY_API_URL`, else `http://127.0.0.1:<SLIPWAY_API_PORT>`. The token:
`SLIPWAY_ADMIN_TOKEN`, else the file `slipway up` writes to `<data dir>/token`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from libs.settings import Settings

Which = Literal["gateway", "api"]
NAMES: Mapping[Which, str] = {"gateway": "gateway", "api": "query API"}
TIMEOUT = httpx.Timeout(60.0, connect=5.0)
STREAM_TIMEOUT = httpx.Timeout(None, connect=5.0)


class CliError(Exception):
    """A failure the user sees as one line on stderr, with exit status 1."""


class Unreachable(CliError):
    """No answer from a service (connection refused, timed out, dropped)."""


class Refused(CliError):
    """A service answered with an error status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def one_line(text: str, limit: int = 400) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def read_token(settings: Settings) -> str | None:
    if settings.admin_token:
        return settings.admin_token
    path = settings.data_dir / "token"
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


@dataclass
class Cli:
    """What every command needs; the root callback fills it, tests pass their own transports."""

    gateway_url: str | None = None
    api_url: str | None = None
    settings: Settings = field(default_factory=Settings)
    transport: httpx.BaseTransport | None = None
    async_transport: httpx.AsyncBaseTransport | None = None
    trigger_bus: Any = None  # a slipway.triggers.TriggerBus; tests pass a fake
    poll_s: float = 1.0  # how often live views re-read a deployment

    def url(self, which: Which) -> str:
        given = self.gateway_url if which == "gateway" else self.api_url
        if given:
            return given.rstrip("/")
        port = self.settings.gateway_port if which == "gateway" else self.settings.api_port
        return f"http://127.0.0.1:{port}"

    @property
    def token(self) -> str | None:
        return read_token(self.settings)

    def headers(self) -> dict[str, str]:
        token = self.token
        return {"Authorization": f"Bearer {token}"} if token else {}

    def api(self, which: Which) -> Api:
        return Api(self, which)

    def async_api(self, which: Which) -> AsyncApi:
        return AsyncApi(self, which)


def problem_detail(resp: httpx.Response) -> str:
    """The `detail` of a problem+json answer (else its title, else the body's first line)."""
    try:
        body = json.loads(resp.content)
    except (ValueError, UnicodeDecodeError):
        body = None
    if isinstance(body, dict):
        for key in ("detail", "title", "message"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
            if key == "detail" and isinstance(value, list) and value:  # FastAPI's 422 shape
                first = value[0]
                if isinstance(first, dict):
                    loc = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
                    return f"{loc}: {first.get('msg')}" if loc else str(first.get("msg"))
    text = resp.text.strip().splitlines()
    return text[0] if text else resp.reason_phrase or "no detail"


class _Base:
    def __init__(self, cli: Cli, which: Which) -> None:
        self.cli = cli
        self.which = which
        self.name = NAMES[which]
        self.base_url = cli.url(which)

    def unreachable(self, exc: httpx.TransportError) -> Unreachable:
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            return Unreachable(
                f"cannot reach the {self.name} at {self.base_url} — is `slipway up` running?"
            )
        why = one_line(str(exc)) or type(exc).__name__
        return Unreachable(f"the {self.name} at {self.base_url} did not answer: {why}")

    def refused(self, resp: httpx.Response) -> Refused:
        detail = one_line(problem_detail(resp))
        if resp.status_code == 401 and not self.cli.token:
            detail += (
                " (no admin token: set SLIPWAY_ADMIN_TOKEN, or run `slipway up`, which writes "
                f"{self.cli.settings.data_dir / 'token'})"
            )
        message = f"{detail} (HTTP {resp.status_code} from the {self.name})"
        return Refused(message, resp.status_code)


class Api(_Base):
    """Blocking client of one service; every failure is a CliError with one line."""

    def _client(self, timeout: httpx.Timeout = TIMEOUT) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url,
            headers=self.cli.headers(),
            timeout=timeout,
            transport=self.cli.transport,
        )

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            with self._client() as client:
                resp = client.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise self.unreachable(exc) from None
        if resp.status_code >= 400:
            raise self.refused(resp)
        return resp

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = self.request(method, path, **kwargs)
        try:
            return resp.json()
        except ValueError:
            raise CliError(f"the {self.name} answered {path} with something not JSON") from None

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.json("GET", path, params=_clean(params))

    def pages(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[Any]:
        """Every item of a §10 list, following `next_cursor`."""
        query = dict(_clean(params))
        while True:
            page = self.get(path, query)
            yield from page.get("items", [])
            cursor = page.get("next_cursor")
            if not cursor:
                return
            query["cursor"] = cursor

    @contextmanager
    def lines(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[Iterator[str]]:
        """The non-empty lines of a streamed answer (JSON lines)."""
        try:
            with (
                self._client(STREAM_TIMEOUT) as client,
                client.stream("GET", path, params=_clean(params)) as resp,
            ):
                if resp.status_code >= 400:
                    resp.read()
                    raise self.refused(resp)
                yield (line for line in _guarded(self, resp.iter_lines()) if line.strip())
        except httpx.TransportError as exc:
            raise self.unreachable(exc) from None


def _guarded(api: _Base, lines: Iterator[str]) -> Iterator[str]:
    try:
        yield from lines
    except httpx.TransportError as exc:
        raise api.unreachable(exc) from None


class AsyncApi(_Base):
    """The same for the live views (`--follow`), which read a stream and poll at once."""

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.base_url,
            headers=self.cli.headers(),
            timeout=STREAM_TIMEOUT,
            transport=self.cli.async_transport,
        )

    async def get(
        self, client: httpx.AsyncClient, path: str, params: Mapping[str, Any] | None = None
    ) -> Any:
        try:
            resp = await client.get(path, params=_clean(params), timeout=TIMEOUT)
        except httpx.TransportError as exc:
            raise self.unreachable(exc) from None
        if resp.status_code >= 400:
            raise self.refused(resp)
        return resp.json()

    @asynccontextmanager
    async def lines(
        self,
        client: httpx.AsyncClient,
        path: str,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[AsyncIterator[str]]:
        try:
            async with client.stream(
                "GET", path, params=_clean(params), headers=dict(headers or {})
            ) as resp:
                if resp.status_code >= 400:
                    await resp.aread()
                    raise self.refused(resp)
                yield resp.aiter_lines()
        except httpx.TransportError as exc:
            raise self.unreachable(exc) from None


def _clean(params: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (params or {}).items() if v is not None}
