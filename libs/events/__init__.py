"""Slipway's contracts: events, the canonical encoding, plans, the fold and the command rules.

Pure: no I/O, and nothing else of the project is imported here.
"""

from libs.events.catalog import *  # noqa: F403
from libs.events.catalog import ALL_EVENTS
from libs.events.envelope import Envelope, EventData, make_event_id, new_event
from libs.events.fold import Recorded, evolve, fold, fold_deployment, fold_environment
from libs.events.registry import EVENT_TYPES, decode, envelope_from_dict
from libs.events.states import (
    DeploymentState,
    DeploymentStatus,
    EnvironmentState,
    JobState,
    JobStatus,
    ProjectState,
)
from libs.events.subjects import Aggregate
from libs.events.values import (
    AdmissionPolicy,
    ConfigSnapshot,
    ContainerInfo,
    CronSpec,
    DeploymentType,
    JobSpec,
    JobType,
    Preset,
    Source,
    TriggerInfo,
)

__all__ = [
    "ALL_EVENTS",
    "EVENT_TYPES",
    "AdmissionPolicy",
    "Aggregate",
    "ConfigSnapshot",
    "ContainerInfo",
    "CronSpec",
    "DeploymentState",
    "DeploymentStatus",
    "DeploymentType",
    "Envelope",
    "EnvironmentState",
    "EventData",
    "JobSpec",
    "JobState",
    "JobStatus",
    "JobType",
    "Preset",
    "ProjectState",
    "Recorded",
    "Source",
    "TriggerInfo",
    "decode",
    "envelope_from_dict",
    "evolve",
    "fold",
    "fold_deployment",
    "fold_environment",
    "make_event_id",
    "new_event",
]
