"""VerifyLocalImageJob and PullExternalImageJob through the job mechanism, on the real engine."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import httpx
import pytest

from libs.events.outputs import ImageOutput
from libs.events.states import DeploymentState, DeploymentStatus, JobStatus
from libs.events.subjects import ObjectPrefix, object_name
from libs.events.values import ConfigSnapshot, DeploymentType, JobSpec, JobType, Source
from libs.infra import free_port
from services.deploy.image_jobs import IMAGE_MISMATCH
from tests.integration.deploy.deploy_support import write_image_tar
from tests.integration.deploy.runside import RunSide, build_image
from tests.support.names import unique

VERIFY = (JobSpec(id="verify", type=JobType.VERIFY_LOCAL_IMAGE),)
PULL = (JobSpec(id="pull", type=JobType.PULL_EXTERNAL_IMAGE),)


def _ended(state: DeploymentState) -> bool:
    return state.ended is not None or all(
        j.status is JobStatus.SUCCESS for j in state.jobs.values()
    )


def _image_tar(path: Path) -> str:
    return write_image_tar(path, {"marker": (uuid.uuid4().bytes, 0o644)}, tag=None, exposed=(3000,))


def _forget(client: docker.DockerClient, *images: str) -> None:
    for image in images:
        with contextlib.suppress(docker.errors.ImageNotFound):
            client.images.remove(image, force=True)


# ---------------------------------------------------------------- VerifyLocalImageJob


async def _upload(side: RunSide, tar: Path, recorded_id: str) -> str:
    name = object_name(ObjectPrefix.UPLOADS, uuid.uuid4().hex, "image.tar")
    await side.artifacts.put_file(name, tar)
    return await side.request(
        DeploymentType.IMAGE_UPLOAD,
        Source(upload_object=name, image_id=recorded_id),
        plan=VERIFY,
    )


async def test_an_uploaded_image_whose_id_differs_from_the_recorded_one_is_refused(
    side: RunSide, tmp_path: Path, docker_client: docker.DockerClient
) -> None:
    recorded = _image_tar(tmp_path / "checked.tar")
    tampered = _image_tar(tmp_path / "tampered.tar")
    await side.start_deploy()
    dep = await _upload(side, tmp_path / "tampered.tar", recorded)
    state = await side.wait_for(dep, _ended)
    assert state.status is DeploymentStatus.FAILED
    assert state.jobs["verify"].error == IMAGE_MISMATCH
    assert state.jobs["verify"].failure_code == "image_mismatch"
    assert not await side.runtime.image_exists(tampered)  # never loaded


async def test_an_uploaded_image_with_the_recorded_id_is_loaded(
    side: RunSide, tmp_path: Path, docker_client: docker.DockerClient
) -> None:
    image = _image_tar(tmp_path / "image.tar")
    await side.start_deploy()
    try:
        dep = await _upload(side, tmp_path / "image.tar", image)
        state = await side.wait_for(dep, _ended)
        out = ImageOutput.model_validate(state.jobs["verify"].output)
        assert out.image_id == image
        assert out.exposed_ports == (3000,)
        assert await side.runtime.image_exists(image)
    finally:
        _forget(docker_client, image)


async def test_a_rollback_to_a_pruned_image_fails_with_the_commit_to_redeploy(
    side: RunSide, tmp_path: Path, docker_client: docker.DockerClient
) -> None:
    present = _image_tar(tmp_path / "present.tar")
    await side.runtime.load_image(tmp_path / "present.tar")
    await side.start_deploy()
    try:
        gone = await side.request(
            DeploymentType.ROLLBACK,
            Source(image_id="sha256:" + "0" * 64, commit_sha="abc1234", rollback_of="d-old"),
            plan=VERIFY,
        )
        kept = await side.request(
            DeploymentType.ROLLBACK, Source(image_id=present, rollback_of="d-old"), plan=VERIFY
        )
        failed = await side.wait_for(gone, _ended)
        assert failed.jobs["verify"].error == "image pruned — redeploy commit abc1234"
        ok = await side.wait_for(kept, _ended)
        assert ImageOutput.model_validate(ok.jobs["verify"].output).image_id == present
    finally:
        _forget(docker_client, present)


# ---------------------------------------------------------------- PullExternalImageJob


@dataclass(frozen=True)
class Registry:
    address: str
    user: str
    password: str


def _bcrypt(password: str) -> str:
    """The registry wants bcrypt; libxcrypt's crypt(3) makes it ($2b$), no extra package needed.
    An interpreter built without `crypt` borrows the system Python's."""
    code = "import crypt, sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH)))"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import crypt
        except ImportError:
            crypt = None  # type: ignore[assignment]
    if crypt is not None:
        return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))
    for python in ("/usr/bin/python3", shutil.which("python3")):
        if python and Path(python).exists():
            done = subprocess.run(
                [python, "-W", "ignore", "-c", code, password], capture_output=True, text=True
            )
            if done.returncode == 0 and done.stdout.startswith("$2"):
                return done.stdout.strip()
    pytest.skip("no crypt(3) with bcrypt to write the registry's htpasswd")


@pytest.fixture
def auth_registry(tmp_path: Path) -> Iterator[Registry]:
    """Debian's docker-registry on loopback with htpasswd basic auth. Plain HTTP is enough: Docker
    treats 127.0.0.0/8 registries as insecure and sends the credentials over HTTP."""
    binary = shutil.which("docker-registry") or "/usr/bin/docker-registry"
    if not Path(binary).exists():
        pytest.skip("docker-registry is not installed (apt-get install docker-registry)")
    root = tmp_path / "registry"
    root.mkdir()
    registry = Registry(f"127.0.0.1:{free_port()}", "deployer", uuid.uuid4().hex)
    (root / "htpasswd").write_text(f"{registry.user}:{_bcrypt(registry.password)}\n")
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {root / 'data'}\nhttp:\n  addr: {registry.address}\n"
        f"auth:\n  htpasswd:\n    realm: slipway-test\n    path: {root / 'htpasswd'}\n"
    )
    with (root / "registry.log").open("wb") as log:
        proc = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=log)
        try:
            for _ in range(100):
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"http://{registry.address}/v2/", timeout=1).status_code == 401:
                        break
                time.sleep(0.1)
            else:
                raise RuntimeError((root / "registry.log").read_text())
            yield registry
        finally:
            proc.terminate()
            proc.wait(10)


def _push(client: docker.DockerClient, registry: Registry) -> tuple[str, str]:
    """A fresh image pushed as `<registry>/slipway-test/app:<tag>`, then removed locally."""
    repository = f"{registry.address}/slipway-test/{unique('app')}"
    ref = f"{repository}:v1"
    files = {"Dockerfile": b"FROM scratch\nCOPY marker /marker\nEXPOSE 9000\n"}
    image_id = build_image(client, {**files, "marker": uuid.uuid4().bytes}, ref)
    auth = {"username": registry.user, "password": registry.password}
    for chunk in client.api.push(repository, tag="v1", stream=True, decode=True, auth_config=auth):
        assert "error" not in chunk, chunk
    client.images.remove(image_id, force=True)
    return ref, image_id


async def _pull(side: RunSide, ref: str, user: str | None, password: str | None) -> str:
    variables = {}
    if user is not None:
        variables["SLIPWAY_REGISTRY_USER"] = await side.put_variable("SLIPWAY_REGISTRY_USER", user)
    if password is not None:
        variables["SLIPWAY_REGISTRY_PASSWORD"] = await side.put_variable(
            "SLIPWAY_REGISTRY_PASSWORD", password
        )
    return await side.request(
        DeploymentType.IMAGE,
        Source(image_ref=ref, pull="always"),
        plan=PULL,
        config=ConfigSnapshot(variables=variables),
    )


async def test_a_pull_with_the_registry_credentials_from_the_secrets_store_works(
    side: RunSide, auth_registry: Registry, docker_client: docker.DockerClient
) -> None:
    ref, image_id = await asyncio.to_thread(_push, docker_client, auth_registry)
    await side.start_deploy()
    try:
        dep = await _pull(side, ref, auth_registry.user, auth_registry.password)
        state = await side.wait_for(dep, _ended)
        out = ImageOutput.model_validate(state.jobs["pull"].output)
        assert out.image_id == image_id
        assert out.digest is not None and out.digest.startswith("sha256:")
        assert out.exposed_ports == (9000,)
        assert await side.runtime.image_exists(image_id)
    finally:
        _forget(docker_client, image_id)


async def test_a_wrong_password_or_a_missing_image_fails_with_the_registrys_message(
    side: RunSide, auth_registry: Registry, docker_client: docker.DockerClient
) -> None:
    ref, image_id = await asyncio.to_thread(_push, docker_client, auth_registry)
    await side.start_deploy()
    wrong = await _pull(side, ref, auth_registry.user, "not-the-password")
    anonymous = await _pull(side, ref, None, None)
    missing = await _pull(
        side, ref.replace(":v1", ":nope"), auth_registry.user, auth_registry.password
    )
    half = await _pull(side, ref, auth_registry.user, None)

    errors = {}
    for name, dep in [
        ("wrong", wrong),
        ("anonymous", anonymous),
        ("missing", missing),
        ("half", half),
    ]:
        state = await side.wait_for(dep, _ended)
        assert state.status is DeploymentStatus.FAILED
        errors[name] = state.jobs["pull"].error or ""
    assert errors["wrong"] == f"pull {ref} failed: unauthorized: authentication required"
    assert "no basic auth credentials" in errors["anonymous"]
    assert "manifest unknown" in errors["missing"]
    assert (
        errors["half"]
        == "registry credentials are incomplete: SLIPWAY_REGISTRY_PASSWORD is not set"
    )
    assert not await side.runtime.image_exists(image_id)
