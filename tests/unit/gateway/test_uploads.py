from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.gateway.http_checks import BodyTooLarge, MalformedRequest, UnsupportedMediaType
from services.gateway.uploads import discard, receive_file

BOUNDARY = "----slipway-test-boundary"


def multipart(parts: list[tuple[str, str | None, bytes]]) -> bytes:
    out = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += (
            (
                f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n"
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + data
            + b"\r\n"
        )
    return out + f"--{BOUNDARY}--\r\n".encode()


async def chunks(body: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for i in range(0, len(body), size):
        yield body[i : i + size]


def headers(body: bytes | None = None) -> dict[str, str]:
    h = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
    if body is not None:
        h["content-length"] = str(len(body))
    return h


async def test_the_file_part_is_streamed_to_a_temporary_file(tmp_path: Path) -> None:
    data = bytes(range(256)) * 1000
    body = multipart([("note", None, b"hello"), ("file", "image.tar", data)])
    received = await receive_file(
        headers(body), chunks(body), limit=1 << 20, directory=str(tmp_path)
    )
    with discard(received):
        assert received.path.read_bytes() == data
        assert (received.size, received.filename) == (len(data), "image.tar")
    assert not received.path.exists()


async def test_a_file_over_the_limit_is_413_and_leaves_nothing_behind(tmp_path: Path) -> None:
    body = multipart([("file", "big.tar", b"\0" * 5000)])
    with pytest.raises(BodyTooLarge):
        await receive_file(headers(), chunks(body), limit=4000, directory=str(tmp_path))
    assert os.listdir(tmp_path) == []


async def test_a_declared_length_over_the_limit_is_413_before_reading(tmp_path: Path) -> None:
    async def never() -> AsyncIterator[bytes]:
        raise AssertionError("the body must not be read")
        yield b""  # pragma: no cover

    h = headers()
    h["content-length"] = str(10 * 1024 * 1024)
    with pytest.raises(BodyTooLarge):
        await receive_file(h, never(), limit=1024, directory=str(tmp_path))


async def test_a_body_without_the_file_field_is_malformed(tmp_path: Path) -> None:
    body = multipart([("other", "x.tar", b"data")])
    with pytest.raises(MalformedRequest, match="no field 'file'"):
        await receive_file(headers(), chunks(body), limit=1 << 20, directory=str(tmp_path))
    assert os.listdir(tmp_path) == []


async def test_a_body_that_is_not_multipart_is_415(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedMediaType):
        await receive_file(
            {"content-type": "application/x-tar"}, chunks(b"x"), limit=10, directory=str(tmp_path)
        )
    with pytest.raises(MalformedRequest, match="boundary"):
        await receive_file(
            {"content-type": "multipart/form-data"}, chunks(b"x"), limit=10, directory=str(tmp_path)
        )
