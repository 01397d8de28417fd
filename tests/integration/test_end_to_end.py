"""Slipway started the way `slipway up` starts it (real NATS, PostgreSQL, Docker, Caddy), driven
by signed GitHub webhooks for a local git repository: deploy, redeploy with no error seen by a
client, roll back, survive a failing health check, and account for everything in the log."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.names import unique
from tests.support.slipway_up import (
    Poller,
    Repo,
    Slipway,
    create_project,
    push,
    served,
    start_slipway,
    wait_status,
)


@pytest.fixture
def slipway(tmp_path: Path, postgres_database: str, python_base_image: str) -> Iterator[Slipway]:
    with start_slipway(tmp_path, python_base_image, postgres_database) as running:
        yield running


def test_push_deploy_redeploy_rollback_and_a_failed_health_check_end_to_end(
    slipway: Slipway, tmp_path: Path, python_base_image: str
) -> None:
    s = slipway
    project = unique("e2e")
    host = f"production.{project}.localhost"
    repo = Repo(tmp_path / "repo", python_base_image)
    create_project(s, project, repo)

    # 1. A signed push deploys the commit and Caddy serves it.
    first_sha = repo.commit("v1")
    (first,) = push(s, project, repo, first_sha)
    record = wait_status(s, first["id"], {"completed", "failed"})
    assert record["status"] == "completed", record
    assert record["source"]["commit_sha"] == first_sha
    assert served(s, host) == (200, "v1")

    # 2. A second push switches with no error for a client polling all the time.
    poller = Poller(f"http://127.0.0.1:{s.edge}/", host)
    thread = threading.Thread(target=poller.run, daemon=True)
    thread.start()
    try:
        (second,) = push(s, project, repo, repo.commit("v2"))
        assert wait_status(s, second["id"], {"completed", "failed"})["status"] == "completed"
        assert served(s, host) == (200, "v2")
        # 3. A rollback serves the old content again, also without an error.
        r = httpx.post(
            f"{s.gateway}/api/deployments/{first['id']}/rollback",
            headers=s.headers(),
            json={},
            timeout=30,
        )
        assert r.status_code == 202, r.text
        rollback = r.json()
        assert wait_status(s, rollback["id"], {"completed", "failed"})["status"] == "completed"
        assert served(s, host) == (200, "v1")
    finally:
        poller.stop.set()
        thread.join(10)
    assert not poller.failures, poller.failures[:10]
    assert {"v1", "v2"} <= set(poller.bodies)

    # 4. A push whose app fails its health check fails; the previous version keeps serving.
    (broken,) = push(s, project, repo, repo.commit("broken", status=500))
    failed = wait_status(s, broken["id"], {"completed", "failed"})
    assert failed["status"] == "failed", failed
    health = next(j for j in failed["jobs"] if j["name"] == "HealthCheckJob")
    assert health["status"] == "failure" and health["error"]
    assert served(s, host) == (200, "v1")

    # 5. The whole story through the query API, the CLI and the audit commands.
    r = httpx.get(
        f"{s.api}/api/deployments", params={"project": project}, headers=s.headers(), timeout=10
    )
    statuses = {d["id"]: d["status"] for d in r.json()["items"]}
    assert statuses[broken["id"]] == "failed"
    assert statuses[rollback["id"]] == "completed"
    assert statuses[first["id"]] in {"stopped", "completed"}
    listed = s.cli("deployments", "list", "--project", project, "--json")
    assert listed.returncode == 0, listed.stderr
    assert {d["id"] for d in json.loads(listed.stdout)["items"]} == set(statuses)
    shown = s.cli("events", "show", first["id"])
    assert shown.returncode == 0, shown.stderr
    assert "DeploymentRequested" in shown.stdout and "TrafficSwitched" not in shown.stderr
    verified = s.cli("audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
