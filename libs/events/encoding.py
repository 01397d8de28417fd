"""The canonical encoder and the per-aggregate hash chain.

An encoder version, once released, is frozen: stored events name the version that produced their
bytes (`encoding`), and verification always uses that version. A change in how bytes are produced
is a new version, never an edit of an old one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

CURRENT_ENCODING = 1


class EncodingError(ValueError):
    pass


# Sorted keys, no insignificant white space, UTF-8, no NaN: one byte sequence per value.
# One encoder object, made once: `json.dumps` with these options builds exactly this encoder on
# every call, so the bytes are the same.
_V1 = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _canonical_v1(obj: Mapping[str, Any]) -> bytes:
    return _V1.encode(obj).encode("utf-8")


ENCODERS: Mapping[int, Callable[[Mapping[str, Any]], bytes]] = {1: _canonical_v1}


def encode(obj: Mapping[str, Any], version: int = CURRENT_ENCODING) -> bytes:
    try:
        encoder = ENCODERS[version]
    except KeyError:
        raise EncodingError(f"unknown canonical encoding version {version}") from None
    return encoder(obj)


def compute_hash(obj: Mapping[str, Any], version: int = CURRENT_ENCODING) -> str:
    """sha-256 over the canonical bytes of the event with `hash` left out."""
    body = {k: v for k, v in obj.items() if k != "hash"}
    return hashlib.sha256(encode(body, version)).hexdigest()


def seal(obj: Mapping[str, Any]) -> bytes:
    """The stored bytes of an event whose `prev_hash` and `encoding` are already set."""
    version = int(obj.get("encoding", CURRENT_ENCODING))
    sealed = dict(obj)
    sealed["hash"] = compute_hash(sealed, version)
    return encode(sealed, version)


class ChainBreak(Exception):
    """The first place where a sequence of stored events stops verifying."""

    def __init__(self, index: int, seq: int | None, reason: str) -> None:
        self.index = index
        self.seq = seq
        self.reason = reason
        where = f"seq {seq}" if seq is not None else f"event #{index}"
        super().__init__(f"{where}: {reason}")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def verify_bytes(raw: bytes) -> dict[str, Any]:
    """Checks one stored event on its own: canonical bytes and a hash that matches them."""
    try:
        obj = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise EncodingError(f"not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise EncodingError("an event is a JSON object")
    version = obj.get("encoding")
    if not isinstance(version, int) or version not in ENCODERS:
        raise EncodingError(f"unknown encoding {version!r}")
    try:
        canonical = encode(obj, version)
    except ValueError as exc:  # e.g. 1e999 parses to inf, which no canonical encoder writes
        raise EncodingError(f"not encodable: {exc}") from None
    if canonical != raw:
        raise EncodingError("stored bytes are not in canonical form")
    if compute_hash(obj, version) != obj.get("hash"):
        raise EncodingError("hash does not match the stored bytes")
    return obj


def verify_chain(events: Iterable[tuple[int | None, bytes]]) -> int:
    """Verifies one aggregate's events in stored order; returns how many were checked.

    Each item is (stream sequence or None, stored bytes). Raises ChainBreak at the first event
    whose bytes, hash or link to its predecessor does not hold.
    """
    prev: str | None = None
    count = 0
    for index, (seq, raw) in enumerate(events):
        try:
            obj = verify_bytes(raw)
        except EncodingError as exc:
            raise ChainBreak(index, seq, str(exc)) from None
        if obj.get("prev_hash") != prev:
            raise ChainBreak(index, seq, "prev_hash does not link to the previous event")
        prev = obj["hash"]
        count += 1
    return count
