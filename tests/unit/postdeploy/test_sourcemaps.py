from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from libs.artifacts import FakeArtifactStore
from libs.events.outputs import DeployStaticOutput
from libs.events.states import JobStatus
from libs.events.values import DeploymentType, JobSpec, JobType
from libs.jobs import JobSkip
from services.postdeploy.adapters.fakes import FakeImageFiles
from services.postdeploy.sourcemaps import (
    capture_source_maps,
    is_app_source_map,
    safe_relpath,
)
from tests.factories import Story
from tests.unit.postdeploy.support import context_for

PLAN = (
    JobSpec(id="deploy-static", type=JobType.DEPLOY_STATIC),
    JobSpec(id="sourcemaps", type=JobType.CAPTURE_SOURCE_MAPS, depends_on=("deploy-static",)),
)
IMAGE_PLAN = (
    JobSpec(id="verify", type=JobType.VERIFY_LOCAL_IMAGE),
    JobSpec(id="sourcemaps", type=JobType.CAPTURE_SOURCE_MAPS, depends_on=("verify",)),
)


@pytest.mark.parametrize(
    ("name", "safe"),
    [("a/b.js.map", "a/b.js.map"), ("./a//b.map", "a/b.map"), ("/abs.map", "abs.map"),
     ("../up.map", None), ("a/../../up.map", None), (".", None)],
)  # fmt: skip
def test_paths_are_normalised_and_never_climb(name: str, safe: str | None) -> None:
    assert safe_relpath(name) == safe


@pytest.mark.parametrize(
    ("path", "app"),
    [("app/dist/main.js.map", True), ("srv/static/app.css.map", True),
     ("usr/lib/node_modules/npm/x.js.map", False), ("app/node_modules/lib/x.js.map", False),
     ("app/dist/main.js", False)],
)  # fmt: skip
def test_in_an_image_only_the_app_s_own_maps_count(path: str, app: bool) -> None:
    assert is_app_source_map(path) is app


def static_story(root: Path, static_object: str | None = None, commit: str = "c0ffee" * 6) -> Story:
    story = Story("dep1", DeploymentType.GIT, plan=PLAN, commit=commit).admit()
    out = DeployStaticOutput(static_root=str(root), static_object=static_object, files=3)
    story.start("deploy-static").succeed("deploy-static", out.model_dump(mode="json"))
    return story.start("sourcemaps")


async def test_maps_of_a_static_directory_are_stored_by_commit(tmp_path: Path) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "app.js").write_text("x")
    (tmp_path / "assets" / "app.js.map").write_text('{"version":3}')
    (tmp_path / "node_modules" / "x").mkdir(parents=True)
    (tmp_path / "node_modules" / "x" / "dep.js.map").write_text("{}")
    objects = FakeArtifactStore()
    ctx, _ = context_for(static_story(tmp_path), "sourcemaps")
    out = await capture_source_maps(ctx, files=None, objects=objects)
    name = "sourcemaps/" + "c0ffee" * 6 + "/assets/app.js.map"
    assert out.objects == (name,)
    assert objects.objects[name] == b'{"version":3}'
    assert out.details["files"] == ["assets/app.js.map"]
    assert "1 source map captured" in out.summary


async def test_without_the_directory_the_static_object_is_read(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in (("index.html", b"<h1>"), ("js/app.js.map", b"{}")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    objects = FakeArtifactStore()
    objects.objects["static/dep1.tar.gz"] = buf.getvalue()
    story = static_story(tmp_path / "gone", "static/dep1.tar.gz")
    ctx, _ = context_for(story, "sourcemaps")
    out = await capture_source_maps(ctx, files=None, objects=objects)
    assert out.details["files"] == ["js/app.js.map"]
    assert out.details["source"] == "static object static/dep1.tar.gz"


async def test_no_maps_is_a_success_that_says_so(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("hi")
    ctx, _ = context_for(static_story(tmp_path), "sourcemaps")
    out = await capture_source_maps(ctx, files=None, objects=FakeArtifactStore())
    assert out.objects == ()
    assert out.summary.startswith("no source maps in static files")


async def test_maps_inside_an_image_are_captured() -> None:
    story = Story("dep2", DeploymentType.IMAGE_UPLOAD, plan=IMAGE_PLAN, commit="abc123").admit()
    story.start("verify").succeed("verify", {"image_id": "sha256:img"}).start("sourcemaps")
    files = FakeImageFiles(
        {"sha256:img": {"app/dist/a.js.map": b"{}", "usr/share/x.js.map": b"{}"}}
    )
    objects = FakeArtifactStore()
    ctx, _ = context_for(story, "sourcemaps")
    out = await capture_source_maps(ctx, files=files, objects=objects)
    assert out.objects == ("sourcemaps/abc123/app/dist/a.js.map",)


async def test_a_deployment_with_nothing_built_is_skipped() -> None:
    plan = (JobSpec(id="sourcemaps", type=JobType.CAPTURE_SOURCE_MAPS),)
    story = Story("dep3", DeploymentType.STATIC_BUNDLE, plan=plan).admit().start("sourcemaps")
    ctx, _ = context_for(story, "sourcemaps")
    assert story.state.jobs["sourcemaps"].status is JobStatus.RUNNING
    with pytest.raises(JobSkip, match="no build output"):
        await capture_source_maps(ctx, files=None, objects=FakeArtifactStore())


async def test_a_static_build_s_object_is_the_fallback_when_the_deploy_names_none(
    tmp_path: Path,
) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("main.js.map")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"{}"))
    objects = FakeArtifactStore()
    objects.objects["static/dep1.tar.gz"] = buf.getvalue()
    plan = (
        JobSpec(id="build", type=JobType.BUILD_IMAGE),
        JobSpec(id="deploy-static", type=JobType.DEPLOY_STATIC, depends_on=("build",)),
        JobSpec(id="sourcemaps", type=JobType.CAPTURE_SOURCE_MAPS, depends_on=("deploy-static",)),
    )
    story = Story("dep1", DeploymentType.GIT, plan=plan, commit="abc").admit()
    build = {
        "preset": "static",
        "kind": "static",
        "signal": "x",
        "static_object": "static/dep1.tar.gz",
    }
    story.start("build").succeed("build", build)
    deployed = DeployStaticOutput(static_root=str(tmp_path / "elsewhere"))
    story.start("deploy-static").succeed("deploy-static", deployed.model_dump(mode="json"))
    ctx, _ = context_for(story.start("sourcemaps"), "sourcemaps")
    out = await capture_source_maps(ctx, files=None, objects=objects)
    assert out.objects == ("sourcemaps/abc/main.js.map",)
