"""The route files Caddy reads per request (`caddy_config`): read the layout, write atomically."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import threading
from pathlib import Path

from services.routing.caddy_config import HOST, SLOT_PREFIX, Layout, write_order

_UPSTREAM = re.compile(r"u(\d+)")

# One lock per routes directory in this process: two writers (threads of `asyncio.to_thread`)
# must not interleave a slot's emptying and refilling.
_LOCKS: dict[Path, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _lock_for(root: Path) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(root, threading.Lock())


class RouteFiles:
    """One routes directory. Blocking file calls: run them off the event loop."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).absolute()
        self._lock = _lock_for(self.root)

    def layout(self) -> Layout:
        slots: dict[int, str] = {}
        widths: dict[str, int] = {}
        if not self.root.is_dir():
            return Layout()
        for site in self.root.iterdir():
            if not site.is_dir():
                continue
            found = [int(m.group(1)) for p in site.iterdir() if (m := _UPSTREAM.fullmatch(p.name))]
            if found:
                widths[site.name] = max(found) + 1
            if site.name.startswith(SLOT_PREFIX) and site.name[len(SLOT_PREFIX) :].isdigit():
                slots[int(site.name[len(SLOT_PREFIX) :])] = self.read(f"{site.name}/{HOST}")
        ordered = tuple(slots.get(i, "") for i in range(max(slots, default=-1) + 1))
        return Layout(ordered, widths)

    def read(self, relative: str) -> str:
        try:
            return (self.root / relative).read_text()
        except FileNotFoundError:
            return ""

    def differing(self, files: dict[str, str]) -> dict[str, str]:
        out = {}
        for path, content in files.items():
            target = self.root / path
            if not target.is_file() or target.read_text() != content:
                out[path] = content
        return out

    def write(self, files: dict[str, str]) -> int:
        """Writes the files that differ, in `write_order`; returns how many were written.

        A slot moving to another host is first emptied, so its old host never sees the new
        site's files. Writers in one process take turns; each file is replaced atomically."""
        with self._lock:
            changed = self.differing(files)
            for path, content in changed.items():
                if path.rsplit("/", 1)[-1] == HOST and content and self.read(path):
                    self._put(path, "")
            for path, content in sorted(changed.items(), key=lambda kv: write_order(*kv)):
                self._put(path, content)
            return len(changed)

    def _put(self, relative: str, content: str) -> None:
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        # A name of its own per write: another process writing the same file never renames ours.
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        tmp = Path(name)
        try:
            with os.fdopen(fd, "w") as out:
                out.write(content)
            # Readable by a Caddy running as another user (compose): routes are not secrets.
            tmp.chmod(0o644)
            os.replace(tmp, target)  # atomic: a request reads the old or the new, never half
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
