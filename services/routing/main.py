"""The routing service: RouteTrafficJob and MarkDeploymentCompleteJob executors, the Caddy
reconciler and the pause/stop consumer, in one process. `python -m services.routing.main`."""

from __future__ import annotations

import asyncio
import logging
import signal

import nats
from nats.aio.client import Client as NATS

from libs.events.values import JobType
from libs.eventstore import JetStreamEventStore, Repository
from libs.jobs import Executor
from libs.settings import Settings
from libs.telemetry import setup_tracing
from services.routing.adapters.caddy_proxy import CaddyAdminProxy
from services.routing.claims import RouteClaims
from services.routing.handlers import RoutingHandlers
from services.routing.lifecycle import LifecycleConsumer, MaintenanceSwitch
from services.routing.reconciler import CaddyReconciler

log = logging.getLogger("slipway.routing")


async def connect(settings: Settings) -> NATS:
    url = settings.nats_url or f"nats://127.0.0.1:{settings.nats_port}"
    setup_tracing("slipway-routing")
    return await nats.connect(url, name="slipway-routing", max_reconnect_attempts=-1)


async def run(settings: Settings, stop: asyncio.Event, ready: asyncio.Event | None = None) -> None:
    nc = await connect(settings)
    store = JetStreamEventStore(nc)
    repo = Repository(store)
    proxy = CaddyAdminProxy(
        settings.caddy_admin,
        f":{settings.edge_port}",
        routes_dir=settings.route_files_dir,
    )
    reconciler = CaddyReconciler(
        store,
        proxy,
        base_domain=settings.base_domain,
        check_interval_s=settings.caddy_check_interval_s,
    )
    claims = RouteClaims(repo)
    maintenance = MaintenanceSwitch(repo, claims)
    lifecycle = LifecycleConsumer(nc, maintenance, settings)
    handlers = RoutingHandlers(claims, maintenance, reconciler, settings)
    executor = Executor(
        nc,
        {
            JobType.ROUTE_TRAFFIC: handlers.route_traffic,
            JobType.MARK_DEPLOYMENT_COMPLETE: handlers.mark_complete,
        },
        settings=settings,
    )
    try:
        await reconciler.start()
        await lifecycle.start()
        await executor.start()
        log.info(
            "routing ready: Caddy admin %s, edge :%d, route files %s",
            settings.caddy_admin,
            settings.edge_port,
            settings.route_files_dir,
        )
        print("routing ready", flush=True)
        if ready is not None:
            ready.set()
        await stop.wait()
    finally:
        await executor.stop()
        await lifecycle.stop()
        await reconciler.stop()
        await proxy.aclose()
        await nc.close()


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per probe is noise
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await run(Settings(), stop)


if __name__ == "__main__":
    asyncio.run(main())
