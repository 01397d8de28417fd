"""FleetReader on a real event store: the bulk reader for a long way behind, direct gets after."""

from __future__ import annotations

from libs.eventstore import JetStreamEventStore
from services.deploy.fleet import Fleet, FleetReader
from tests.support.histories import build_log, publish_sealed, seal_all
from tests.support.nats_conn import bootstrapped


def same(a: Fleet, b: Fleet) -> bool:
    return (a.last_seq, a.deployments, a.environments) == (
        b.last_seq,
        b.deployments,
        b.environments,
    )


async def test_bulk_and_direct_reads_fold_the_same_fleet(own_nats_url: str) -> None:
    sealed = seal_all(build_log(deployments=40, projects=3, min_events=600))
    first, rest = sealed[:-30], sealed[-30:]
    async with bootstrapped(own_nats_url, 3.0) as nc:
        store = JetStreamEventStore(nc)
        last = await publish_sealed(nc, first)
        bulk = FleetReader(store, bulk_read_after=100)  # far behind: one bulk replay
        direct = FleetReader(store, bulk_read_after=10**9)  # direct gets only
        assert (await bulk.catch_up()).last_seq == last
        assert (await direct.catch_up()).last_seq == last
        assert len(bulk.fleet.deployments) > 20 and bulk.fleet.environments
        assert same(bulk.fleet, direct.fleet)

        # A few events later (under the threshold): the rest comes by direct gets.
        total = await publish_sealed(nc, rest)
        assert total == last + len(rest)
        assert (await bulk.catch_up(total)).last_seq == total
        assert (await direct.catch_up(total)).last_seq == total
        assert same(bulk.fleet, direct.fleet)
