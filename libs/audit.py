"""Export and verification of the event log (§3, §8): the pure checks and their I/O helpers.

An export is JSON lines, one stored event per line, in stream order:

    {"seq", "subject", "stored_at", "event_id", "type", "aggregate", "aggregate_id",
     "occurred_at", "hash", "prev_hash", "data", "raw"}

`raw` is the exact stored bytes, base64: verification works on them, never on a re-encoding. The
other fields are copies from the stored event for people and `jq`; verification checks that they
agree with `raw`, so an edit anywhere but `stored_at` (the server's stamp, outside the hash) is
found. `verify_export` checks every aggregate's hash chain on the stored bytes and, for a complete
export, that the sequences are exactly 1, 2, 3, … (deletes are denied: a gap means tampering).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx

from libs.events.encoding import EncodingError, verify_bytes
from libs.events.subjects import EVENTS_ALL, Aggregate, aggregate_filter, aggregate_kind_filter
from libs.eventstore.replay import StoredMessage

# Fields copied from the stored event into a line (and checked against it).
COPIED = (
    "event_id", "type", "aggregate", "aggregate_id", "occurred_at", "hash", "prev_hash", "data",
)  # fmt: skip


class InvalidExportFilter(ValueError):
    """A filter of /api/events that cannot be used (maps to 400)."""


class RawEventSource(Protocol):
    def read_raw(
        self, subject_filter: str, *, from_seq: int = 1, start_time: datetime | None = None
    ) -> AsyncIterator[StoredMessage]: ...


def _time(value: datetime | str | None, name: str) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InvalidExportFilter(f"{name} is not an ISO 8601 time: {value!r}") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class ExportFilter:
    """Which events to export: one aggregate kind or instance, a server-time window, a seq."""

    aggregate: Aggregate | None = None
    aggregate_id: str | None = None
    since: datetime | None = None  # server time, inclusive
    until: datetime | None = None  # server time, exclusive
    after_seq: int = 0

    @classmethod
    def parse(
        cls,
        aggregate: str | None = None,
        aggregate_id: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        after_seq: int | str | None = None,
    ) -> ExportFilter:
        kind = None
        if aggregate:
            try:
                kind = Aggregate(aggregate)
            except ValueError:
                names = ", ".join(a.value for a in Aggregate)
                raise InvalidExportFilter(
                    f"unknown aggregate {aggregate!r} (one of {names})"
                ) from None
        if aggregate_id and kind is None:
            raise InvalidExportFilter("id needs aggregate (deployment, environment or project)")
        if aggregate_id is not None and aggregate_id != "":
            try:
                aggregate_filter(Aggregate.DEPLOYMENT, aggregate_id)
            except ValueError:
                raise InvalidExportFilter(f"invalid aggregate id {aggregate_id!r}") from None
        try:
            after = int(after_seq or 0)
        except ValueError:
            raise InvalidExportFilter(f"after_seq must be a number, got {after_seq!r}") from None
        if after < 0:
            raise InvalidExportFilter(f"after_seq must be 0 or more, got {after}")
        start, end = _time(since, "since"), _time(until, "until")
        if start is not None and end is not None and end <= start:
            raise InvalidExportFilter("until must be after since")
        return cls(kind, aggregate_id or None, start, end, after)

    @property
    def subject(self) -> str:
        if self.aggregate is None:
            return EVENTS_ALL
        if self.aggregate_id is None:
            return aggregate_kind_filter(self.aggregate)
        return aggregate_filter(self.aggregate, self.aggregate_id)

    @property
    def complete(self) -> bool:
        """The whole log: its sequences must be 1, 2, 3, … and every chain starts from nothing."""
        return self == ExportFilter()


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def export_record(msg: StoredMessage) -> dict[str, Any]:
    """One line of an export (as a dict): copies of the stored fields and the exact bytes."""
    try:
        stored = json.loads(msg.raw)
    except (ValueError, UnicodeDecodeError):
        stored = None
    if not isinstance(stored, dict):
        stored = {}
    line: dict[str, Any] = {
        "seq": msg.seq,
        "subject": msg.subject,
        "stored_at": _iso(msg.stored_at),
    }
    line.update({k: stored.get(k) for k in COPIED})
    line["raw"] = base64.b64encode(msg.raw).decode("ascii")
    return line


async def export_lines(
    source: RawEventSource, flt: ExportFilter | None = None
) -> AsyncIterator[str]:
    """The export of `flt` as JSON lines (each ending in a newline), in stream order."""
    flt = flt or ExportFilter()
    async for msg in source.read_raw(flt.subject, from_seq=flt.after_seq + 1, start_time=flt.since):
        if msg.seq <= flt.after_seq:
            continue
        if flt.until is not None and msg.stored_at >= flt.until:
            return
        yield json.dumps(export_record(msg), ensure_ascii=False, separators=(",", ":")) + "\n"


# ---------------------------------------------------------------- verification


@dataclass(frozen=True)
class Break:
    """One place where the export stops verifying."""

    line: int
    seq: int | None
    reason: str
    aggregate: str | None = None
    aggregate_id: str | None = None

    def __str__(self) -> str:
        where = f"seq {self.seq}" if self.seq is not None else f"line {self.line}"
        of = f" ({self.aggregate} {self.aggregate_id})" if self.aggregate_id else ""
        return f"{where}{of}: {self.reason}"


@dataclass
class VerifyReport:
    events: int = 0
    aggregates: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    complete: bool = True
    breaks: list[Break] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.breaks

    @property
    def first_break(self) -> Break | None:
        """The earliest break in stream order (a gap is named by the first missing sequence)."""
        if not self.breaks:
            return None
        return min(self.breaks, key=lambda b: (b.seq if b.seq is not None else -1, b.line))

    def summary(self) -> str:
        if self.ok:
            span = f"seq {self.first_seq}..{self.last_seq}" if self.events else "no events"
            return f"verified {self.events} events of {self.aggregates} aggregates ({span})"
        more = f" (+{len(self.breaks) - 1} more)" if len(self.breaks) > 1 else ""
        return f"verification FAILED at {self.first_break}{more}"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ok"] = self.ok
        first = self.first_break
        out["first_break"] = asdict(first) if first else None
        return out


def _stored(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """The stored event and why it does not verify on its own (None: it does)."""
    try:
        return verify_bytes(raw), None
    except EncodingError as exc:
        try:
            obj = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return None, str(exc)
        return (obj if isinstance(obj, dict) else None), str(exc)


class _Verifier:
    def __init__(self, complete: bool, last_seq: int | None) -> None:
        self.report = VerifyReport(complete=complete)
        self.expected_last = last_seq
        self.max_seq: int | None = None
        self.chains: dict[tuple[str, str], str | None] = {}

    def add(self, lineno: int, seq: int | None, reason: str, stored: dict[str, Any]) -> None:
        agg, aid = stored.get("aggregate"), stored.get("aggregate_id")
        self.report.breaks.append(
            Break(lineno, seq, reason, agg if isinstance(agg, str) else None,
                  aid if isinstance(aid, str) else None)
        )  # fmt: skip

    def order(self, lineno: int, seq: int) -> None:
        top = self.max_seq
        if top is None:
            if self.report.complete and seq != 1:
                self.add(
                    lineno, 1, f"sequences 1..{seq - 1} are missing (the log starts at {seq})", {}
                )
        elif seq <= top:
            self.add(lineno, seq, f"out of order: seq {seq} comes after seq {top}", {})
        elif self.report.complete and seq != top + 1:
            missing = f"{top + 1}" if seq == top + 2 else f"{top + 1}..{seq - 1}"
            self.add(
                lineno, top + 1, f"sequence {missing} missing: seq {seq} follows seq {top}", {}
            )
        self.max_seq = seq if top is None else max(top, seq)

    def line(self, lineno: int, text: str | bytes) -> None:
        try:
            obj = json.loads(text)
        except (ValueError, UnicodeDecodeError):
            self.add(lineno, None, "not a JSON line", {})
            return
        seq = obj.get("seq") if isinstance(obj, dict) else None
        if not isinstance(seq, int) or isinstance(seq, bool):
            self.add(lineno, None, "no integer seq", {})
            return
        self.report.events += 1
        self.report.first_seq = seq if self.report.first_seq is None else self.report.first_seq
        self.report.last_seq = seq
        self.order(lineno, seq)
        try:
            raw = base64.b64decode(obj.get("raw") or "", validate=True)
        except (binascii.Error, ValueError, TypeError):
            self.add(lineno, seq, "raw is not base64", {})
            return
        stored, bad = _stored(raw)
        if stored is None:
            self.add(lineno, seq, bad or "unreadable stored bytes", {})
            return
        key = (str(stored.get("aggregate")), str(stored.get("aggregate_id")))
        if bad is not None:
            self.add(lineno, seq, bad, stored)
        disagree = [k for k in COPIED if k in obj and obj[k] != stored.get(k)]
        if disagree:
            self.add(
                lineno, seq, f"{', '.join(disagree)} disagree(s) with the stored bytes", stored
            )
        if key in self.chains or self.report.complete:
            prev = self.chains.get(key)
            if stored.get("prev_hash") != prev:
                reason = "prev_hash does not link to the aggregate's previous event"
                self.add(lineno, seq, reason, stored)
        # Go on from the hash the event claims, so one tampered event is one break.
        self.chains[key] = stored.get("hash")

    def finish(self) -> VerifyReport:
        self.report.aggregates = len(self.chains)
        top, want = self.max_seq or 0, self.expected_last
        if want is not None and top < want:
            missing = f"{top + 1}" if want == top + 1 else f"{top + 1}..{want}"
            self.add(
                0, top + 1, f"sequence {missing} missing at the end (the log ends at {want})", {}
            )
        return self.report


def verify_export(
    lines: Iterable[str | bytes], *, complete: bool = True, last_seq: int | None = None
) -> VerifyReport:
    """Verifies an export (its JSON lines, in order) and reports every break, first one first.

    `complete`: the export is the whole log (sequences 1..n, chains from their first event).
    A partial export (a filter) takes each aggregate's first exported `prev_hash` as its anchor.
    `last_seq`: the stream's last sequence when known, so a cut-off end is found too.
    """
    verifier = _Verifier(complete, last_seq)
    for lineno, text in enumerate(lines, 1):
        if text.strip():
            verifier.line(lineno, text)
    return verifier.finish()


# ---------------------------------------------------------------- through the query API


def _params(flt: ExportFilter) -> dict[str, str]:
    params: dict[str, str] = {}
    if flt.aggregate is not None:
        params["aggregate"] = flt.aggregate.value
    if flt.aggregate_id is not None:
        params["id"] = flt.aggregate_id
    if flt.since is not None:
        params["since"] = _iso(flt.since)
    if flt.until is not None:
        params["until"] = _iso(flt.until)
    if flt.after_seq:
        params["after_seq"] = str(flt.after_seq)
    return params


async def fetch_export(
    client: httpx.AsyncClient, flt: ExportFilter | None = None
) -> AsyncIterator[str]:
    """The export lines of `GET /api/events` (`client` carries the base URL and the token)."""
    async with client.stream("GET", "/api/events", params=_params(flt or ExportFilter())) as resp:
        if resp.status_code != 200:
            await resp.aread()
            raise ExportFailed(resp.status_code, resp.text)
        async for line in resp.aiter_lines():
            if line.strip():
                yield line


class ExportFailed(RuntimeError):
    def __init__(self, status: int, body: str) -> None:
        self.status = status
        try:
            detail = json.loads(body).get("detail") or body
        except ValueError:
            detail = body
        super().__init__(f"the query API answered {status}: {detail}")


async def verify_via_api(
    client: httpx.AsyncClient, flt: ExportFilter | None = None
) -> VerifyReport:
    """`slipway audit verify`: export through the query API and verify what came back.

    For a complete export, the stream's last sequence is read from `/healthz` first, so an export
    that stops short of it is reported as missing its end.
    """
    flt = flt or ExportFilter()
    last_seq = None
    if flt.complete:
        health = await client.get("/healthz")
        if health.status_code == 200:
            last_seq = health.json().get("projector", {}).get("stream_last_seq")
    lines = [line async for line in fetch_export(client, flt)]
    return verify_export(lines, complete=flt.complete, last_seq=last_seq)
