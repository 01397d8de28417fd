"""`ChromiumScreenshotter`: headless Chromium (`--screenshot`) in a throwaway profile.

The browser is looked up on PATH at every capture, so installing (or removing) it needs no
restart. Host names resolve to the edge (`--host-resolver-rules`), so the page is fetched with
the deployment's own host name, exactly as a visitor would. The process runs in its own session
and the whole group is killed on timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
from pathlib import Path

from services.postdeploy.ports import BrowserUnavailable, ScreenshotFailed

BROWSERS = ("chromium", "chromium-browser", "google-chrome-stable", "google-chrome")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# Chromium complains about D-Bus and GPU on any headless server; not worth repeating.
_NOISE = ("dbus", "Fontconfig", "GPU", "gpu_", "sandbox", "crashpad", "bus.cc")


def find_browser(search_path: str | None = None) -> str | None:
    for name in BROWSERS:
        found = shutil.which(name, path=search_path)
        if found:
            return found
    return None


class ChromiumScreenshotter:
    def __init__(
        self,
        *,
        binary: str | None = None,
        resolve_to: str = "127.0.0.1",
        timeout_s: float = 60.0,
        search_path: str | None = None,
    ) -> None:
        self.binary = binary
        self.resolve_to = resolve_to
        self.timeout_s = timeout_s
        self.search_path = search_path

    def _binary(self) -> str:
        binary = self.binary or find_browser(self.search_path)
        if binary is None:
            raise BrowserUnavailable(
                "no headless browser: none of " + ", ".join(BROWSERS) + " is on PATH "
                "(install Debian's chromium to get screenshots)"
            )
        return binary

    def argv(self, binary: str, url: str, width: int, height: int, profile: Path) -> list[str]:
        return [
            binary,
            "--headless=new",
            "--no-sandbox",
            "--disable-dev-shm-usage",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={profile / 'profile'}",
            f"--screenshot={profile / 'shot.png'}",
            f"--window-size={width},{height}",
            f"--host-resolver-rules=MAP * {self.resolve_to}",
            url,
        ]

    async def capture(self, url: str, width: int, height: int) -> bytes:
        binary = self._binary()
        with tempfile.TemporaryDirectory(prefix="slipway-shot-") as tmp:
            work = Path(tmp)
            proc = await asyncio.create_subprocess_exec(
                *self.argv(binary, url, width, height, work),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, "HOME": str(work)},
            )
            try:
                output, _ = await asyncio.wait_for(proc.communicate(), self.timeout_s)
            except (TimeoutError, asyncio.CancelledError) as exc:
                _kill_group(proc)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(proc.wait(), 5)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                raise ScreenshotFailed(f"Chromium took longer than {self.timeout_s}s") from None
            _kill_group(proc)  # helpers that outlived the browser
            shot = work / "shot.png"
            data = shot.read_bytes() if shot.exists() else b""
        if not data.startswith(PNG_MAGIC):
            detail = _useful(output.decode("utf-8", "replace"))
            why = f"Chromium exited with {proc.returncode} and wrote no PNG"
            raise ScreenshotFailed(f"{why}: {detail}" if detail else why)
        return data


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    # The browser forks helpers into its own session; kill that group, which we created.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _useful(output: str, lines: int = 5) -> str:
    kept = [ln for ln in output.splitlines() if ln.strip() and not any(n in ln for n in _NOISE)]
    return " | ".join(kept[-lines:])[:500]
