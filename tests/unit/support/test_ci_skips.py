"""The CI rule, checked in a child pytest so its failures do not become ours."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.ci_skips import in_ci

REPO = Path(__file__).resolve().parents[3]
SAMPLE = """
import pytest

pytestmark = []

def test_skipped():
    pytest.skip("no engine here")

@pytest.mark.skip(reason="marked away")
def test_marked():
    pass

@pytest.mark.xfail(reason="known bug")
def test_xfail():
    assert False

def test_passes():
    pass
"""


def _run(tmp_path: Path, ci: str | None, body: str = SAMPLE) -> subprocess.CompletedProcess[str]:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_sample.py").write_text(body)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    env["PYTHONPATH"] = str(REPO)
    plugins = ["tests.support.ci_skips", "no:cacheprovider", "no:asyncio", "no:hypothesispytest"]
    argv = [sys.executable, "-m", "pytest", "-rA", str(tmp_path)]
    for plugin in plugins:
        argv += ["-p", plugin]
    return subprocess.run(
        argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_skips_stay_skips_outside_ci(tmp_path: Path) -> None:
    result = _run(tmp_path, None)
    assert "1 passed, 2 skipped, 1 xfailed" in result.stdout
    assert result.returncode == 0


def test_skips_fail_in_ci_with_their_reason(tmp_path: Path) -> None:
    result = _run(tmp_path, "true")
    # A skip raised in setup (a marker, a fixture) fails the setup, which pytest calls an error.
    assert "1 failed, 1 passed, 1 xfailed, 1 error" in result.stdout
    assert "CI=true turns every skip into a failure: no engine here" in result.stdout
    assert "marked away" in result.stdout
    assert result.returncode == 1


def test_a_module_level_skip_fails_collection_in_ci(tmp_path: Path) -> None:
    body = 'import pytest\npytest.skip("module gone", allow_module_level=True)\n'
    result = _run(tmp_path, "true", body)
    assert "module gone" in result.stdout
    assert result.returncode != 0


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("1", True), ("TRUE", True), ("false", False), ("", False)],
)
def test_ci_is_recognised_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: bool
) -> None:
    monkeypatch.setenv("CI", value)
    assert in_ci() is expected
