"""Whatever the member names and link targets, an archive that extracts stays inside its root."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import event, given, settings
from hypothesis import strategies as st

from libs.archives import ArchiveError, extract_archive, validate_archive
from tests.unit.gateway.archive_builders import T, directory, file, hardlink, symlink, write_tar

_names = st.sampled_from(["a", "b", "c", "d", "e"])
_parts = st.one_of(_names, _names, _names, st.sampled_from(["..", ".", ""]))
_paths = st.lists(_parts, min_size=1, max_size=4).map("/".join)
_safe_paths = st.lists(_names, min_size=1, max_size=3).map("/".join)
_climbs = st.lists(st.just(".."), max_size=2).map("/".join)
_plausible = st.tuples(_climbs, _safe_paths).map(lambda t: f"{t[0]}/{t[1]}" if t[0] else t[1])
_targets = st.one_of(_plausible, _plausible, _plausible, _paths, _paths.map(lambda p: "/" + p))


@st.composite
def members(draw: st.DrawFn) -> list[T]:
    out: list[T] = [file("index.html")]
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["file", "dir", "symlink", "hardlink"]))
        name = draw(st.one_of(_safe_paths, _safe_paths, _safe_paths, _paths))
        if kind == "file":
            out.append(file(name, b"data"))
        elif kind == "dir":
            out.append(directory(name))
        elif kind == "symlink":
            out.append(symlink(name, draw(_targets)))
        else:
            earlier = [m.name for m in out if m.type == file("x").type]
            out.append(hardlink(name, draw(st.one_of(st.sampled_from(earlier), _targets))))
    return out


def _inside(root: Path, path: Path) -> bool:
    real = Path(os.path.realpath(path))
    return real == root or root in real.parents


@settings(max_examples=400, deadline=None)
@given(members())
def test_extracted_trees_never_reach_outside_and_agree_with_validation(entries: list[T]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        archive = write_tar(base / "a.tar", entries)
        dest = base / "out"
        try:
            validate_archive(archive)
            valid = True
        except ArchiveError:
            valid = False
        try:
            extract_archive(archive, dest)
            extracted = True
        except ArchiveError:
            extracted = False
        event("extracted" if extracted else "refused")
        assert valid == extracted
        if extracted:
            root = dest.resolve()
            for walk_root, dirs, files in os.walk(dest):
                for name in dirs + files:
                    assert _inside(root, Path(walk_root) / name)
        else:
            assert not dest.exists()
        # Nothing was ever written next to the archive.
        assert sorted(p.name for p in base.iterdir()) == ["a.tar", *(["out"] if extracted else [])]
