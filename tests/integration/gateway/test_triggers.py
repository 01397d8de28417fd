"""The trigger subject: valid triggers deploy, bad ones are refused with a result, never stuck."""

from __future__ import annotations

import asyncio

import httpx
from nats.aio.client import Client as NATS

from libs.events import catalog as ev
from libs.events.subjects import (
    KV_TRIGGER_RESULTS,
    TRIGGERS_DEPLOY,
    TRIGGERS_STREAM,
    Aggregate,
    trigger_result_subject,
)
from libs.eventstore import JetStreamEventStore
from libs.triggers import DeployTrigger, TriggerResult
from services.gateway.main import Gateway
from services.gateway.triggers import CONSUMER
from tests.integration.gateway.helpers import create_project, events_of
from tests.support.names import unique


async def publish_and_wait(
    nc: NATS, result_id: str, data: bytes, headers: dict[str, str] | None = None
) -> TriggerResult:
    sub = await nc.subscribe(trigger_result_subject(result_id))
    try:
        await nc.jetstream().publish(TRIGGERS_DEPLOY, data, headers=headers)
        msg = await sub.next_msg(timeout=15)
    finally:
        await sub.unsubscribe()
    return TriggerResult.model_validate_json(msg.data)


async def test_a_valid_trigger_creates_a_deployment_and_publishes_the_result(
    gateway: Gateway, client: httpx.AsyncClient, nc: NATS, store: JetStreamEventStore
) -> None:
    await gateway.start()
    name = unique("trg")
    await create_project(client, name, [{"name": "production", "branch": "main"}])
    trigger = DeployTrigger(
        trigger_id=unique("t"),
        project=name,
        environment="production",
        commit="b" * 40,
        requested_by="ci",
    )
    result = await publish_and_wait(nc, trigger.trigger_id, trigger.model_dump_json().encode())
    assert result.accepted and result.created and result.status == 202
    assert result.deployment_id is not None
    (rec,) = await events_of(store, Aggregate.DEPLOYMENT, result.deployment_id)
    data = rec.envelope.data
    assert isinstance(data, ev.DeploymentRequested)
    assert (data.source.commit_sha, data.source.branch) == ("b" * 40, "main")
    assert (data.trigger.kind, data.trigger.request_id, data.trigger.actor) == (
        "trigger",
        trigger.trigger_id,
        "ci",
    )
    assert result.seq == rec.seq
    kv = await nc.jetstream().key_value(KV_TRIGGER_RESULTS)
    stored = TriggerResult.model_validate_json((await kv.get(trigger.trigger_id)).value or b"")
    assert stored.deployment_id == result.deployment_id

    # The same trigger again names the same deployment and appends nothing.
    again = await publish_and_wait(nc, trigger.trigger_id, trigger.model_dump_json().encode())
    assert (again.deployment_id, again.created, again.status) == (result.deployment_id, False, 200)


async def test_bad_triggers_are_refused_with_a_result_and_the_consumer_keeps_working(
    gateway: Gateway, client: httpx.AsyncClient, nc: NATS
) -> None:
    await gateway.start()
    name = unique("trg")
    await create_project(client, name, [{"name": "production", "branch": "main"}])

    msg_id = unique("badjson")
    bad_json = await publish_and_wait(nc, msg_id, b"{not json", {"Nats-Msg-Id": msg_id})
    assert (bad_json.accepted, bad_json.status) == (False, 400)
    assert bad_json.reason and "JSON" in bad_json.reason

    unknown = DeployTrigger(trigger_id=unique("t"), project=unique("nope"), environment="x")
    refused = await publish_and_wait(nc, unknown.trigger_id, unknown.model_dump_json().encode())
    assert (refused.accepted, refused.status) == (False, 404)

    invalid_id = unique("t")
    invalid = await publish_and_wait(
        nc,
        invalid_id,
        b'{"trigger_id": "%s", "project": "%s", "environment": "production", '
        b'"image_ref": "Bad Ref"}' % (invalid_id.encode(), name.encode()),
    )
    assert (invalid.accepted, invalid.status) == (False, 422)

    both_id = unique("t")
    both = await publish_and_wait(
        nc,
        both_id,
        DeployTrigger(
            trigger_id=both_id,
            project=name,
            environment="production",
            image_ref="nginx",
            branch="main",
        )
        .model_dump_json()
        .encode(),
    )
    assert (both.accepted, both.status) == (False, 422)

    good = DeployTrigger(
        trigger_id=unique("t"), project=name, environment="production", image_ref="nginx:1.27"
    )
    accepted = await publish_and_wait(nc, good.trigger_id, good.model_dump_json().encode())
    assert accepted.accepted and accepted.status == 202

    js = nc.jetstream()
    for _ in range(50):
        info = await js.consumer_info(TRIGGERS_STREAM, CONSUMER)
        if info.num_ack_pending == 0 and info.num_pending == 0:
            break
        await asyncio.sleep(0.1)
    assert (info.num_ack_pending, info.num_pending) == (0, 0)
