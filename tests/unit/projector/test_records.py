"""The §10 deployment record built from a fold (pure)."""

from __future__ import annotations

import uuid

from libs.events import DeploymentType, JobType, fold_deployment
from libs.events import catalog as ev
from libs.events.plans import build_tail
from libs.events.values import ContainerInfo, Preset
from services.projector.records import (
    artifacts_of,
    deployment_record,
    deployment_url,
    environment_url,
    iso,
    parse_iso,
)
from tests.unit.projector.support import T0, FakeLog, image_run, requested

RECORD_KEYS = [
    "id",
    "type",
    "status",
    "project",
    "environment",
    "source",
    "jobs",
    "image",
    "containers",
    "url",
    "deployment_url",
    "trigger",
    "created_at",
    "started_at",
    "finished_at",
    "cancelled_reason",
    "seq",
]
JOB_KEYS = [
    "id",
    "name",
    "status",
    "order",
    "depends_on",
    "attempt",
    "started_at",
    "finished_at",
    "error",
]


def _git_deployment() -> tuple[FakeLog, str]:
    log, did = FakeLog(), str(uuid.uuid4())
    log.deployment(did, requested(did, commit=None))
    log.deployment(did, ev.DeploymentAdmitted(deployment_id=did))
    log.deployment(
        did,
        ev.JobStarted(job_id="download", job_type=JobType.DOWNLOAD_REPO, attempt=1, executor="h"),
    )
    log.deployment(
        did,
        ev.JobSucceeded(
            job_id="download",
            attempt=1,
            output={
                "commit_sha": "c0ffee" * 6 + "beef",
                "commit_message": "Add cart",
                "source_object": "sources/x.tar.gz",
            },
        ),
    )
    return log, did


def test_record_has_exactly_the_wire_fields_in_order() -> None:
    log, did = _git_deployment()
    record = deployment_record(fold_deployment(log.events, did))
    assert list(record) == RECORD_KEYS
    assert list(record["source"]) == [
        "repo_url",
        "branch",
        "commit_sha",
        "commit_message",
        "image_ref",
        "bundle",
    ]
    assert all(list(job) == JOB_KEYS for job in record["jobs"])


def test_commit_resolved_by_the_download_fills_the_source() -> None:
    log, did = _git_deployment()
    record = deployment_record(fold_deployment(log.events, did))
    assert record["source"]["commit_sha"] == "c0ffee" * 6 + "beef"
    assert record["source"]["commit_message"] == "Add cart"
    assert record["status"] == "running"
    assert record["jobs"][0] == {
        "id": "download",
        "name": "DownloadRepoJob",
        "status": "success",
        "order": 0,
        "depends_on": [],
        "attempt": 1,
        "started_at": iso(log.events[2].envelope.occurred_at),
        "finished_at": iso(log.events[3].envelope.occurred_at),
        "error": None,
    }
    assert record["seq"] == 4 and record["trigger"] == {
        "kind": "api",
        "request_id": did,
        "actor": None,
    }


def test_build_tail_extends_the_jobs_in_plan_order() -> None:
    log, did = _git_deployment()
    log.deployment(
        did, ev.JobStarted(job_id="build", job_type=JobType.BUILD_IMAGE, attempt=1, executor="h")
    )
    log.deployment(
        did,
        ev.JobSucceeded(
            job_id="build",
            attempt=1,
            output={"image_id": "sha256:abc"},
            next_jobs=build_tail(Preset.CONTAINER),
        ),
    )
    record = deployment_record(fold_deployment(log.events, did))
    assert [j["id"] for j in record["jobs"]] == [
        "download",
        "build",
        "deploy",
        "health",
        "route",
        "complete",
        "crons",
        "screenshot",
        "scan",
        "sourcemaps",
    ]
    assert [j["order"] for j in record["jobs"]] == list(range(10))
    assert record["jobs"][2]["depends_on"] == ["build"]
    assert record["image"] == "sha256:abc"


def test_a_failed_job_cancels_every_unfinished_job_and_gives_the_reason() -> None:
    log, did = _git_deployment()
    log.deployment(
        did, ev.JobStarted(job_id="build", job_type=JobType.BUILD_IMAGE, attempt=1, executor="h")
    )
    log.deployment(did, ev.JobFailed(job_id="build", attempt=1, error="npm ci: exit 1"))
    record = deployment_record(fold_deployment(log.events, did))
    assert record["status"] == "failed"
    assert [j["status"] for j in record["jobs"]] == ["success", "failure"]
    assert record["jobs"][1]["error"] == "npm ci: exit 1"
    assert record["cancelled_reason"] == "BuildImageJob failed: npm ci: exit 1"
    assert record["finished_at"] == iso(log.events[-1].envelope.occurred_at)


def test_completed_deployment_finished_when_mark_complete_succeeded() -> None:
    log, did = FakeLog(), str(uuid.uuid4())
    log.deployment(did, requested(did, kind=DeploymentType.IMAGE))
    image_run(log, did)
    log.deployment(
        did,
        ev.JobStarted(
            job_id="screenshot", job_type=JobType.TAKE_SCREENSHOT, attempt=1, executor="h"
        ),
    )
    record = deployment_record(fold_deployment(log.events, did))
    assert record["status"] == "completed"
    assert record["finished_at"] == iso(log.events[-2].envelope.occurred_at)
    assert record["source"]["image_ref"] == "nginx:1"
    assert record["image"] == "sha256:img"
    assert record["started_at"] == iso(log.events[2].envelope.occurred_at)


def test_skipped_job_shows_its_reason_and_containers_follow_their_events() -> None:
    log, did = FakeLog(), str(uuid.uuid4())
    log.deployment(did, requested(did, kind=DeploymentType.IMAGE))
    image_run(log, did)
    log.deployment(did, ev.JobSkipped(job_id="screenshot", reason="no chromium"))
    one = ContainerInfo(id="c1", name="app-1", host="127.0.0.1", port=30001)
    two = ContainerInfo(id="c2", name="app-2", host="127.0.0.1", port=30002, replica=1)
    log.deployment(did, ev.ContainersStarted(job_id="deploy", attempt=1, containers=(one, two)))
    log.deployment(did, ev.ContainersRemoved(container_ids=("c1",), reason="teardown"))
    record = deployment_record(fold_deployment(log.events, did))
    screenshot = next(j for j in record["jobs"] if j["id"] == "screenshot")
    assert (screenshot["status"], screenshot["error"]) == ("skipped", "no chromium")
    assert record["containers"] == [
        {"id": "c2", "name": "app-2", "host": "127.0.0.1", "port": 30002, "replica": 1}
    ]


def test_urls_use_environment_and_short_id_hosts_with_the_edge_port() -> None:
    did = "0123456789abcdef"
    assert environment_url("shop", "staging", "example.test", 8080) == (
        "http://staging.shop.example.test:8080"
    )
    assert deployment_url("shop", did, "example.test", 9000) == (
        "http://d-01234567.shop.example.test:9000"
    )
    assert deployment_url("shop", did, "example.test", 80) == "http://d-01234567.shop.example.test"
    log = FakeLog()
    log.deployment(did, requested(did, environment="staging"))
    record = deployment_record(fold_deployment(log.events, did), "apps.test", edge_port=None)
    assert record["url"] == "http://staging.shop.apps.test"
    assert record["deployment_url"] == "http://d-01234567.shop.apps.test"


def test_seq_defaults_to_the_last_folded_sequence_and_can_be_given() -> None:
    log, did = _git_deployment()
    state = fold_deployment(log.events, did)
    assert deployment_record(state)["seq"] == 4
    assert deployment_record(state, "localhost", 99)["seq"] == 99


def test_artifacts_come_from_inputs_and_successful_job_outputs() -> None:
    log, did = _git_deployment()
    log.deployment(
        did, ev.JobStarted(job_id="build", job_type=JobType.BUILD_IMAGE, attempt=1, executor="h")
    )
    log.deployment(
        did,
        ev.JobSucceeded(
            job_id="build",
            attempt=1,
            output={"static_object": "static/x.tar"},
            next_jobs=build_tail(Preset.STATIC),
        ),
    )
    for job_id, job_type in (("screenshot", JobType.TAKE_SCREENSHOT),):
        log.deployment(
            did, ev.JobStarted(job_id=job_id, job_type=job_type, attempt=1, executor="h")
        )
        log.deployment(
            did,
            ev.JobSucceeded(job_id=job_id, attempt=1, output={"objects": ["screenshots/x.png"]}),
        )
    assert artifacts_of(fold_deployment(log.events, did)) == [
        {"name": "sources/x.tar.gz", "kind": "source", "job_id": "download"},
        {"name": "static/x.tar", "kind": "static", "job_id": "build"},
        {"name": "screenshots/x.png", "kind": "screenshot", "job_id": "screenshot"},
    ]


def test_timestamps_are_utc_with_microseconds_and_round_trip() -> None:
    stamp = iso(T0)
    assert stamp == "2030-01-01T00:00:00.000000Z"
    assert parse_iso(stamp) == T0
    assert iso(None) is None and parse_iso(None) is None
