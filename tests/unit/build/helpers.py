"""Helpers for the build tests: write a tiny repository, run detection on it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from libs.events.config import SlipwayToml, parse_slipway_toml
from services.build import Detection, DockerfileSettings, detect

MakeRepo = Callable[[dict[str, str]], Path]


def pkg(**fields: Any) -> str:
    return json.dumps(fields)


def toml(text: str) -> SlipwayToml:
    return parse_slipway_toml(text)


def run(
    root: Path,
    *,
    preset: str | None = None,
    app_dir: str | None = None,
    slipway: SlipwayToml | None = None,
    settings: DockerfileSettings | None = None,
) -> Detection:
    return detect(
        root,
        preset=preset,
        app_dir=app_dir,
        toml=slipway,
        settings=settings or DockerfileSettings(),
    )
