"""The JetStream event store every service uses (§2)."""

from libs.eventstore.aggregates import FreshStates, Loaded, Repository, TooManyConflicts
from libs.eventstore.bootstrap import BootstrapOptions, bootstrap
from libs.eventstore.errors import (
    AppendRejected,
    DuplicateBatch,
    EventStoreError,
    StaleRead,
    StreamMisconfigured,
    VersionConflict,
)
from libs.eventstore.replay import StoredMessage
from libs.eventstore.store import (
    Appended,
    JetStreamEventStore,
    PendingAppend,
    recorded_from_delivery,
    stored_from_delivery,
)

__all__ = [
    "AppendRejected",
    "Appended",
    "BootstrapOptions",
    "DuplicateBatch",
    "EventStoreError",
    "FreshStates",
    "JetStreamEventStore",
    "Loaded",
    "PendingAppend",
    "Repository",
    "StaleRead",
    "StoredMessage",
    "StreamMisconfigured",
    "TooManyConflicts",
    "VersionConflict",
    "bootstrap",
    "recorded_from_delivery",
    "stored_from_delivery",
]
