from __future__ import annotations

import asyncio
import json
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NATS

from libs.events import subjects as s
from libs.eventstore import BootstrapOptions, StreamMisconfigured, bootstrap
from libs.eventstore.bootstrap import events_stream_config
from libs.infra import EmbeddedNats


async def _config(nc: NATS, stream: str) -> dict[str, Any]:
    resp = await nc.request(f"$JS.API.STREAM.INFO.{stream}", b"", timeout=5)
    cfg: dict[str, Any] = json.loads(resp.data)["config"]
    return cfg


async def _everything(nc: NATS) -> dict[str, dict[str, Any]]:
    resp = await nc.request("$JS.API.STREAM.LIST", b"{}", timeout=5)
    return {i["config"]["name"]: i["config"] for i in json.loads(resp.data)["streams"]}


async def _create_events_stream(nc: NATS, **overrides: Any) -> dict[str, Any]:
    cfg = {**events_stream_config(BootstrapOptions()), **overrides}
    resp = await nc.request(f"$JS.API.STREAM.CREATE.{s.EVENTS_STREAM}", json.dumps(cfg).encode())
    assert "error" not in json.loads(resp.data)
    return await _config(nc, s.EVENTS_STREAM)


async def test_bootstrap_run_twice_creates_everything_once_and_changes_nothing(
    fresh_server: EmbeddedNats,
) -> None:
    nc = await nats.connect(fresh_server.url)
    try:
        await bootstrap(nc)
        first = await _everything(nc)
        await bootstrap(nc)
        assert await _everything(nc) == first
        events = first[s.EVENTS_STREAM]
        assert (events["discard"], events["deny_delete"], events["deny_purge"]) == (
            "new",
            True,
            True,
        )
        assert events["allow_direct"] and events["allow_atomic"]
        assert not events.get("allow_rollup_hdrs", False)
        assert {
            s.EVENTS_STREAM,
            s.LOGS_STREAM,
            s.TRIGGERS_STREAM,
            f"OBJ_{s.OBJECT_STORE}",
            f"KV_{s.KV_SECRETS}",
            f"KV_{s.KV_LEASES}",
            f"KV_{s.KV_LOCKS}",
            f"KV_{s.KV_CRONS}",
            f"KV_{s.KV_TRIGGER_RESULTS}",
        } <= set(first)
    finally:
        await nc.close()


async def test_bootstrap_from_two_connections_at_once_both_succeed(
    fresh_server: EmbeddedNats,
) -> None:
    one, two = await nats.connect(fresh_server.url), await nats.connect(fresh_server.url)
    try:
        await asyncio.gather(bootstrap(one), bootstrap(two))
        assert (await _config(one, s.EVENTS_STREAM))["discard"] == "new"
        await asyncio.gather(bootstrap(one), bootstrap(two))
    finally:
        await one.close()
        await two.close()


@pytest.mark.parametrize(
    ("weakening", "setting"),
    [({"discard": "old"}, "discard"), ({"deny_delete": False}, "deny_delete")],
    ids=["discard-old", "delete-allowed"],
)
async def test_bootstrap_refuses_a_weaker_existing_event_stream_and_leaves_it_unchanged(
    fresh_server: EmbeddedNats, weakening: dict[str, Any], setting: str
) -> None:
    nc = await nats.connect(fresh_server.url)
    try:
        before = await _create_events_stream(nc, **weakening)
        with pytest.raises(StreamMisconfigured, match=setting) as err:
            await bootstrap(nc)
        assert s.EVENTS_STREAM in str(err.value)
        assert await _config(nc, s.EVENTS_STREAM) == before
    finally:
        await nc.close()
