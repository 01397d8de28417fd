"""The job log line and the typed job outputs, through JSON and through a stored event."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from libs.events import catalog as ev
from libs.events import outputs
from libs.events.config import parse_slipway_toml
from libs.events.logs import LogLine
from libs.events.registry import decode
from libs.events.values import ContainerInfo, JobType
from tests.factories import dep_event
from tests.unit.events.histories import PROPERTY

J = JobType

# ---------------------------------------------------------------- LogLine

log_lines = st.builds(
    LogLine,
    ts=st.datetimes(timezones=st.just(UTC)),
    job=st.text(min_size=1, max_size=20),
    attempt=st.integers(0, 50),
    stream=st.sampled_from(["stdout", "stderr", "system"]),
    level=st.sampled_from(["debug", "info", "warning", "error"]),
    line=st.text(max_size=200),
)


@PROPERTY
@given(log_lines)
def test_log_line_round_trips_through_json(line: LogLine) -> None:
    assert LogLine.model_validate_json(line.model_dump_json()) == line


def test_log_line_defaults_to_an_info_system_line() -> None:
    line = LogLine.model_validate({"ts": "2026-01-01T00:00:00Z", "job": "build", "line": "hi"})
    assert (line.stream, line.level, line.attempt) == ("system", "info", 0)
    assert line.ts == datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "bad",
    [
        {"stream": "stdin"},
        {"level": "fatal"},
        {"ts": "yesterday"},
        {"line": None},
        {"job": None},
    ],
)
def test_log_line_refuses_a_bad_field(bad: dict[str, object]) -> None:
    base = {"ts": "2026-01-01T00:00:00Z", "job": "build", "line": "hi"}
    with pytest.raises(ValidationError):
        LogLine.model_validate({**base, **bad})


def test_log_line_is_immutable() -> None:
    line = LogLine(ts=datetime(2026, 1, 1, tzinfo=UTC), job="build", line="x")
    with pytest.raises(ValidationError):
        line.line = "y"  # type: ignore[misc]


# ---------------------------------------------------------------- typed outputs

CONTAINER = ContainerInfo(id="c1", name="app-deploy-a1-0", host="127.0.0.1", port=40000)
TOML = parse_slipway_toml('[deploy]\nport = 8080\n[[crons]]\nschedule = "0 * * * *"\npath = "/c"\n')

EXAMPLES: dict[JobType, BaseModel] = {
    J.DOWNLOAD_REPO: outputs.DownloadRepoOutput(
        commit_sha="c0ffee",
        commit_message="Fix the thing",
        author="Ada <ada@example.com>",
        committed_at="2026-01-01T00:00:00+00:00",
        source_object="sources/dep1.tar.gz",
        size_bytes=1234,
        slipway_toml=TOML,
    ),
    J.BUILD_IMAGE: outputs.BuildImageOutput(
        preset="node",
        kind="container",
        signal="package.json",
        image_id="sha256:abc",
        image_tag="slipway/app/prod:dep1",
        exposed_ports=(3000, 9229),
        duration_s=12.5,
    ),
    J.PULL_EXTERNAL_IMAGE: outputs.ImageOutput(
        image_id="sha256:abc", digest="sha256:def", size_bytes=10, exposed_ports=(80,)
    ),
    J.VERIFY_LOCAL_IMAGE: outputs.ImageOutput(image_id="sha256:abc"),
    J.DEPLOY_IMAGE: outputs.DeployImageOutput(containers=(CONTAINER,), port=3000),
    J.DEPLOY_STATIC: outputs.DeployStaticOutput(static_root="/srv/dep1", files=12),
    J.DEPLOY_STATIC_BUNDLE: outputs.DeployStaticOutput(
        static_root="/srv/dep1", static_object="bundles/x.tar"
    ),
    J.HEALTH_CHECK: outputs.HealthCheckOutput(probes=3, time_to_healthy_s=0.31, status=200),
    J.ROUTE_TRAFFIC: outputs.RouteTrafficOutput(
        host="prod.app.localhost",
        deployment_host="d-1a2b.app.localhost",
        upstreams=("127.0.0.1:40000",),
        traffic_seq=42,
    ),
    J.MARK_DEPLOYMENT_COMPLETE: outputs.MarkCompleteOutput(url="http://prod.app.localhost:8080"),
    J.CONFIGURE_CRONS: outputs.ArtifactOutput(summary="1 cron", details={"crons": 1}),
    J.TAKE_SCREENSHOT: outputs.ArtifactOutput(objects=("screenshots/dep1.png",)),
    J.SCAN_VULNERABILITIES: outputs.ArtifactOutput(
        objects=("sboms/dep1.json",), summary="0 critical", details={"critical": 0, "high": 2}
    ),
    J.CAPTURE_SOURCE_MAPS: outputs.ArtifactOutput(objects=("sourcemaps/dep1/a.js.map",)),
}


def test_every_job_type_has_a_typed_output() -> None:
    assert set(outputs.OUTPUT_MODELS) == set(JobType)
    assert set(EXAMPLES) == set(JobType)


@pytest.mark.parametrize("job_type", list(JobType))
def test_typed_output_round_trips_through_a_stored_job_succeeded(job_type: JobType) -> None:
    example = EXAMPLES[job_type]
    assert isinstance(example, outputs.OUTPUT_MODELS[job_type])
    succeeded = ev.JobSucceeded(job_id="j", attempt=1, output=example.model_dump(mode="json"))
    _, raw = dep_event("dep1", succeeded, cause="c").sealed(None)
    stored = decode(raw).data
    assert isinstance(stored, ev.JobSucceeded)
    assert outputs.parse_output(job_type, stored.output) == example


@pytest.mark.parametrize(
    ("job_type", "output"),
    [
        (J.DEPLOY_IMAGE, {"port": 3000}),
        (J.HEALTH_CHECK, {"probes": "many", "time_to_healthy_s": 1, "status": 200}),
        (J.ROUTE_TRAFFIC, {"host": "h", "deployment_host": "d"}),
        (J.DOWNLOAD_REPO, {"commit_sha": "c"}),
    ],
)
def test_output_of_the_wrong_shape_is_refused(job_type: JobType, output: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        outputs.parse_output(job_type, output)
