"""A read-only, bounded view of a checked-out repository.

The repository is untrusted: nothing here follows a link out of it, reads more than a few
hundred KiB of a file, or lists more than a few hundred entries of a directory.
"""

from __future__ import annotations

import json
import posixpath
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from services.build.types import DetectionError

MAX_READ = 512 * 1024
MAX_LIST = 500


class Repo:
    """The repository at ``root``, seen from ``base`` (the app directory, relative to ``root``)."""

    def __init__(self, root: Path, base: str = ".") -> None:
        self.root = root.resolve()
        self.base = posixpath.normpath(base)

    def at(self, base: str) -> Repo:
        return Repo(self.root, base)

    def rel(self, name: str) -> str:
        """``name`` (relative to base) as a path relative to the repository root."""
        return posixpath.normpath(posixpath.join(self.base, name))

    def _path(self, name: str) -> Path | None:
        rel = self.rel(name)
        if rel.startswith("../") or rel == ".." or posixpath.isabs(rel):
            return None
        path = self.root / rel
        try:
            resolved = path.resolve()
        except OSError:
            return None
        if resolved != self.root and not resolved.is_relative_to(self.root):
            return None
        return resolved

    def is_file(self, name: str) -> bool:
        path = self._path(name)
        return path is not None and path.is_file()

    def is_dir(self, name: str) -> bool:
        path = self._path(name)
        return path is not None and path.is_dir()

    def first(self, *names: str) -> str | None:
        return next((n for n in names if self.is_file(n)), None)

    def text(self, name: str) -> str | None:
        path = self._path(name)
        if path is None or not path.is_file():
            return None
        with path.open("rb") as f:
            return f.read(MAX_READ).decode("utf-8", errors="replace")

    def json(self, name: str) -> dict[str, Any] | None:
        text = self.text(name)
        if text is None:
            return None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DetectionError(
                f"{self.rel(name)} is not valid JSON (line {exc.lineno})"
            ) from None
        if not isinstance(data, dict):
            raise DetectionError(f"{self.rel(name)} must hold a JSON object")
        return data

    def toml(self, name: str) -> dict[str, Any] | None:
        text = self.text(name)
        if text is None:
            return None
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise DetectionError(f"{self.rel(name)} is not valid TOML: {exc}") from None

    def listdir(self, name: str = ".") -> list[str]:
        path = self._path(name)
        if path is None or not path.is_dir():
            return []
        names: list[str] = []
        for entry in path.iterdir():
            names.append(entry.name)
            if len(names) >= MAX_LIST:
                break
        return sorted(names)

    def files(self, name: str = ".", suffix: str = "") -> list[str]:
        """Regular files directly in ``name`` whose names end with ``suffix``."""
        prefix = "" if name in (".", "") else name.rstrip("/") + "/"
        return [
            prefix + n
            for n in self.listdir(name)
            if n.endswith(suffix) and self.is_file(prefix + n)
        ]

    def subdirs(self, name: str = ".") -> list[str]:
        prefix = "" if name in (".", "") else name.rstrip("/") + "/"
        return [
            prefix + n
            for n in self.listdir(name)
            if not n.startswith(".") and n != "node_modules" and self.is_dir(prefix + n)
        ]

    def ancestors(self) -> Iterator[str]:
        """Directories from base's parent up to the root, relative to the root."""
        current = self.base
        while current not in (".", ""):
            current = posixpath.dirname(current) or "."
            yield current


def table(data: dict[str, Any], key: str) -> dict[str, Any]:
    """``data[key]`` when it is a table/object; a malformed manifest reads as empty, not a crash."""
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def array(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    return value if isinstance(value, list) else []
