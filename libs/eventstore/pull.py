"""Fetching batches from a durable pull consumer with one callback per message.

nats-py's `fetch` takes each message of a batch with `next_msg`, which creates a task and a
`wait_for` per message: about 25 µs of CPU each, half of what the projector spends applying an
event.
`PullBatches` asks the same way (a `no_wait` request for what is there, else one request that
lingers until `timeout`) and collects the deliveries in a subscription callback.

Deliveries that arrive after a fetch returned (the lingering request keeps filling its batch)
are kept and handed out by the next fetch, never dropped; a late status of an earlier request
(each request has its own reply subject) ends nothing. The caller decides what a delivery
means (the projector skips what is at or below its checkpoint and fills gaps from the store).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import Error as NatsError

# Pull statuses: 100 idle heartbeat, 404 no messages (no_wait), 408 request expired, 409 the
# request was refused (consumer deleted, leadership change, max waiting / max bytes exceeded).
_HEARTBEAT = "100"
_ENDS_REQUEST = {"404", "408"}


class PullRefused(NatsError):
    """The server ended a pull request with an error status (409 and the like): the consumer is
    gone or changed, or too many requests wait."""


class PullBatches:
    """Batches from the pull consumer `consumer` of `stream` (it must exist)."""

    def __init__(self, nc: NATS, stream: str, consumer: str) -> None:
        self.nc = nc
        self.subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self.inbox = nc.new_inbox()
        self._sub: Any = None
        self._got: list[Msg] = []
        self._ended = asyncio.Event()  # a status ended a request, or a batch is full
        self._want = 0
        self._refused: str | None = None
        self._request_no = 0  # each request has its own reply subject, `<inbox>.<n>`

    async def start(self) -> PullBatches:
        self._sub = await self.nc.subscribe(f"{self.inbox}.*", cb=self._on_msg)
        return self

    async def stop(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None

    @property
    def _reply(self) -> str:
        return f"{self.inbox}.{self._request_no}"

    async def _on_msg(self, msg: Msg) -> None:
        headers = msg.headers
        status = headers.get("Status") if headers and not msg.data else None
        if status is None:
            self._got.append(msg)
            if len(self._got) >= self._want:
                self._ended.set()
            return
        if status == _HEARTBEAT or msg.subject != self._reply:
            return  # a late status of an earlier request (its expiry, say) ends nothing now
        if status not in _ENDS_REQUEST:
            self._refused = f"{status} {headers.get('Description', '') if headers else ''}".strip()
        self._ended.set()

    async def fetch(self, batch: int, timeout: float) -> list[Msg]:
        """Up to `batch` deliveries: what is there at once, else the first that come within
        `timeout` (then [] when none did). Raises PullRefused on an error status."""
        if self._sub is None:
            await self.start()
        self._want = batch
        if len(self._got) < batch:
            await self._request({"batch": batch - len(self._got), "no_wait": True}, timeout)
            if not self._got and self._refused is None:
                expires = int(timeout * 1_000_000_000)
                await self._request({"batch": batch, "expires": expires}, timeout, first=True)
        if self._refused is not None:
            why, self._refused = self._refused, None
            raise PullRefused(f"pull request refused: {why}")
        out, self._got = self._got[:batch], self._got[batch:]
        return out

    async def _request(
        self, request: dict[str, Any], timeout: float, *, first: bool = False
    ) -> None:
        """Sends one pull request; returns once it ended (a status, a full batch, or — with
        `first` — the first delivery), or after `timeout`."""
        self._ended.clear()
        if first:
            self._want = 1
        self._request_no += 1
        await self.nc.publish(self.subject, json.dumps(request).encode(), reply=self._reply)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._ended.wait()
