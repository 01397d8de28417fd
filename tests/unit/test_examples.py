"""The bundled examples of the README: detected as documented, and the apps answer."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from libs.infra import free_port
from services.build.detect_cli import detect_report
from services.build.types import DockerfileSettings

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize(
    ("example", "preset"),
    [("static-site", "static"), ("dockerfile-app", "dockerfile"), ("python-app", "python")],
)
def test_each_example_is_detected_as_the_readme_says(example: str, preset: str) -> None:
    code, text = detect_report(EXAMPLES / example, False, settings=DockerfileSettings())
    assert code == 0, text
    assert text.startswith(f"preset:  {preset} ")


def test_the_dockerfile_app_takes_its_base_image_as_a_build_argument() -> None:
    text = (EXAMPLES / "dockerfile-app" / "Dockerfile").read_text()
    assert "ARG BASE_IMAGE=python:3.12-slim" in text
    assert "FROM ${BASE_IMAGE}" in text


@pytest.fixture
def serve() -> Iterator[Callable[..., str]]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(app: Path, **env: str) -> str:
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, str(app)],
            env={**os.environ, "PORT": str(port), "HOST": "127.0.0.1", **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(proc)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=1) as resp:
                    assert resp.status == 200
                    return base
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.05)

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return str(resp.read().decode())


def test_the_python_app_greets_with_its_variable_and_deployment(serve: Callable[..., str]) -> None:
    base = serve(EXAMPLES / "python-app" / "app.py", GREETING="Hi", SLIPWAY_DEPLOYMENT_ID="d1")
    assert get(base + "/") == "Hi (deployment d1)\n"
    assert get(base + "/tasks/tick") == "ticked\n"


def test_the_dockerfile_app_reports_its_deployment(serve: Callable[..., str]) -> None:
    base = serve(EXAMPLES / "dockerfile-app" / "app.py", SLIPWAY_DEPLOYMENT_ID="d2")
    assert '"deployment": "d2"' in get(base + "/")
