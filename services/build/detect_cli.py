"""`slipway detect <path>`: what the build would do with a checkout, without building it."""

from __future__ import annotations

import json
from pathlib import Path

from libs.events.config import SlipwayToml, SlipwayTomlError, parse_slipway_toml
from libs.settings import Settings
from services.build.detect import detect
from services.build.types import Detection, DetectionError, DockerfileSettings

EXIT_OK = 0
EXIT_NO_MATCH = 2


def _toml(root: Path, app_dir: str | None) -> SlipwayToml | None:
    for folder in ([root / app_dir] if app_dir else []) + [root]:
        candidate = folder / "slipway.toml"
        if candidate.is_file():
            return parse_slipway_toml(candidate.read_text(encoding="utf-8", errors="replace"))
    return None


def _text(d: Detection) -> str:
    lines = [
        f"preset:  {d.preset} ({d.kind})",
        f"signal:  {d.signal}",
    ]
    if d.start_command:
        lines.append(f"start:   {d.start_command}")
    if d.static_output_dir:
        lines.append(f"static:  {d.static_output_dir}")
    if d.package_manager:
        lines.append(f"manager: {d.package_manager}")
    if d.port:
        lines.append(f"port:    {d.port}")
    if d.context_dir != ".":
        lines.append(f"context: {d.context_dir}")
    source = "generated" if d.generated else d.dockerfile_path
    return "\n".join([*lines, "", f"# Dockerfile ({source})", d.dockerfile.rstrip("\n")])


def detect_report(
    path: str | Path,
    as_json: bool,
    *,
    preset: str | None = None,
    app_dir: str | None = None,
    settings: DockerfileSettings | None = None,
) -> tuple[int, str]:
    """(exit code, text): 0 with the detection, 2 with one line saying why nothing matches."""
    root = Path(path)
    dockerfile_settings = settings or DockerfileSettings.from_settings(Settings())
    try:
        toml = _toml(root, app_dir) if root.is_dir() else None
        found = detect(
            root, preset=preset, app_dir=app_dir, toml=toml, settings=dockerfile_settings
        )
    except (DetectionError, SlipwayTomlError) as exc:
        if as_json:
            return EXIT_NO_MATCH, json.dumps({"error": str(exc)})
        return EXIT_NO_MATCH, f"error: {exc}"
    if as_json:
        payload = {
            "preset": found.preset,
            "kind": found.kind,
            "signal": found.signal,
            "start_command": found.start_command,
            "static_output_dir": found.static_output_dir,
            "package_manager": found.package_manager,
            "port": found.port,
            "context_dir": found.context_dir,
            "dockerfile": found.dockerfile,
        }
        return EXIT_OK, json.dumps(payload, indent=2)
    return EXIT_OK, _text(found)
