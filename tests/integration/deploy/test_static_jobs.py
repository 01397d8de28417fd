"""DeployStaticJob and DeployStaticBundleJob through the job mechanism (NATS object store, disk)."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

from libs.events import catalog as ev
from libs.events.outputs import BuildImageOutput, DeployStaticOutput
from libs.events.states import DeploymentState, DeploymentStatus, JobStatus
from libs.events.subjects import ObjectPrefix, object_name
from libs.events.values import DeploymentType, JobSpec, JobType, Source
from tests.factories import uid
from tests.integration.deploy.runside import RunSide

BUNDLE = (JobSpec(id="deploy-bundle", type=JobType.DEPLOY_STATIC_BUNDLE),)


def _ended(state: DeploymentState) -> bool:
    return state.ended is not None or all(
        j.status is JobStatus.SUCCESS for j in state.jobs.values()
    )


def _tar_gz(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


async def _stored(side: RunSide, prefix: ObjectPrefix, path: Path) -> str:
    name = object_name(prefix, uid("o"), path.name)
    await side.artifacts.put_file(name, path)
    return name


async def test_a_static_bundle_tar_gz_or_zip_is_served_from_the_deployments_own_directory(
    side: RunSide, tmp_path: Path
) -> None:
    files = {"index.html": b"<h1>hi</h1>", "assets/app.js": b"console.log(1)"}
    await side.start_deploy()
    for archive in (_tar_gz(tmp_path / "site.tar.gz", files), _zip(tmp_path / "site.zip", files)):
        name = await _stored(side, ObjectPrefix.BUNDLES, archive)
        dep = await side.request(DeploymentType.STATIC_BUNDLE, Source(bundle=name), plan=BUNDLE)
        state = await side.wait_for(dep, _ended)
        out = DeployStaticOutput.model_validate(state.jobs["deploy-bundle"].output)
        root = side.settings.static_dir / dep
        assert out.static_root == str(root)
        assert out.static_object == name and out.files == 2
        assert (root / "index.html").read_bytes() == b"<h1>hi</h1>"
        assert (root / "assets" / "app.js").read_bytes() == b"console.log(1)"
    leftovers = list((side.settings.static_dir / ".incoming").iterdir())
    assert leftovers == []


async def test_a_bundle_that_escapes_its_directory_is_refused_and_leaves_nothing(
    side: RunSide, tmp_path: Path
) -> None:
    evil = _tar_gz(tmp_path / "evil.tar.gz", {"index.html": b"x", "../../escaped": b"x"})
    await side.start_deploy()
    name = await _stored(side, ObjectPrefix.BUNDLES, evil)
    dep = await side.request(DeploymentType.STATIC_BUNDLE, Source(bundle=name), plan=BUNDLE)
    state = await side.wait_for(dep, _ended)
    assert state.status is DeploymentStatus.FAILED
    assert (state.jobs["deploy-bundle"].error or "").startswith(
        "the static files cannot be deployed: "
    )
    assert not (side.settings.static_dir / dep).exists()
    assert not (tmp_path / "escaped").exists()


async def test_a_builds_static_output_is_deployed_and_a_missing_object_fails_clearly(
    side: RunSide, tmp_path: Path
) -> None:
    name = await _stored(
        side, ObjectPrefix.STATIC, _tar_gz(tmp_path / "out.tar.gz", {"index.html": b"built"})
    )
    await side.start_deploy()
    deps = []
    for static_object in (name, "static/none.tar.gz"):
        built = BuildImageOutput(
            preset="static", kind="static", signal="index.html", static_object=static_object
        ).model_dump(mode="json")
        deps.append(
            await side.request(
                DeploymentType.GIT,
                Source(repo_url="https://example.invalid/r.git", commit_sha="a" * 40),
                plan=(
                    JobSpec(id="build", type=JobType.BUILD_IMAGE),
                    JobSpec(id="deploy-static", type=JobType.DEPLOY_STATIC, depends_on=("build",)),
                ),
                prelude=(
                    ev.JobStarted(
                        job_id="build", job_type=JobType.BUILD_IMAGE, attempt=1, executor="t"
                    ),
                    ev.JobSucceeded(job_id="build", attempt=1, output=built),
                ),
            )
        )
    ok = await side.wait_for(deps[0], _ended)
    root = Path(DeployStaticOutput.model_validate(ok.jobs["deploy-static"].output).static_root)
    assert (root / "index.html").read_bytes() == b"built"
    missing = await side.wait_for(deps[1], _ended)
    assert missing.jobs["deploy-static"].error == (
        "the static files static/none.tar.gz are gone from the object store"
    )
