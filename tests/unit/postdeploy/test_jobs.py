"""The post-deploy job handlers against fakes: outcomes, outputs and reasons."""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

import pytest

from libs.artifacts import FakeArtifactStore
from libs.events import catalog as ev
from libs.events.config import parse_slipway_toml
from libs.events.outputs import DownloadRepoOutput
from libs.events.states import Admission, EnvironmentState, Route
from libs.events.values import ConfigSnapshot, CronSpec, DeploymentType, JobSpec, JobType
from libs.jobs import Fenced, JobError, JobSkip
from services.postdeploy.adapters.fakes import (
    FakeCronStore,
    FakeEdgeCaller,
    FakeImageFiles,
    FakeScanner,
    FakeScreenshotter,
)
from services.postdeploy.cron_schedule import CronClock
from services.postdeploy.crons_job import configure_crons, remove_crons_if_ended
from services.postdeploy.scan import NO_SCANNER, scan_vulnerabilities
from services.postdeploy.screenshot import take_screenshot
from tests.factories import Story, dep_event
from tests.unit.postdeploy.support import context_for

TOML = """
[[crons]]
schedule = "*/5 * * * *"
path = "/api/cleanup"

[[crons]]
schedule = "0 3 * * *"
path = "/api/report"
method = "post"
timezone = "Europe/Berlin"
"""
CLOCK = CronClock(60.0)


def png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def git_story(toml: str | None = TOML, dep: str = "dep1") -> Story:
    plan = (
        JobSpec(id="download", type=JobType.DOWNLOAD_REPO),
        JobSpec(id="crons", type=JobType.CONFIGURE_CRONS, depends_on=("download",), optional=True),
    )
    story = Story(dep, DeploymentType.GIT, plan=plan).admit()
    out = DownloadRepoOutput(
        commit_sha="abc",
        source_object="sources/x",
        slipway_toml=parse_slipway_toml(toml) if toml else None,
    )
    story.start("download").succeed("download", out.model_dump(mode="json"))
    return story.start("crons")


def env_with(dep: str, number: int = 1, routed: str | None = None, routed_number: int = 1) -> Any:
    admitted = (Admission(dep, number, None),)
    route = Route("deployment", routed, (), None, routed_number, 1) if routed else None
    state = EnvironmentState(id="proj_prod", admitted=admitted, route=route)

    async def read(env_id: str) -> EnvironmentState:
        assert env_id == "proj_prod"
        return state

    return read


async def test_configure_crons_registers_the_slipway_toml_crons() -> None:
    store = FakeCronStore()
    ctx, log = context_for(git_story(), "crons")
    out = await configure_crons(ctx, store=store, environments=env_with("dep1"), clock=CLOCK)
    assert out.summary == "2 crons registered"
    assert [c["path"] for c in out.details["crons"]] == ["/api/cleanup", "/api/report"]
    records = [e.record for e in await store.entries()]
    assert [(r.method, r.timezone) for r in records] == [("GET", "UTC"), ("POST", "Europe/Berlin")]
    await ctx.log.close()
    assert any("/api/report" in line for line in log.text)


async def test_a_rollback_reuses_the_crons_of_its_target_s_config_snapshot() -> None:
    plan = (JobSpec(id="crons", type=JobType.CONFIGURE_CRONS, optional=True),)
    story = Story("dep2", DeploymentType.ROLLBACK, plan=plan)
    requested = story.events[0].data
    assert isinstance(requested, ev.DeploymentRequested)
    snapshot = ConfigSnapshot(crons=(CronSpec(schedule="0 * * * *", path="/hourly"),))
    story.events[0] = dep_event(
        "dep2", requested.model_copy(update={"config": snapshot}), cause="r"
    )
    story.admit().start("crons")
    store = FakeCronStore()
    ctx, _ = context_for(story, "crons")
    await configure_crons(ctx, store=store, environments=env_with("dep2"), clock=CLOCK)
    assert [e.record.path for e in await store.entries()] == ["/hourly"]


async def test_a_deployment_whose_route_was_taken_by_a_newer_one_is_skipped() -> None:
    ctx, _ = context_for(git_story(), "crons")
    read = env_with("dep1", number=1, routed="dep9", routed_number=2)
    with pytest.raises(JobSkip, match="superseded by dep9"):
        await configure_crons(ctx, store=FakeCronStore(), environments=read, clock=CLOCK)


async def test_a_deployment_stopped_while_registering_removes_its_crons_again() -> None:
    story = git_story()
    ctx, _ = context_for(story, "crons")
    stopped = Story("dep1", DeploymentType.GIT, plan=())
    stopped.events = [*story.events]
    stopped.add(ev.DeploymentStopped(reason="user", by="t"))
    # fence() sees the running state, the re-read after the writes sees it stopped.
    ctx.refresh = _refreshes(story.state, stopped.state)
    store = FakeCronStore()
    with pytest.raises(Fenced, match="stopped"):
        await configure_crons(ctx, store=store, environments=env_with("dep1"), clock=CLOCK)
    assert await store.entries() == []


def _refreshes(*states: Any) -> Any:
    queue = list(states)

    async def refresh() -> Any:
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return refresh


async def test_the_cleanup_of_a_stale_attempt_leaves_the_crons_alone() -> None:
    store = FakeCronStore()
    ctx, _ = context_for(git_story(), "crons")
    await configure_crons(ctx, store=store, environments=env_with("dep1"), clock=CLOCK)
    await remove_crons_if_ended(ctx, store=store)  # the deployment is still running
    assert len(await store.entries()) == 2


async def test_the_screenshot_is_stored_under_the_deployment_id() -> None:
    objects, browser = FakeArtifactStore(), FakeScreenshotter(png(1280, 800))
    plan = (JobSpec(id="screenshot", type=JobType.TAKE_SCREENSHOT, optional=True),)
    story = Story("dep1abcdef", DeploymentType.IMAGE, plan=plan).admit().start("screenshot")
    ctx, _ = context_for(story, "screenshot")
    out = await take_screenshot(ctx, browser=browser, objects=objects)
    assert out.objects == ("screenshots/dep1abcdef.png",)
    assert browser.urls == ["http://d-dep1abcd.proj.localhost:8080/"]
    assert (out.details["width"], out.details["height"]) == (1280, 800)


async def test_without_a_browser_the_screenshot_is_skipped_with_the_reason() -> None:
    plan = (JobSpec(id="screenshot", type=JobType.TAKE_SCREENSHOT, optional=True),)
    story = Story("dep1", DeploymentType.IMAGE, plan=plan).admit().start("screenshot")
    ctx, _ = context_for(story, "screenshot")
    with pytest.raises(JobSkip, match="no headless browser"):
        await take_screenshot(ctx, browser=FakeScreenshotter(None), objects=FakeArtifactStore())


def image_story() -> Story:
    plan = (
        JobSpec(id="verify", type=JobType.VERIFY_LOCAL_IMAGE),
        JobSpec(id="scan", type=JobType.SCAN_VULNERABILITIES, depends_on=("verify",)),
    )
    story = Story("dep1", DeploymentType.IMAGE_UPLOAD, plan=plan).admit()
    return story.start("verify").succeed("verify", {"image_id": "sha256:img"}).start("scan")


IMAGE = {
    "sha256:img": {
        "var/lib/dpkg/status": b"Package: bash\nStatus: install ok installed\nVersion: 5.2\n",
        "usr/lib/python3/dist-packages/foo-1.0.dist-info/METADATA": b"Name: foo\nVersion: 1.0\n",
    }
}


async def test_without_a_scanner_the_scan_succeeds_with_an_sbom_and_says_why() -> None:
    objects = FakeArtifactStore()
    ctx, _ = context_for(image_story(), "scan")
    out = await scan_vulnerabilities(
        ctx, files=FakeImageFiles(IMAGE), scanner=None, objects=objects
    )
    assert out.objects == ("sboms/dep1.cdx.json",)
    assert out.summary == (
        f"SBOM of 2 packages (1 deb, 1 pypi); vulnerability matching skipped: {NO_SCANNER}"
    )
    doc = json.loads(objects.objects["sboms/dep1.cdx.json"])
    assert "pkg:pypi/foo@1.0" in [c.get("purl") for c in doc["components"]]
    assert out.details["by_ecosystem"] == {"deb": 1, "pypi": 1}


async def test_a_scanner_s_report_is_stored_and_summarised() -> None:
    report = {
        "bomFormat": "CycloneDX",
        "components": [{"name": "bash"}],
        "vulnerabilities": [{"id": "CVE-1", "ratings": [{"severity": "high"}]}],
    }
    objects = FakeArtifactStore()
    ctx, _ = context_for(image_story(), "scan")
    scanner = FakeScanner(report)
    out = await scan_vulnerabilities(ctx, files=None, scanner=scanner, objects=objects)
    assert out.summary == "1 vulnerability (1 high) in 1 component, matched by fakescan"
    assert scanner.scanned == ["example/app:1"]  # the reference, which scanners resolve


async def test_a_failing_scanner_falls_back_to_the_sbom_with_its_reason() -> None:
    ctx, _ = context_for(image_story(), "scan")
    out = await scan_vulnerabilities(
        ctx, files=FakeImageFiles(IMAGE), scanner=FakeScanner(None), objects=FakeArtifactStore()
    )
    assert out.summary.endswith("skipped: fakescan failed: no vulnerability database (offline)")


async def test_a_missing_image_fails_the_scan_with_the_reason() -> None:
    ctx, _ = context_for(image_story(), "scan")
    with pytest.raises(JobError, match="not present") as err:
        await scan_vulnerabilities(
            ctx, files=FakeImageFiles({}), scanner=None, objects=FakeArtifactStore()
        )
    assert err.value.code == "image_missing"


async def test_a_static_deployment_has_nothing_to_scan() -> None:
    plan = (JobSpec(id="scan", type=JobType.SCAN_VULNERABILITIES),)
    story = Story("dep1", DeploymentType.STATIC_BUNDLE, plan=plan).admit().start("scan")
    ctx, _ = context_for(story, "scan")
    with pytest.raises(JobSkip, match="no container image"):
        await scan_vulnerabilities(
            ctx, files=FakeImageFiles({}), scanner=None, objects=FakeArtifactStore()
        )


async def test_a_deployment_url_that_does_not_answer_fails_the_screenshot_with_why() -> None:
    plan = (JobSpec(id="screenshot", type=JobType.TAKE_SCREENSHOT, optional=True),)
    story = Story("dep1", DeploymentType.IMAGE, plan=plan).admit().start("screenshot")
    ctx, _ = context_for(story, "screenshot")
    browser = FakeScreenshotter(png(1280, 800))
    with pytest.raises(JobError, match="does not answer: connection refused") as err:
        await take_screenshot(
            ctx, browser=browser, objects=FakeArtifactStore(), edge=FakeEdgeCaller(status=None)
        )
    assert err.value.code == "unreachable"
    assert browser.urls == []


async def test_the_answer_of_the_page_is_kept_with_the_screenshot() -> None:
    plan = (JobSpec(id="screenshot", type=JobType.TAKE_SCREENSHOT, optional=True),)
    story = Story("dep1", DeploymentType.IMAGE, plan=plan).admit().start("screenshot")
    ctx, _ = context_for(story, "screenshot")
    edge = FakeEdgeCaller(status=404)
    out = await take_screenshot(
        ctx, browser=FakeScreenshotter(png(1280, 800)), objects=FakeArtifactStore(), edge=edge
    )
    assert out.details["status"] == 404
    assert out.summary.endswith("(the page answered 404)")
    assert edge.calls[0].host == "d-dep1.proj.localhost"
