"""What fails, fails with the reason in the event and the log; hostile URLs run nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from libs.events import plans
from libs.events.states import DeploymentStatus, JobStatus
from libs.events.values import DeploymentType, Preset
from tests.integration.build.pipeline import Pipeline


async def test_a_broken_dockerfile_fails_the_build_with_docker_s_error_and_cancels_every_later_job(
    pipeline: Pipeline,
) -> None:
    repo = pipeline.git_repo("broken")
    sha = repo.commit({"Dockerfile": pipeline.dockerfile("RUN exit 7")}, "broken")
    # The tail is in the plan from the start here, so there are later jobs to cancel.
    plan = plans.initial_plan(DeploymentType.GIT) + plans.build_tail(Preset.CONTAINER)
    d = await pipeline.deploy(repo.url, sha, plan=plan)
    state = await pipeline.wait(d, lambda s: s.ended is not None)
    assert state.status is DeploymentStatus.FAILED
    build = state.jobs["build"]
    assert build.status is JobStatus.FAILURE
    assert build.failure_code == "build_failed"
    assert "returned a non-zero code: 7" in (build.error or "")
    later = [j for j in state.ordered_jobs if j.order > build.order]
    assert later and all(state.job_status(j) is JobStatus.CANCELLED for j in later)
    logs = await pipeline.logs(d, "build", until="non-zero code: 7")
    errors = [line for line in logs if "returned a non-zero code: 7" in line.line]
    assert errors and errors[0].stream == "stderr"
    assert any(line.line.startswith("Step 3/") for line in logs)


async def test_a_repository_nothing_can_build_fails_with_what_was_looked_for(
    pipeline: Pipeline,
) -> None:
    repo = pipeline.git_repo("readme-only")
    sha = repo.commit({"README.md": "# nothing to run\n"}, "docs")
    d = await pipeline.deploy(repo.url, sha)
    state = await pipeline.wait(d, lambda s: s.ended is not None)
    build = state.jobs["build"]
    assert build.failure_code == "detection"
    assert "looked for: Dockerfile" in (build.error or "")
    assert "index.html" in (build.error or "")


async def test_a_bad_slipway_toml_fails_the_download_naming_the_line(pipeline: Pipeline) -> None:
    repo = pipeline.git_repo("bad-toml")
    sha = repo.commit(
        {"index.html": "x", "slipway.toml": '[health]\npath = "/ok"\nexpected_status = 42\n'},
        "bad toml",
    )
    d = await pipeline.deploy(repo.url, sha)
    state = await pipeline.wait(d, lambda s: s.ended is not None)
    download = state.jobs["download"]
    assert download.failure_code == "bad_config"
    assert "health.expected_status (line 3)" in (download.error or "")
    assert state.job_status(state.jobs["build"]) is JobStatus.CANCELLED


@pytest.mark.parametrize(
    "url",
    [
        "--upload-pack=touch {marker};",
        "ext::sh -c touch% {marker}",
        "ext::sh%20-c%20touch%20{marker}",
        "ssh://-oProxyCommand=touch%20{marker}/x/app",
    ],
)
async def test_a_hostile_repository_url_is_refused_and_nothing_is_executed(
    pipeline: Pipeline, tmp_path: Path, url: str
) -> None:
    marker = tmp_path / "marker"
    d = await pipeline.deploy(url.format(marker=marker), "a" * 40)
    state = await pipeline.wait(d, lambda s: s.ended is not None)
    download = state.jobs["download"]
    assert download.status is JobStatus.FAILURE
    assert download.failure_code == "bad_source"
    logs = await pipeline.logs(d, "download", until="failed")
    assert not any(line.line.startswith("$ git") for line in logs)
    assert not marker.exists()
