"""The trigger subject (§2): `triggers.deploy` messages become deployments, validated exactly like
the HTTP manual trigger and image deploy; every message gets a `TriggerResult`.

A message we cannot use (bad JSON, unknown project, ...) is acked with a refusal: it never blocks
the work queue. Only an error of ours (NATS unreachable) leaves it for redelivery (nak + delay).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from faststream.middlewares import AckPolicy
from faststream.nats import JStream, NatsBroker, PullSub
from faststream.nats.annotations import NatsMessage
from nats.aio.client import Client as NATS
from nats.js.api import ConsumerConfig
from nats.js.kv import KeyValue
from pydantic import ValidationError

from libs.events.subjects import (
    KV_TRIGGER_RESULTS,
    TRIGGERS_DEPLOY,
    TRIGGERS_STREAM,
    trigger_result_subject,
)
from libs.events.values import DeploymentType, TriggerInfo
from libs.triggers import TRIGGER_ID_RE, DeployTrigger, TriggerResult
from services.gateway.deployments import Deployments, NewDeployment, Origin
from services.gateway.directory import Directory
from services.gateway.intake import git_source, image_source, resolve_target, snapshot
from services.gateway.names import deployment_id_for_key
from services.gateway.problems import problem_for

log = logging.getLogger("slipway.gateway.triggers")

CONSUMER = "gateway-triggers"


class Triggers:
    """Domain: one raw trigger message in, one result out."""

    def __init__(self, directory: Directory, deployments: Deployments) -> None:
        self.directory = directory
        self.deployments = deployments

    async def handle(self, raw: bytes, fallback_id: str) -> TriggerResult:
        try:
            payload = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return refused(fallback_id, 400, f"the message is not valid JSON: {exc}")
        trigger_id = fallback_id
        if isinstance(payload, dict):
            given = payload.get("trigger_id")
            if isinstance(given, str) and TRIGGER_ID_RE.match(given):
                trigger_id = given
        try:
            trigger = DeployTrigger.model_validate(payload)
        except ValidationError as exc:
            first = exc.errors(include_url=False, include_input=False)[0]
            where = ".".join(str(p) for p in first["loc"]) or "message"
            return refused(trigger_id, 422, f"{where}: {first['msg']}")
        try:
            return await self._deploy(trigger)
        except Exception as exc:
            problem = problem_for(exc)
            if problem is None:
                raise
            return refused(trigger.trigger_id, problem.status, problem.detail)

    async def _deploy(self, trigger: DeployTrigger) -> TriggerResult:
        if trigger.image_ref is not None and (trigger.branch or trigger.commit):
            return refused(trigger.trigger_id, 422, "give image_ref or branch/commit, not both")
        target = await resolve_target(self.directory, trigger.project, trigger.environment)
        if trigger.image_ref is not None:
            source = image_source(trigger.image_ref, trigger.pull)
            kind = DeploymentType.IMAGE
        else:
            source = git_source(target, trigger.branch, trigger.commit)
            kind = DeploymentType.MANUAL
        dep_id = deployment_id_for_key(
            trigger.project, trigger.environment, "trigger", trigger.trigger_id
        )
        origin = Origin(
            actor=f"trigger:{trigger.trigger_id}",
            request_id=trigger.trigger_id,
            trigger=TriggerInfo(
                kind="trigger", request_id=trigger.trigger_id, actor=trigger.requested_by
            ),
        )
        new = NewDeployment(
            deployment_id=dep_id,
            project=trigger.project,
            environment=trigger.environment,
            kind=kind,
            source=source,
            config=snapshot(target.config),
        )
        outcome = await self.deployments.request(new, origin)
        return TriggerResult(
            trigger_id=trigger.trigger_id,
            accepted=True,
            deployment_id=dep_id,
            seq=outcome.seq,
            created=outcome.created,
            status=outcome.status,
            at=datetime.now(UTC),
        )


def refused(trigger_id: str, status: int, reason: str) -> TriggerResult:
    return TriggerResult(
        trigger_id=trigger_id, accepted=False, status=status, reason=reason, at=datetime.now(UTC)
    )


class TriggerConsumer:
    """The subscriber: FastStream pull consumer on the work queue, explicit acks only."""

    def __init__(
        self,
        nats_url: str,
        nc: NATS,
        triggers: Triggers,
        *,
        ack_wait_s: float = 30.0,
        nak_delay_s: float = 1.0,
    ) -> None:
        self.nc = nc
        self.triggers = triggers
        self.nak_delay_s = nak_delay_s
        self.broker = NatsBroker(nats_url, logger=log)
        self._results: KeyValue | None = None
        self.broker.subscriber(
            TRIGGERS_DEPLOY,
            stream=JStream(TRIGGERS_STREAM, declare=False),
            durable=CONSUMER,
            config=ConsumerConfig(ack_wait=ack_wait_s, max_deliver=-1),
            # A long fetch: nats-py raises the builtin TimeoutError when a short deadline runs out
            # on a busy loop, which FastStream does not expect (it logs and restarts the task).
            pull_sub=PullSub(batch_size=16, timeout=5.0),
            # FastStream's default terminates a message whose handler raised: work would be lost.
            ack_policy=AckPolicy.MANUAL,
            title="triggers.deploy",
            description="Deploy triggers (libs.triggers.DeployTrigger) -> TriggerResult.",
        )(self._on_message)

    async def start(self) -> None:
        self._results = await self.nc.jetstream().key_value(KV_TRIGGER_RESULTS)
        await self.broker.start()

    async def stop(self) -> None:
        await self.broker.stop()

    async def _on_message(self, message: NatsMessage) -> None:
        raw = message.raw_message
        try:
            result = await self.triggers.handle(raw.data, _fallback_id(raw.headers, raw))
            await self._publish(result)
        except Exception:
            log.exception("trigger message could not be handled; it will be redelivered")
            await message.nack(delay=self.nak_delay_s)
            return
        await message.ack()

    async def _publish(self, result: TriggerResult) -> None:
        assert self._results is not None
        data = result.model_dump_json().encode()
        await self._results.put(result.trigger_id, data)
        await self.nc.publish(trigger_result_subject(result.trigger_id), data)
        log.info(
            "trigger %s: %s",
            result.trigger_id,
            f"deployment {result.deployment_id}" if result.accepted else result.reason,
        )


def _fallback_id(headers: dict[str, str] | None, raw: object) -> str:
    """A result key for a message whose own trigger id is unusable: its Nats-Msg-Id or seq."""
    msg_id = (headers or {}).get("Nats-Msg-Id")
    if msg_id and TRIGGER_ID_RE.match(msg_id):
        return msg_id
    metadata = getattr(raw, "metadata", None)
    seq = metadata.sequence.stream if metadata is not None else 0
    return f"seq-{seq}"
