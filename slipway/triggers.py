"""`slipway trigger`: publish a deploy trigger on NATS (as an external system would) and wait for
the gateway's result on `triggers.results.<trigger_id>`, or in KV `trigger-results`."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Protocol

import nats
from nats.aio.client import Client as NATS
from nats.errors import Error as NatsError
from nats.js.errors import KeyNotFoundError, NoStreamResponseError, NotFoundError

from libs.events.subjects import KV_TRIGGER_RESULTS, TRIGGERS_DEPLOY, trigger_result_subject
from libs.triggers import DeployTrigger, TriggerResult
from slipway.client import CliError


async def _quiet(_: Exception) -> None:
    return None  # nats-py prints every failed attempt with a traceback by default


async def connect_once(url: str, name: str) -> NATS:
    """Connects or fails within seconds (nats-py's 0 means retry forever)."""
    return await nats.connect(
        url,
        name=name,
        connect_timeout=3,
        allow_reconnect=False,
        max_reconnect_attempts=1,
        reconnect_time_wait=0.1,
        error_cb=_quiet,
    )


class TriggerBus(Protocol):
    """Where triggers go and their results come back from."""

    async def publish_and_wait(self, trigger: DeployTrigger, timeout_s: float) -> TriggerResult:
        """Publish once (the trigger id is the Nats-Msg-Id) and return the gateway's result."""
        ...


class NatsTriggerBus:
    def __init__(self, url: str, *, poll_s: float = 0.5) -> None:
        self.url = url
        self.poll_s = poll_s

    async def _connect(self) -> NATS:
        try:
            return await connect_once(self.url, "slipway-cli")
        except (OSError, TimeoutError, NatsError):
            raise CliError(
                f"cannot reach NATS at {self.url} — is `slipway up` running? "
                "(set SLIPWAY_NATS_URL or --nats for another server)"
            ) from None

    async def publish_and_wait(self, trigger: DeployTrigger, timeout_s: float) -> TriggerResult:
        nc = await self._connect()
        try:
            return await self._exchange(nc, trigger, timeout_s)
        finally:
            with contextlib.suppress(Exception):
                await nc.close()

    async def _exchange(self, nc: NATS, trigger: DeployTrigger, timeout_s: float) -> TriggerResult:
        tid = trigger.trigger_id
        # Subscribed before publishing, so an answer that comes at once is not missed.
        sub = await nc.subscribe(trigger_result_subject(tid))
        js = nc.jetstream()
        try:
            await js.publish(
                TRIGGERS_DEPLOY,
                trigger.model_dump_json(exclude_none=True).encode(),
                headers={"Nats-Msg-Id": tid},
                timeout=5,
            )
        except NoStreamResponseError:
            raise CliError(
                f"no stream takes {TRIGGERS_DEPLOY} on {self.url}: Slipway's streams are not set "
                "up there (`slipway up` or the compose bootstrap creates them)"
            ) from None
        except (TimeoutError, NatsError) as exc:
            raise CliError(f"NATS at {self.url} did not take the trigger: {exc}") from None
        kv = None
        with contextlib.suppress(NatsError, TimeoutError, NotFoundError):
            kv = await js.key_value(KV_TRIGGER_RESULTS)
        deadline = time.monotonic() + timeout_s
        while True:
            # A repeated trigger id is dropped as a duplicate and answered only by the stored
            # result, so the KV is read as well as the subject.
            if kv is not None:
                with contextlib.suppress(KeyNotFoundError, NotFoundError, TimeoutError, NatsError):
                    entry = await kv.get(tid)
                    if entry.value:
                        return TriggerResult.model_validate_json(entry.value)
            left = deadline - time.monotonic()
            if left <= 0:
                raise CliError(
                    f"no result for trigger {tid} within {timeout_s:g}s — is the gateway "
                    "running? (`slipway deployments list` shows it if it was taken later)"
                )
            with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
                msg = await sub.next_msg(timeout=min(self.poll_s, left))
                return TriggerResult.model_validate_json(msg.data)
