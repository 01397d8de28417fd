"""Scanner subprocesses, with stand-in `trivy` and `grype` executables on a private PATH."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.postdeploy.adapters.scanners import find_scanner
from services.postdeploy.ports import ScannerFailed

REPORT = {"bomFormat": "CycloneDX", "specVersion": "1.5", "vulnerabilities": []}


def executable(directory: Path, name: str, script: str) -> Path:
    path = directory / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)
    return path


def test_no_scanner_on_path_means_none(tmp_path: Path) -> None:
    assert find_scanner(search_path=str(tmp_path)) is None


async def test_trivy_is_preferred_and_its_cyclonedx_report_is_parsed(tmp_path: Path) -> None:
    executable(tmp_path, "grype", "exit 3\n")
    args = tmp_path / "args"
    executable(tmp_path, "trivy", f"echo \"$@\" > {args}\necho '{json.dumps(REPORT)}'\n")
    scanner = find_scanner(search_path=str(tmp_path))
    assert scanner is not None and scanner.name == "trivy"
    assert await scanner.scan("slipway/app:1") == REPORT
    assert args.read_text().split()[-1] == "slipway/app:1"
    assert "--format cyclonedx" in args.read_text()


async def test_grype_reads_the_image_from_the_local_engine(tmp_path: Path) -> None:
    args = tmp_path / "args"
    executable(tmp_path, "grype", f"echo \"$@\" > {args}\necho '{json.dumps(REPORT)}'\n")
    scanner = find_scanner(search_path=str(tmp_path))
    assert scanner is not None and scanner.name == "grype"
    await scanner.scan("sha256:abc")
    assert args.read_text().split()[-1] == "docker:sha256:abc"


@pytest.mark.parametrize(
    ("script", "why"),
    [
        (
            "echo 'FATAL: no vulnerability DB' >&2\nexit 1\n",
            "exited with 1: FATAL: no vulnerability DB",
        ),
        ("echo 'not json'\n", "printed no CycloneDX JSON"),
        ("echo '{\"a\": 1}'\n", "not a CycloneDX document"),
        ("sleep 5\n", "took longer than 1s"),
    ],
)
async def test_a_failing_scanner_raises_with_the_reason(
    tmp_path: Path, script: str, why: str
) -> None:
    executable(tmp_path, "trivy", script)
    scanner = find_scanner(timeout_s=1, search_path=str(tmp_path))
    assert scanner is not None
    with pytest.raises(ScannerFailed, match=why):
        await scanner.scan("img")
