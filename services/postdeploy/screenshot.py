"""TakeScreenshotJob: the deployment's own immutable URL, rendered by a headless browser."""

from __future__ import annotations

import struct

from libs.artifacts import ArtifactBytes
from libs.events.hosts import deployment_host
from libs.events.outputs import ArtifactOutput
from libs.events.subjects import ObjectPrefix, object_name
from libs.jobs import JobContext, JobError, JobSkip
from services.postdeploy.ports import (
    BrowserUnavailable,
    EdgeCaller,
    ScreenshotFailed,
    Screenshotter,
)

WIDTH, HEIGHT = 1280, 800


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk; ValueError if it is not a PNG."""
    if len(data) < 24 or data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def deployment_origin(deployment_id: str, project: str, base_domain: str, edge_port: int) -> str:
    host = deployment_host(deployment_id, project, base_domain)
    return f"http://{host}" if edge_port == 80 else f"http://{host}:{edge_port}"


def screenshot_object(deployment_id: str) -> str:
    return object_name(ObjectPrefix.SCREENSHOTS, f"{deployment_id}.png")


async def take_screenshot(
    ctx: JobContext,
    *,
    browser: Screenshotter,
    objects: ArtifactBytes,
    edge: EdgeCaller | None = None,
    preflight_timeout_s: float = 10.0,
) -> ArtifactOutput:
    settings = ctx.settings
    project = ctx.state.project
    host = deployment_host(ctx.deployment_id, project, settings.base_domain)
    origin = deployment_origin(ctx.deployment_id, project, settings.base_domain, settings.edge_port)
    url = origin + "/"
    status = None
    if edge is not None:
        # A browser renders its own error page for a URL that does not answer; say why instead.
        headers = {"User-Agent": "slipway-screenshot/1"}
        answer = await edge.call("GET", host, "/", headers, preflight_timeout_s)
        if answer.status is None:
            raise JobError(f"{url} does not answer: {answer.error}", "unreachable")
        status = answer.status
        ctx.log.info(f"{url} answered {status}")
    ctx.log.info(f"capturing {url} at {WIDTH}x{HEIGHT}")
    try:
        png = await browser.capture(url, WIDTH, HEIGHT)
    except BrowserUnavailable as exc:
        raise JobSkip(str(exc)) from None
    except ScreenshotFailed as exc:
        raise JobError(str(exc), "screenshot_failed") from None
    try:
        width, height = png_size(png)
    except ValueError:
        raise JobError("the browser's screenshot is not a PNG", "screenshot_failed") from None
    name = screenshot_object(ctx.deployment_id)
    size = await objects.put_bytes(name, png)
    ctx.log.info(f"stored {name} ({size} bytes)")
    summary = f"screenshot of {url}: {width}x{height} PNG, {size} bytes"
    if status is not None and status >= 400:
        summary += f" (the page answered {status})"
    return ArtifactOutput(
        objects=(name,),
        summary=summary,
        details={"url": url, "status": status, "width": width, "height": height, "bytes": size},
    )
