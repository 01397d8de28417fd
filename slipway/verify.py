"""`slipway audit verify`: check an export of the event log (JSON lines of `GET /api/events`).

`libs.audit.verify_export` does it when that module is installed. Otherwise this module's own
check runs: each aggregate's hash chain on the stored bytes (the line's `raw`, base64) with
`libs.events.encoding.verify_chain`, and, for a complete export, that sequences run 1, 2, 3, …
(deletes are denied, so a gap means tampering). Either way the first broken link is named.
"""

from __future__ import annotations

import base64
import binascii
import importlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from libs.events.encoding import ChainBreak, EncodingError, encode, verify_bytes, verify_chain


@dataclass
class Outcome:
    ok: bool
    summary: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Stored:
    line: int
    seq: int
    raw: bytes
    key: tuple[str, str]


def verify_lines(
    lines: Iterable[str | bytes], *, complete: bool, last_seq: int | None = None
) -> Outcome:
    audit = _libs_audit()
    if audit is not None:
        report = audit.verify_export(lines, complete=complete, last_seq=last_seq)
        return Outcome(bool(report.ok), str(report.summary()), dict(report.to_dict()))
    return verify_fallback(lines, complete=complete, last_seq=last_seq)


def _libs_audit() -> Any:
    try:
        return importlib.import_module("libs.audit")
    except ImportError:
        return None


def _stored_bytes(obj: dict[str, Any]) -> bytes:
    raw = obj.get("raw")
    if isinstance(raw, str):
        try:
            return base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise EncodingError("raw is not base64") from None
    # A line that is the stored event itself (an export without `raw`).
    body = {k: v for k, v in obj.items() if k not in ("seq", "subject", "stored_at")}
    return encode(body, int(body.get("encoding", 1)))


def verify_fallback(
    lines: Iterable[str | bytes], *, complete: bool, last_seq: int | None = None
) -> Outcome:
    breaks: list[tuple[int, str]] = []  # (seq or line for ordering, message)
    chains: dict[tuple[str, str], list[_Stored]] = {}
    top = 0
    count = 0
    for lineno, text in enumerate(lines, 1):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
            seq = obj["seq"]
            if not isinstance(seq, int) or isinstance(seq, bool):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            breaks.append((top + 1, f"line {lineno}: not an exported event (JSON with a seq)"))
            continue
        count += 1
        expected = top + 1
        if seq <= top:
            breaks.append((seq, f"seq {seq}: out of order (after seq {top})"))
        elif complete and seq != expected:
            breaks.append((expected, f"seq {expected}: missing (seq {seq} follows seq {top})"))
        top = max(top, seq)
        try:
            raw = _stored_bytes(obj)
            stored = json.loads(raw)
            key = (str(stored.get("aggregate")), str(stored.get("aggregate_id")))
        except (EncodingError, ValueError, AttributeError) as exc:
            breaks.append((seq, f"seq {seq}: {exc}"))
            continue
        chains.setdefault(key, []).append(_Stored(lineno, seq, raw, key))
    if last_seq is not None and top < last_seq:
        breaks.append((top + 1, f"seq {top + 1}: missing at the end (the log ends at {last_seq})"))
    for (kind, aid), events in chains.items():
        problem = _check_chain(events, anchored=complete)
        if problem is not None:
            seq, reason = problem
            breaks.append((seq, f"seq {seq} ({kind} {aid}): {reason}"))
    if breaks:
        first = min(breaks)[1]
        more = f" (+{len(breaks) - 1} more)" if len(breaks) > 1 else ""
        return Outcome(False, f"verification FAILED at {first}{more}", {"breaks": breaks})
    span = f"seq {min((e.seq for c in chains.values() for e in c), default=0)}..{top}"
    summary = f"verified {count} events of {len(chains)} aggregates ({span})"
    return Outcome(True, summary, {"events": count, "aggregates": len(chains)})


def _check_chain(events: list[_Stored], *, anchored: bool) -> tuple[int, str] | None:
    """The first break of one aggregate's chain; unanchored: its first `prev_hash` is trusted."""
    if anchored:
        try:
            verify_chain((e.seq, e.raw) for e in events)
        except ChainBreak as exc:
            return (exc.seq or 0), exc.reason
        return None
    prev: str | None = None
    for index, event in enumerate(events):
        try:
            obj = verify_bytes(event.raw)
        except EncodingError as exc:
            return event.seq, str(exc)
        if index > 0 and obj.get("prev_hash") != prev:
            return event.seq, "prev_hash does not link to the previous event"
        prev = obj.get("hash")
    return None
