"""Multipart uploads streamed to a temporary file: never whole in memory, refused past a limit."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from services.gateway.http_checks import (
    BodyTooLarge,
    MalformedRequest,
    check_content_length,
    check_content_type,
)

MULTIPART = "multipart/form-data"
# Room for the multipart framing and small fields around the file part.
FRAMING_BYTES = 64 * 1024
FLUSH_BYTES = 1024 * 1024


@dataclass(frozen=True)
class ReceivedFile:
    path: Path
    size: int
    filename: str | None


class _Part:
    def __init__(self) -> None:
        self.header_field = bytearray()
        self.header_value = bytearray()
        self.disposition = b""


class _FileSink:
    """Collects the chosen part's bytes and writes them in batches off the event loop."""

    def __init__(self, out: IO[bytes], limit: int) -> None:
        self.out = out
        self.limit = limit
        self.size = 0
        self.pending: list[bytes] = []
        self.pending_bytes = 0

    def add(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise BodyTooLarge(f"the file is larger than the limit of {self.limit} bytes")
        self.pending.append(data)
        self.pending_bytes += len(data)

    async def flush(self, force: bool = False) -> None:
        if self.pending and (force or self.pending_bytes >= FLUSH_BYTES):
            chunks, self.pending, self.pending_bytes = self.pending, [], 0
            await asyncio.to_thread(self.out.writelines, chunks)


async def receive_file(
    headers: Mapping[str, str],
    body: AsyncIterator[bytes],
    *,
    field: str = "file",
    limit: int,
    directory: str | None = None,
) -> ReceivedFile:
    """Reads a multipart/form-data body; the part named `field` goes to a new temporary file.

    `headers` are looked up by lower-case name (Starlette's `Headers` or a plain dict).

    The caller owns the file and must delete it (`discard`). Raises 415, 413 or 400 errors.
    """
    content_type = headers.get("content-type")
    check_content_type(content_type, {MULTIPART}, hint=f"send the file as field {field!r}")
    check_content_length(headers.get("content-length"), limit + FRAMING_BYTES)
    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise MalformedRequest("multipart/form-data without a boundary")

    fd, name = tempfile.mkstemp(prefix="slipway-upload-", dir=directory)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            sink = _FileSink(out, limit)
            found = await _parse(body, boundary, field, sink, limit + FRAMING_BYTES)
            await sink.flush(force=True)
        if found is None:
            raise MalformedRequest(f"the multipart body has no field {field!r}")
        return ReceivedFile(path, sink.size, found or None)
    except BaseException:
        os.unlink(path)  # the temporary file is ours; a missing one would be a bug
        raise


async def _parse(
    body: AsyncIterator[bytes], boundary: bytes, field: str, sink: _FileSink, max_body: int
) -> str | None:
    """Feeds the parser; returns the file part's filename ('' if none) or None if absent."""
    part = _Part()
    state: dict[str, object] = {"target": False, "filename": None, "seen": False}

    def on_part_begin() -> None:
        nonlocal part
        part = _Part()
        state["target"] = False

    def on_header_field(data: bytes, start: int, end: int) -> None:
        part.header_field += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        part.header_value += data[start:end]

    def on_header_end() -> None:
        if bytes(part.header_field).lower() == b"content-disposition":
            part.disposition = bytes(part.header_value)
        part.header_field.clear()
        part.header_value.clear()

    def on_headers_finished() -> None:
        _, opts = parse_options_header(part.disposition)
        if opts.get(b"name", b"").decode("utf-8", "replace") == field and not state["seen"]:
            state["target"] = True
            state["seen"] = True
            state["filename"] = opts.get(b"filename", b"").decode("utf-8", "replace")

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state["target"]:
            sink.add(data[start:end])

    def on_part_end() -> None:
        state["target"] = False

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    total = 0
    async for chunk in body:
        total += len(chunk)
        if total > max_body:
            raise BodyTooLarge(f"the body is larger than the limit of {max_body} bytes")
        try:
            parser.write(chunk)
        except MultipartParseError as exc:
            raise MalformedRequest(f"malformed multipart body: {exc}") from None
        await sink.flush()
    try:
        parser.finalize()
    except MultipartParseError as exc:
        raise MalformedRequest(f"malformed multipart body: {exc}") from None
    if not state["seen"]:
        return None
    return str(state["filename"] or "")


@contextlib.contextmanager
def discard(received: ReceivedFile) -> Iterator[ReceivedFile]:
    try:
        yield received
    finally:
        received.path.unlink(missing_ok=True)
