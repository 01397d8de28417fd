"""Projects, environments and variables are events; values live only in the secrets KV."""

from __future__ import annotations

import httpx
from nats.aio.client import Client as NATS

from libs.events import catalog as ev
from libs.events.subjects import Aggregate, environment_id
from libs.eventstore import JetStreamEventStore
from libs.secrets import CRON_SECRET, PROJECT_SCOPE, WEBHOOK_SECRET, SecretStore
from tests.integration.gateway.helpers import (
    assert_problem,
    create_project,
    events_of,
    last_seq,
)
from tests.support.names import unique


async def test_creating_a_project_registers_it_and_configures_its_environments(
    client: httpx.AsyncClient, store: JetStreamEventStore, secret_store: SecretStore
) -> None:
    name = unique("proj")
    record = await create_project(
        client,
        name,
        [{"name": "production", "branch": "main"}, {"name": "staging", "branch": "dev"}],
        secret="hook-secret",
    )
    assert record["name"] == name
    assert record["webhook_secret_set"] is True
    assert [e["name"] for e in record["environments"]] == ["production", "staging"]
    production = record["environments"][0]
    assert production["auto_deploy"] is True
    assert production["policy"] == "supersede"
    assert production["variables"] == [CRON_SECRET]
    assert production["url"] == f"http://production.{name}.localhost:8080"

    (registered,) = await events_of(store, Aggregate.PROJECT, name)
    data = registered.envelope.data
    assert isinstance(data, ev.ProjectRegistered)
    assert data.webhook_secret_revision is not None
    assert b"hook-secret" not in registered.raw
    stored = await secret_store.get(
        name, PROJECT_SCOPE, WEBHOOK_SECRET, data.webhook_secret_revision
    )
    assert stored == "hook-secret"
    (configured,) = await events_of(store, Aggregate.ENVIRONMENT, environment_id(name, "staging"))
    assert isinstance(configured.envelope.data, ev.EnvironmentConfigured)
    assert configured.envelope.data.branch == "dev"
    assert record["seq"] == configured.seq


async def test_a_repeated_create_with_the_same_idempotency_key_answers_200_and_appends_nothing(
    client: httpx.AsyncClient, nc: NATS
) -> None:
    name = unique("proj")
    body = {"name": name, "environments": [{"name": "production", "branch": "main"}]}
    headers = {"Idempotency-Key": unique("key")}
    first = await client.post("/api/projects", json=body, headers=headers)
    assert first.status_code == 201
    before = await last_seq(nc)
    again = await client.post("/api/projects", json=body, headers=headers)
    assert again.status_code == 200, again.text
    assert again.json()["name"] == name
    assert await last_seq(nc) == before
    other = await client.post("/api/projects", json=body)
    assert_problem(other, 409)
    assert await last_seq(nc) == before


async def test_environment_settings_are_replaced_and_variables_kept(
    client: httpx.AsyncClient,
) -> None:
    name = unique("proj")
    await create_project(client, name, [{"name": "production", "branch": "main"}])
    path = f"/api/projects/{name}/environments/production"
    resp = await client.put(path + "/variables", json={"variables": {"API_KEY": "k-1"}})
    assert resp.status_code == 200, resp.text
    resp = await client.put(path, json={"branch": "release", "replicas": 2, "port": 8080})
    assert resp.status_code == 200, resp.text
    env = resp.json()
    assert (env["branch"], env["replicas"], env["port"]) == ("release", 2, 8080)
    assert env["variables"] == ["API_KEY", CRON_SECRET]


async def test_a_new_environment_gets_its_own_cron_secret(
    client: httpx.AsyncClient, store: JetStreamEventStore, secret_store: SecretStore
) -> None:
    name = unique("proj")
    await create_project(client, name, [])
    resp = await client.put(f"/api/projects/{name}/environments/preview", json={"branch": "dev"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["variables"] == [CRON_SECRET]
    (rec,) = await events_of(store, Aggregate.ENVIRONMENT, environment_id(name, "preview"))
    assert isinstance(rec.envelope.data, ev.EnvironmentConfigured)
    revision = rec.envelope.data.variables[CRON_SECRET]
    assert len(await secret_store.get(name, "preview", CRON_SECRET, revision)) >= 32


async def test_put_replaces_variables_and_patch_merges_with_null_removing(
    client: httpx.AsyncClient, store: JetStreamEventStore, secret_store: SecretStore
) -> None:
    name = unique("proj")
    await create_project(client, name, [{"name": "production", "branch": "main"}])
    path = f"/api/projects/{name}/environments/production/variables"
    resp = await client.put(path, json={"variables": {"A": "1", "B": "2"}})
    assert resp.json()["variables"] == ["A", "B", CRON_SECRET]
    resp = await client.patch(path, json={"variables": {"B": None, "C": "3"}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["variables"] == ["A", "C", CRON_SECRET]
    resp = await client.put(path, json={"variables": {"D": "value-of-d-42"}})
    assert resp.json()["variables"] == [CRON_SECRET, "D"]
    assert "value-of-d-42" not in resp.text
    events = await events_of(store, Aggregate.ENVIRONMENT, environment_id(name, "production"))
    last = events[-1].envelope.data
    assert isinstance(last, ev.EnvironmentConfigured)
    assert await secret_store.get(name, "production", "D", last.variables["D"]) == "value-of-d-42"
    # An earlier snapshot still reads its own value.
    first_put = events[1].envelope.data
    assert isinstance(first_put, ev.EnvironmentConfigured)
    assert await secret_store.get(name, "production", "B", first_put.variables["B"]) == "2"


async def test_invalid_names_and_reserved_variables_are_refused_before_anything_is_stored(
    client: httpx.AsyncClient, nc: NATS
) -> None:
    name = unique("proj")
    await create_project(client, name, [{"name": "production", "branch": "main"}])
    before = await last_seq(nc)
    cases = [
        client.post("/api/projects", json={"name": "Bad_Name"}),
        client.post("/api/projects", json={"name": unique("p"), "environments": [{"name": "d-x"}]}),
        client.post("/api/projects", json={"name": unique("p"), "repo_url": "ftp://x/y"}),
        client.post("/api/projects", json={"name": unique("p"), "webhook_secret": "whsec_!!"}),
        client.put(
            f"/api/projects/{name}/environments/production/variables",
            json={"variables": {"CRON_SECRET": "x"}},
        ),
        client.put(
            f"/api/projects/{name}/environments/production/variables",
            json={"variables": {"1BAD": "x"}},
        ),
        client.put(
            f"/api/projects/{name}/environments/production/variables",
            json={"variables": {"SLIPWAY_DEPLOYMENT_ID": "x"}},
        ),
        client.put(f"/api/projects/{name}/environments/production", json={"replicas": 0}),
    ]
    for call in cases:
        assert_problem(await call, 422)
    assert_problem(await client.put(f"/api/projects/{unique('nope')}/environments/x", json={}), 404)
    assert_problem(
        await client.put(
            f"/api/projects/{name}/environments/nope/variables", json={"variables": {"A": "1"}}
        ),
        404,
    )
    assert await last_seq(nc) == before
