"""ConfigureCronsJob (§4, §7): a deployment's `[[crons]]` become schedules in KV `crons`.

Ownership: every record names the deployment that registered it and that deployment's admission
number in the environment. A newer deployment's registration replaces the older ones of its
environment; a deployment that stops, is cancelled or fails removes only its own. Should two
registrations race, the runner fires only the newest admission's records (`split_active`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from libs.events.outputs import ArtifactOutput, DownloadRepoOutput
from libs.events.states import DeploymentState, EnvironmentState
from libs.events.subjects import cron_filter, cron_key, environment_id
from libs.events.values import CronSpec, DeploymentType, JobType
from services.postdeploy.cron_schedule import CronClock, CronRecord, new_record
from services.postdeploy.ports import CronConflict, CronStore, StoredCron

log = logging.getLogger("slipway.postdeploy.crons")


class Superseded(Exception):
    """A deployment admitted later owns the environment's crons."""

    def __init__(self, newer: str) -> None:
        super().__init__(f"superseded by {newer}: its crons are the environment's")
        self.newer = newer


class CronsUnreadable(ValueError):
    """The slipway.toml output of DownloadRepoJob does not validate (should never happen)."""


def crons_of(state: DeploymentState) -> tuple[CronSpec, ...]:
    """The crons a deployment declares: a rollback reuses its target's (config snapshot), any
    other deployment those of the slipway.toml that DownloadRepoJob parsed."""
    if state.deployment_type is DeploymentType.ROLLBACK:
        return tuple(state.config.crons)
    out = state.output_of(JobType.DOWNLOAD_REPO)
    if out is None:
        return tuple(state.config.crons)
    try:
        downloaded = DownloadRepoOutput.model_validate(out)
    except ValueError as exc:
        raise CronsUnreadable(f"DownloadRepoJob output: {exc}") from None
    if downloaded.slipway_toml is None:
        return ()
    return tuple(CronSpec.model_validate(c.model_dump()) for c in downloaded.slipway_toml.crons)


def admission_number(env: EnvironmentState, deployment_id: str) -> int:
    admission = env.admission_of(deployment_id)
    return admission.number if admission is not None else 0


def newer_route_owner(env: EnvironmentState, deployment_id: str, number: int) -> str | None:
    """A deployment admitted after this one that the environment routes to, if any."""
    route = env.route
    if route is None or route.deployment_id in (None, deployment_id):
        return None
    if (route.admission_number or 0) > number:
        return route.deployment_id
    return None


@dataclass(frozen=True)
class Registration:
    registered: tuple[CronRecord, ...]
    replaced: tuple[str, ...]  # keys of older deployments' records removed


async def register(
    store: CronStore,
    *,
    project: str,
    environment: str,
    deployment_id: str,
    admission: int,
    specs: Sequence[CronSpec],
    now: float,
    clock: CronClock,
    attempts: int = 5,
) -> Registration:
    """Makes the deployment's crons the environment's; idempotent (a retried attempt keeps the
    runs already fired). Raises Superseded when a newer admission registered first."""
    env_id = environment_id(project, environment)
    for _ in range(attempts):
        existing = await store.entries(cron_filter(env_id))
        newer = [
            e.record
            for e in existing
            if e.record.deployment_id != deployment_id and e.record.admission > admission
        ]
        if newer:
            raise Superseded(newer[0].deployment_id)
        mine = {e.record.key: e for e in existing if e.record.deployment_id == deployment_id}
        try:
            records = [
                await _put(store, mine, env_id, project, environment, deployment_id, admission,
                           i, spec, now, clock)
                for i, spec in enumerate(specs)
            ]  # fmt: skip
        except CronConflict:
            continue  # a concurrent attempt wrote meanwhile: look again
        wanted = {r.key for r in records}
        for key, entry in mine.items():
            if key not in wanted:
                await _delete_quietly(store, key, entry.revision)
        replaced = []
        for entry in existing:
            if entry.record.deployment_id != deployment_id:
                await _delete_quietly(store, entry.record.key, entry.revision)
                replaced.append(entry.record.key)
        return Registration(tuple(records), tuple(replaced))
    raise CronConflict(f"crons of {env_id} kept changing; gave up after {attempts} attempts")


async def _put(
    store: CronStore,
    mine: dict[str, StoredCron],
    env_id: str,
    project: str,
    environment: str,
    deployment_id: str,
    admission: int,
    index: int,
    spec: CronSpec,
    now: float,
    clock: CronClock,
) -> CronRecord:
    key = cron_key(env_id, deployment_id, index)
    current = mine.get(key)
    if current is not None and current.record.spec == spec:
        return current.record
    record = new_record(
        key,
        project=project,
        environment=environment,
        environment_id=env_id,
        deployment_id=deployment_id,
        admission=admission,
        index=index,
        spec=spec,
        now=now,
        clock=clock,
    )
    if current is None:
        await store.create(record)
    else:
        await store.update(record, last=current.revision)
    return record


async def _delete_quietly(store: CronStore, key: str, revision: int) -> None:
    try:
        await store.delete(key, last=revision)
    except CronConflict:
        # Changed meanwhile (a run was just recorded): delete whatever is there now.
        await store.delete(key)


async def remove_deployment(store: CronStore, project: str, environment: str, dep: str) -> int:
    """Removes the crons this deployment registered, never anybody else's; returns how many."""
    entries = await store.entries(cron_filter(environment_id(project, environment), dep))
    for entry in entries:
        await store.delete(entry.record.key)
    return len(entries)


def split_active(entries: Sequence[StoredCron]) -> tuple[list[StoredCron], list[StoredCron]]:
    """(active, stale): per environment only the newest admission's records are active."""
    newest: dict[str, tuple[int, str]] = {}
    for e in entries:
        r = e.record
        rank = (r.admission, r.deployment_id)
        if r.environment_id not in newest or rank > newest[r.environment_id]:
            newest[r.environment_id] = rank
    active: list[StoredCron] = []
    stale: list[StoredCron] = []
    for e in entries:
        r = e.record
        is_newest = newest[r.environment_id] == (r.admission, r.deployment_id)
        (active if is_newest else stale).append(e)
    return active, stale


def registration_output(reg: Registration, specs: Sequence[CronSpec]) -> ArtifactOutput:
    crons = [
        {"key": r.key, "schedule": r.schedule, "path": r.path, "method": r.method,
         "timezone": r.timezone}
        for r in reg.registered
    ]  # fmt: skip
    n = len(specs)
    summary = f"{n} cron{'s' if n != 1 else ''} registered" if n else "no crons declared"
    if reg.replaced:
        summary += f"; {len(reg.replaced)} of an older deployment removed"
    return ArtifactOutput(
        summary=summary,
        details={"registered": n, "replaced": len(reg.replaced), "crons": crons},
    )
