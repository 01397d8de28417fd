"""Screenshots and source maps of a static site served by the real Caddy, read back through the
artifacts endpoint; without Chromium the screenshot is skipped and the deployment completes."""

from __future__ import annotations

from pathlib import Path

import pytest
from nats.aio.client import Client as NATS

from libs.events.states import DeploymentStatus, JobStatus
from libs.events.values import JobType
from libs.eventstore import Repository
from libs.settings import Settings
from services.routing.adapters.caddy_proxy import CaddyAdminProxy
from tests.integration.postdeploy.api_client import artifacts_client
from tests.integration.postdeploy.png import decode_png, pixel
from tests.integration.postdeploy.toys import World, static_plan

SITE = {
    "index.html": b"<!doctype html><html><body style='background:#1e90ff'>"
    b"<h1 style='color:white;font-size:80px'>Hello from Slipway</h1>"
    b"<script src='assets/app.js'></script></body></html>",
    "assets/app.js": b"console.log('hi')\n//# sourceMappingURL=app.js.map\n",
    "assets/app.js.map": b'{"version":3,"sources":["app.ts"],"mappings":"AAAA"}',
    "assets/app.css.map": b'{"version":3,"sources":["app.scss"],"mappings":""}',
}
COMMIT = "5ca1ab1e" * 5


def finished(job: str) -> object:
    return lambda s: s.jobs[job].finished_at is not None


async def test_a_static_site_screenshot_is_stored_and_served_as_a_1280x800_png(
    pnc: NATS, prepo: Repository, pd_settings: Settings, edge: CaddyAdminProxy
) -> None:
    world = World(pnc, prepo, pd_settings, proxy=edge)
    async with world.running():
        dep = await world.deploy(static_plan((JobType.TAKE_SCREENSHOT,)), static=SITE)
        state = await world.wait(dep, finished("screenshot"), timeout=120)
    job = state.jobs["screenshot"]
    assert job.status is JobStatus.SUCCESS, job.error
    assert state.status is DeploymentStatus.COMPLETED
    assert job.output["objects"] == [f"screenshots/{dep}.png"]
    async with artifacts_client(pnc, prepo) as api:
        listing = (await api.get(f"/api/deployments/{dep}/artifacts")).json()["items"]
        shot = await api.get(f"/api/deployments/{dep}/artifacts/screenshot")
    assert [(i["kind"], i["content_type"]) for i in listing] == [("screenshot", "image/png")]
    assert shot.status_code == 200 and shot.headers["content-type"] == "image/png"
    image = decode_png(shot.content)
    assert (image.width, image.height) == (1280, 800)
    assert listing[0]["size"] == len(shot.content)
    # The page itself rendered (its blue background), not an error page.
    assert pixel(image, 640, 700)[:3] == (0x1E, 0x90, 0xFF)


async def test_without_chromium_the_screenshot_is_skipped_and_the_deployment_completes(
    pnc: NATS,
    prepo: Repository,
    pd_settings: Settings,
    edge: CaddyAdminProxy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    world = World(pnc, prepo, pd_settings, proxy=edge)
    async with world.running():
        dep = await world.deploy(static_plan((JobType.TAKE_SCREENSHOT,)), static=SITE)
        state = await world.wait(dep, finished("screenshot"))
    job = state.jobs["screenshot"]
    assert job.status is JobStatus.SKIPPED
    assert job.skip_reason is not None and "no headless browser" in job.skip_reason
    assert state.status is DeploymentStatus.COMPLETED


async def test_source_maps_of_a_static_build_are_captured_by_commit_and_listed(
    pnc: NATS, prepo: Repository, pd_settings: Settings, edge: CaddyAdminProxy
) -> None:
    world = World(pnc, prepo, pd_settings, proxy=edge)
    async with world.running():
        dep = await world.deploy(
            static_plan((JobType.CAPTURE_SOURCE_MAPS,)), static=SITE, commit=COMMIT
        )
        state = await world.wait(dep, finished("sourcemaps"))
    job = state.jobs["sourcemaps"]
    assert job.status is JobStatus.SUCCESS, job.error
    names = [f"sourcemaps/{COMMIT}/assets/app.css.map", f"sourcemaps/{COMMIT}/assets/app.js.map"]
    assert job.output["objects"] == names
    assert job.output["details"]["files"] == ["assets/app.css.map", "assets/app.js.map"]
    assert job.output["summary"].startswith("2 source maps captured from static files")
    async with artifacts_client(pnc, prepo) as api:
        listing = (await api.get(f"/api/deployments/{dep}/artifacts")).json()["items"]
        body = await api.get(f"/api/deployments/{dep}/artifacts/{names[1]}")
    assert [i["name"] for i in listing] == names
    assert {i["kind"] for i in listing} == {"sourcemap"}
    assert body.json()["sources"] == ["app.ts"]
