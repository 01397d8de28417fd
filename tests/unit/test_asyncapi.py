"""docs/asyncapi.json is the published event contract: generated from libs/events, never stale."""

from __future__ import annotations

import json

from libs.events import ALL_EVENTS
from slipway.asyncapi import DOCUMENT, document, render


def test_the_committed_asyncapi_document_is_current() -> None:
    assert DOCUMENT.read_text(encoding="utf-8") == render(), (
        "docs/asyncapi.json is stale: run `make asyncapi` and commit the result"
    )


def test_every_event_has_a_channel_per_aggregate_with_its_subject_and_typed_payload() -> None:
    doc = document()
    channels = doc["channels"]
    for event in ALL_EVENTS:
        for aggregate in event.AGGREGATES:
            name = event.event_type()
            channel = channels[f"{aggregate.value}.{name}"]
            assert channel["address"] == f"events.{aggregate.value}.*.{name}"
    schema = doc["components"]["schemas"]["DeploymentRequestedEvent"]
    assert schema["properties"]["data"]["$ref"] == "#/components/schemas/DeploymentRequested"
    assert schema["properties"]["type"]["const"] == "DeploymentRequested"


def test_triggers_and_logs_are_in_the_contract() -> None:
    doc = json.loads(render())
    assert doc["asyncapi"].startswith("3.")
    assert doc["channels"]["triggers.deploy"]["address"] == "triggers.deploy"
    assert doc["operations"]["triggers.deploy"]["action"] == "receive"
    assert {"DeployTrigger", "TriggerResult", "LogLine"} <= set(doc["components"]["schemas"])
