"""Vulnerability scanners run as subprocesses: Trivy or Grype, whichever is installed.

Both are asked for a CycloneDX document with the vulnerabilities they matched, so one parser
(`services.postdeploy.sbom.vulnerability_counts`) reads either.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
from typing import Any

from services.postdeploy.ports import ScannerFailed, VulnerabilityScanner


class CommandScanner:
    """Runs `argv + [image]` and parses its stdout as a CycloneDX JSON document."""

    def __init__(self, name: str, argv: list[str], *, timeout_s: float = 600.0) -> None:
        self.name = name
        self.argv = argv
        self.timeout_s = timeout_s

    async def scan(self, image: str) -> dict[str, Any]:
        proc = await asyncio.create_subprocess_exec(
            *self.argv,
            image,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), self.timeout_s)
        except (TimeoutError, asyncio.CancelledError) as exc:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(proc.wait(), 5)
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise ScannerFailed(f"{self.name} took longer than {self.timeout_s}s") from None
        if proc.returncode != 0:
            tail = err.decode("utf-8", "replace").strip().splitlines()[-3:]
            raise ScannerFailed(f"{self.name} exited with {proc.returncode}: {' | '.join(tail)}")
        try:
            doc = json.loads(out)
        except ValueError:
            raise ScannerFailed(f"{self.name} printed no CycloneDX JSON") from None
        if not isinstance(doc, dict) or doc.get("bomFormat") != "CycloneDX":
            raise ScannerFailed(f"{self.name} printed JSON that is not a CycloneDX document")
        return doc


def trivy(binary: str, timeout_s: float) -> CommandScanner:
    argv = [binary, "image", "--quiet", "--format", "cyclonedx", "--scanners", "vuln",
            "--timeout", f"{int(timeout_s)}s"]  # fmt: skip
    return CommandScanner("trivy", argv, timeout_s=timeout_s)


def grype(binary: str, timeout_s: float) -> CommandScanner:
    # `docker:` makes grype read the image from the local engine, never a registry.
    return _PrefixedScanner("grype", [binary, "-q", "-o", "cyclonedx-json"], "docker:", timeout_s)


class _PrefixedScanner(CommandScanner):
    def __init__(self, name: str, argv: list[str], prefix: str, timeout_s: float) -> None:
        super().__init__(name, argv, timeout_s=timeout_s)
        self.prefix = prefix

    async def scan(self, image: str) -> dict[str, Any]:
        return await super().scan(self.prefix + image)


def find_scanner(
    timeout_s: float = 600.0, search_path: str | None = None
) -> VulnerabilityScanner | None:
    """Trivy when installed, else Grype, else None (the SBOM is made without matching)."""
    for name, make in (("trivy", trivy), ("grype", grype)):
        binary = shutil.which(name, path=search_path)
        if binary:
            return make(binary, timeout_s)
    return None
