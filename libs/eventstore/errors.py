"""Typed errors of the event store."""

from __future__ import annotations


class EventStoreError(Exception):
    pass


class VersionConflict(EventStoreError):
    """The aggregate moved on since it was loaded (JetStream err 10071)."""

    def __init__(self, subject_filter: str, expected: int, detail: str = "") -> None:
        self.subject_filter = subject_filter
        self.expected = expected
        super().__init__(f"version conflict on {subject_filter}: expected {expected} ({detail})")


class DuplicateBatch(EventStoreError):
    """An atomic batch whose ids are already stored (err 10201): counts as duplicate."""


class StreamMisconfigured(EventStoreError):
    """An existing stream or bucket is weaker than Slipway requires; it is never changed."""


class AppendRejected(EventStoreError):
    """The server refused an append for another reason (limits, permissions, ...)."""

    def __init__(self, code: int | None, description: str) -> None:
        self.code = code
        super().__init__(f"append rejected ({code}): {description}")


class StaleRead(EventStoreError):
    """A load did not reach the sequence the caller needs (lagging replica)."""
