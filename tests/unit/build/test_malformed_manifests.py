"""Malformed manifests are the user's input: detection answers or refuses, never crashes."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.build import DetectionError
from tests.unit.build.helpers import MakeRepo, run

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
FIELDS = ("scripts", "main", "dependencies", "devDependencies", "packageManager", "workspaces")
PACKAGE_JSON = st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=len(FIELDS))


@settings(max_examples=40, deadline=None)
@given(package=PACKAGE_JSON)
def test_any_package_json_shape_is_detected_or_refused(package: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "package.json").write_text(json.dumps(package))
        try:
            found = run(root)
        except DetectionError:
            return
        assert found.preset in ("nextjs", "vite", "node")


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("Cargo.toml", 'package = "x"\n'),
        ("Cargo.toml", "workspace = [1, 2]\n"),
        ("Cargo.toml", "[package]\nversion = '1'\n"),
        ("Cargo.toml", "bin = 3\n[package]\nname = 'a'\n"),
        ("pyproject.toml", "project = 3\n"),
        ("pyproject.toml", "[project]\ndependencies = 'flask'\n"),
        ("pyproject.toml", "tool = 'poetry'\n"),
    ],
)
def test_malformed_toml_manifest_is_detected_or_refused(
    make_repo: MakeRepo, name: str, text: str
) -> None:
    try:
        run(make_repo({name: text, "src/main.rs": "", "main.py": "import os\n"}))
    except DetectionError:
        pass
