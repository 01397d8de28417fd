"""Git repository -> DownloadRepoJob -> BuildImageJob -> something that runs, for each kind of
app, always at a given commit that is not the branch head."""

from __future__ import annotations

import httpx

from libs.events import plans
from libs.events.outputs import BuildImageOutput, DownloadRepoOutput
from libs.events.states import JobStatus
from libs.events.values import JobType, Preset
from tests.integration.build.pipeline import Pipeline, serve_directory


def built(state_output: dict[str, object]) -> BuildImageOutput:
    return BuildImageOutput.model_validate(state_output)


async def test_a_dockerfile_repository_is_built_at_the_requested_commit_and_runs(
    pipeline: Pipeline,
) -> None:
    repo = pipeline.git_repo("dockerfile-app")
    dockerfile = pipeline.dockerfile(
        "COPY server.py /srv/server.py", "EXPOSE 8000", 'CMD ["python3", "/srv/server.py"]'
    )
    old = repo.commit({"Dockerfile": dockerfile, "server.py": pipeline.server_py("v1")}, "v1")
    repo.commit({"server.py": pipeline.server_py("v2")}, "v2")
    d = await pipeline.deploy(repo.url, old)
    state = await pipeline.finished(d, "build")
    assert state.jobs["build"].status is JobStatus.SUCCESS, state.jobs["build"].error
    download = DownloadRepoOutput.model_validate(state.output_of(JobType.DOWNLOAD_REPO))
    assert (download.commit_sha, download.commit_message) == (old, "v1")
    out = built(state.jobs["build"].output)
    assert (out.preset, out.kind, out.signal) == ("dockerfile", "container", "Dockerfile")
    assert out.image_tag == f"slipway/{pipeline.project}/prod:{d}"
    assert out.exposed_ports == (8000,)
    image = pipeline.docker.images.get(out.image_tag)
    assert image.id == out.image_id
    assert image.labels["slipway.deployment"] == d
    assert image.labels["slipway.attempt"] == "1"
    assert await pipeline.get_from_image(out.image_tag, 8000) == "v1"
    # The build's output grew the plan by the container tail.
    assert [j.id for j in state.ordered_jobs][2:] == [
        j.id for j in plans.build_tail(Preset.CONTAINER)
    ]
    logs = await pipeline.logs(d, "build", until="Successfully tagged")
    assert any(line.line.startswith("Step 1/") for line in logs)


async def test_a_static_site_is_built_at_the_requested_commit_and_published_as_files(
    pipeline: Pipeline,
) -> None:
    repo = pipeline.git_repo("static-site")
    old = repo.commit(
        {"index.html": "<h1>first</h1>\n", "css/site.css": "h1{}\n", ".env": "x"}, "first"
    )
    repo.commit({"index.html": "<h1>second</h1>\n"}, "second")
    d = await pipeline.deploy(repo.url, old)
    state = await pipeline.finished(d, "build")

    assert state.jobs["build"].status is JobStatus.SUCCESS, state.jobs["build"].error
    out = built(state.jobs["build"].output)
    assert (out.preset, out.kind, out.signal) == ("static", "static", "index.html")
    assert out.static_object == f"static/{d}.tar.gz"
    assert out.image_id is None and out.image_tag is None
    assert pipeline.docker.images.list(name=f"slipway/{pipeline.project}/prod") == []
    root = await pipeline.static_files(out.static_object)
    assert not (root / ".slipway.Dockerfile").exists() and not (root / ".dockerignore").exists()
    with serve_directory(root) as base:
        async with httpx.AsyncClient(base_url=base) as http:
            assert (await http.get("/")).text == "<h1>first</h1>\n"
            assert (await http.get("/css/site.css")).text == "h1{}\n"
    assert [j.id for j in state.ordered_jobs][2:] == [j.id for j in plans.build_tail(Preset.STATIC)]


async def test_a_standard_library_python_app_gets_a_generated_dockerfile_and_runs(
    pipeline: Pipeline,
) -> None:
    repo = pipeline.git_repo("python-app")
    old = repo.commit({"main.py": pipeline.server_py("python one")}, "one")
    repo.commit({"main.py": pipeline.server_py("python two")}, "two")
    d = await pipeline.deploy(repo.url, old)
    state = await pipeline.finished(d, "build")

    assert state.jobs["build"].status is JobStatus.SUCCESS, state.jobs["build"].error
    out = built(state.jobs["build"].output)
    assert (out.preset, out.kind, out.signal) == ("python", "container", "main.py")
    assert out.exposed_ports == (3000,)
    assert out.image_tag is not None
    image = pipeline.docker.images.get(out.image_tag)
    assert image.attrs["Config"]["User"] == "10001:10001"
    assert await pipeline.get_from_image(out.image_tag, 3000) == "python one"
