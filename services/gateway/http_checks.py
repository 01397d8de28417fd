"""The cheap request checks that come before any parsing: body size (413), content type (415)."""

from __future__ import annotations

from collections.abc import Collection


class RequestError(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BodyTooLarge(RequestError):
    pass


class UnsupportedMediaType(RequestError):
    pass


class MalformedRequest(RequestError):
    pass


def check_content_length(value: str | None, limit: int) -> None:
    """Refuse early on the declared length; the handler still counts the bytes it reads."""
    if value is None:
        return
    try:
        length = int(value.strip())
    except ValueError:
        raise MalformedRequest(f"Content-Length {value!r} is not a number") from None
    if length < 0:
        raise MalformedRequest(f"Content-Length {value!r} is negative")
    check_body_size(length, limit)


def check_body_size(size: int, limit: int) -> None:
    if size > limit:
        raise BodyTooLarge(f"the body is larger than the limit of {limit} bytes")


def media_type(value: str | None) -> str | None:
    """`application/json; charset=utf-8` → `application/json`."""
    if value is None:
        return None
    base = value.split(";", 1)[0].strip().lower()
    return base or None


def check_content_type(
    value: str | None, allowed: Collection[str], *, hint: str | None = None
) -> str:
    found = media_type(value)
    if found is None or found not in allowed:
        wanted = " or ".join(sorted(allowed))
        detail = f"content type {found or 'missing'}; expected {wanted}"
        raise UnsupportedMediaType(f"{detail}. {hint}" if hint else detail)
    return found
