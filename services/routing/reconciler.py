"""The Caddy reconciler (§7): Caddy serves the desired state folded from the log, always.

It rebuilds everything from the log at start, then follows it; it applies on every change and
compares Caddy (config and route files) every `caddy_check_interval_s`, so a restarted or wiped
Caddy gets its routes back within a few seconds. RouteTrafficJob waits on `wait_confirmed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Protocol

from libs.events.fold import Recorded
from libs.events.subjects import EVENTS_ALL
from services.routing.proxy import Proxy
from services.routing.view import RoutingView

log = logging.getLogger("slipway.routing.reconciler")
CATCH_UP_S = 5.0


class EventLog(Protocol):
    """What the reconciler reads of the event store (`JetStreamEventStore` is one)."""

    async def last_seq(self) -> int: ...

    def replay(
        self, subject_filter: str = ..., *, from_seq: int = 1, until_seq: int | None = None
    ) -> AsyncIterator[list[Recorded]]: ...

    def follow(
        self, subject_filter: str = ..., *, from_seq: int = 1
    ) -> AsyncIterator[Recorded]: ...


class CaddyReconciler:
    def __init__(
        self,
        store: EventLog,
        proxy: Proxy,
        *,
        base_domain: str,
        check_interval_s: float = 1.0,
        retry_s: float = 0.2,
    ) -> None:
        self.store = store
        self.proxy = proxy
        self.view = RoutingView(base_domain)
        self.check_interval_s = check_interval_s
        self.retry_s = retry_s
        self.confirmed_seq = 0  # Caddy was confirmed to serve the log up to this sequence
        self.last_error: str | None = None
        self._applied_version = -1
        self._dirty = asyncio.Event()
        self._confirmed = asyncio.Condition()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    async def start(self) -> None:
        """Folds the whole log, then follows it and keeps Caddy in line in the background."""
        self._stopping = False
        last = await self.store.last_seq()
        # The bulk reader: a third faster than direct gets over a long log (start-up waits on it).
        async for chunk in self.store.replay(EVENTS_ALL, until_seq=last):
            for rec in chunk:
                self.view.apply(rec)
        self.view.last_seq = max(self.view.last_seq, last)
        log.info(
            "routing view rebuilt up to seq %d: %d environment and %d deployment routes",
            last,
            len(self.view.env_routes),
            len(self.view.dep_routes),
        )
        self._dirty.set()
        self._tasks = [
            asyncio.create_task(self._follow(last + 1), name="reconciler:follow"),
            asyncio.create_task(self._apply_loop(), name="reconciler:apply"),
        ]

    async def stop(self) -> None:
        # The flag ends the loops even when a client call swallows the cancel (3.11's wait_for
        # inside nats-py can), and the wait is bounded: a stop never hangs.
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
        self._tasks = []

    async def wait_confirmed(self, seq: int, timeout_s: float) -> None:
        """Returns once Caddy serves a desired state that includes stream sequence `seq`;
        raises TimeoutError (with the last proxy error in the log) otherwise."""
        async with asyncio.timeout(timeout_s), self._confirmed:
            await self._confirmed.wait_for(lambda: self.confirmed_seq >= seq)

    async def _follow(self, from_seq: int) -> None:
        while not self._stopping:
            try:
                async for rec in self.store.follow(EVENTS_ALL, from_seq=from_seq):
                    if self._stopping:
                        return
                    from_seq = rec.seq + 1
                    if self.view.apply(rec):
                        self._dirty.set()
                    elif not self._dirty.is_set() and self._applied_version == self.view.version:
                        await self._confirm(self.view.last_seq)  # nothing to change for Caddy
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # connection trouble: follow again from where we were
                log.warning("following the log failed (%s); again from seq %d", exc, from_seq)
                await asyncio.sleep(self.retry_s)

    async def _apply_loop(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.check_interval_s):  # wait_for can eat a cancel
                    await self._dirty.wait()
            self._dirty.clear()
            try:
                await self._catch_up()
                seq, version = self.view.last_seq, self.view.version
                await self.proxy.apply(self.view.desired())
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Caddy down, NATS trouble: keep trying, never give up
                why = str(exc) or type(exc).__name__
                if why != self.last_error:
                    log.warning("Caddy does not serve the routes yet: %s", why)
                self.last_error = why
                self._dirty.set()
                await asyncio.sleep(self.retry_s)
                continue
            if self.last_error is not None:
                log.info("Caddy serves the routes again (seq %d)", seq)
                self.last_error = None
            self._applied_version = version
            await self._confirm(seq)

    async def _catch_up(self) -> None:
        """Waits until the view holds every event stored before now, so a replica whose
        consumer lags never writes a state older than the one another replica wrote."""
        head = await self.store.last_seq()
        loop = asyncio.get_running_loop()
        end = loop.time() + CATCH_UP_S
        while self.view.last_seq < head:
            if loop.time() > end:
                raise TimeoutError(f"the log is at {head}, this view only at {self.view.last_seq}")
            await asyncio.sleep(0.005)

    async def _confirm(self, seq: int) -> None:
        async with self._confirmed:
            if seq > self.confirmed_seq:
                self.confirmed_seq = seq
                self._confirmed.notify_all()
