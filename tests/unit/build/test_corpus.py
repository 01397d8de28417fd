"""Detection over a corpus of small, realistic apps: ≥ 90% right, every refusal refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from libs.events.config import parse_slipway_toml
from services.build import Detection, DetectionError, DockerfileSettings, detect

CORPUS = Path(__file__).resolve().parents[2] / "fixtures" / "corpus"
CASES = sorted(p for p in CORPUS.iterdir() if (p / "expected.json").is_file())
FACTS = (
    "preset",
    "kind",
    "signal",
    "start_command",
    "static_output_dir",
    "package_manager",
    "port",
    "context_dir",
)


def _expected(case: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((case / "expected.json").read_text())
    return data


def _run(case: Path) -> Detection:
    expected = _expected(case)
    toml_file = case / "slipway.toml"
    toml = parse_slipway_toml(toml_file.read_text()) if toml_file.is_file() else None
    return detect(
        case,
        app_dir=expected.get("app_dir"),
        preset=expected.get("forced_preset"),
        toml=toml,
        settings=DockerfileSettings(),
    )


def _mismatches(case: Path) -> list[str]:
    """What differs from expected.json (empty: the case is right)."""
    expected = _expected(case)
    try:
        found = _run(case)
    except DetectionError as exc:
        return [f"refused: {exc}"]
    wrong = [
        f"{key}: {getattr(found, key)!r} != {expected[key]!r}"
        for key in FACTS
        if key in expected and getattr(found, key) != expected[key]
    ]
    wrong += [
        f"Dockerfile lacks {s!r}"
        for s in expected.get("dockerfile_contains", [])
        if s not in found.dockerfile
    ]
    wrong += [
        f"Dockerfile has {s!r}"
        for s in expected.get("dockerfile_not_contains", [])
        if s in found.dockerfile
    ]
    return wrong


SUPPORTED = [c for c in CASES if not _expected(c).get("refused")]
REFUSED = [c for c in CASES if _expected(c).get("refused")]


def test_corpus_is_large_enough_and_has_refusals() -> None:
    assert len(CASES) >= 40
    assert len(REFUSED) >= 5


def test_corpus_score_is_at_least_ninety_percent() -> None:
    results = {case.name: _mismatches(case) for case in SUPPORTED}
    right = sum(1 for wrong in results.values() if not wrong)
    score = right / len(SUPPORTED)
    report = "\n".join(f"{n}: {'; '.join(w)}" for n, w in results.items() if w)
    print(f"corpus score: {right}/{len(SUPPORTED)} = {score:.3f}")
    assert score >= 0.9, report


@pytest.mark.parametrize("case", REFUSED, ids=lambda c: c.name)
def test_corpus_refusal_is_refused_with_what_was_looked_for(case: Path) -> None:
    with pytest.raises(DetectionError) as info:
        _run(case)
    needle = _expected(case).get("message_contains")
    if needle:
        assert needle in str(info.value)
