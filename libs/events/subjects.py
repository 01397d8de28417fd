"""Every NATS subject, stream, bucket and object-name prefix Slipway uses; nowhere else."""

from __future__ import annotations

from enum import StrEnum

EVENTS_STREAM = "SLIPWAY_EVENTS"
LOGS_STREAM = "SLIPWAY_LOGS"
TRIGGERS_STREAM = "SLIPWAY_TRIGGERS"

OBJECT_STORE = "artifacts"
KV_SECRETS = "secrets"
KV_LEASES = "leases"
KV_LOCKS = "locks"
KV_CRONS = "crons"
KV_TRIGGER_RESULTS = "trigger-results"

# The projector's durable consumer on EVENTS_STREAM and its single-runner key in KV_LOCKS.
PROJECTOR_CONSUMER = "projector"
PROJECTOR_LOCK = "projector"

EVENTS_ALL = "events.>"
LOGS_ALL = "logs.>"
TRIGGERS_DEPLOY = "triggers.deploy"
TRIGGER_RESULTS_ALL = "triggers.results.>"


class Aggregate(StrEnum):
    """The three aggregates whose events make up the log."""

    DEPLOYMENT = "deployment"
    ENVIRONMENT = "environment"
    PROJECT = "project"


def _token(value: str) -> str:
    # What nats-server refuses in a token (wildcards, separators, white space, NUL), plus `*`
    # and `>` anywhere, so no id can ever widen a filter.
    if not value or any(c in value for c in ".*> \t\r\n\f\x00"):
        raise ValueError(f"not a valid subject token: {value!r}")
    return value


def event_subject(aggregate: Aggregate, aggregate_id: str, event_type: str) -> str:
    return f"events.{aggregate.value}.{_token(aggregate_id)}.{_token(event_type)}"


def aggregate_filter(aggregate: Aggregate, aggregate_id: str) -> str:
    """Matches every event of one aggregate (for loads and the version-check subject)."""
    return f"events.{aggregate.value}.{_token(aggregate_id)}.*"


def aggregate_kind_filter(aggregate: Aggregate) -> str:
    return f"events.{aggregate.value}.*.*"


def events_of_type(event_type: str, aggregate: Aggregate | None = None) -> str:
    kind = aggregate.value if aggregate else "*"
    return f"events.{kind}.*.{_token(event_type)}"


def aggregate_live(aggregate: Aggregate, aggregate_id: str) -> str:
    """Core-NATS subscription subject that sees an aggregate's events as they are stored."""
    return aggregate_filter(aggregate, aggregate_id)


def parse_event_subject(subject: str) -> tuple[Aggregate, str, str]:
    parts = subject.split(".")
    if len(parts) != 4 or parts[0] != "events":
        raise ValueError(f"not an event subject: {subject!r}")
    return Aggregate(parts[1]), _token(parts[2]), _token(parts[3])


def job_log_subject(deployment_id: str, job_id: str) -> str:
    return f"logs.{_token(deployment_id)}.{_token(job_id)}"


def deployment_logs_filter(deployment_id: str) -> str:
    return f"logs.{_token(deployment_id)}.*"


def environment_log_subject(environment_id: str) -> str:
    return f"logs.env.{_token(environment_id)}"


def trigger_result_subject(trigger_id: str) -> str:
    return f"triggers.results.{_token(trigger_id)}"


def secret_key(project: str, environment: str, name: str) -> str:
    return f"{_token(project)}.{_token(environment)}.{_token(name)}"


def lease_key(deployment_id: str, job_id: str) -> str:
    return f"{_token(deployment_id)}.{_token(job_id)}"


CRON_RUNNER_LOCK = "cron-runner"  # KV `locks`: the one active cron runner


def cron_key(environment_id: str, deployment_id: str, index: int) -> str:
    """KV `crons`: the `index`-th cron a deployment registered in an environment."""
    if index < 0:
        raise ValueError(f"cron index must be >= 0, got {index}")
    return f"{_token(environment_id)}.{_token(deployment_id)}.{index}"


def cron_filter(environment_id: str | None = None, deployment_id: str | None = None) -> str:
    """KV `crons` key filter: every cron, an environment's, or one deployment's in it."""
    if environment_id is None:
        return ">"
    if deployment_id is None:
        return f"{_token(environment_id)}.>"
    return f"{_token(environment_id)}.{_token(deployment_id)}.*"


def environment_id(project: str, environment: str) -> str:
    """The aggregate id of an environment: both DNS labels joined by `_` (never in a label)."""
    return f"{_token(project)}_{_token(environment)}"


class ObjectPrefix(StrEnum):
    SOURCES = "sources"
    UPLOADS = "uploads"
    BUNDLES = "bundles"
    SCREENSHOTS = "screenshots"
    SOURCEMAPS = "sourcemaps"
    SBOMS = "sboms"
    STATIC = "static"


def object_name(prefix: ObjectPrefix, *parts: str) -> str:
    return "/".join([prefix.value, *parts])
