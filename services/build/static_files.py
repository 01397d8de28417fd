"""A static build's files, as copied out of its image, repacked for the object store.

`docker cp`-style archives hold the directory itself (`site/...`); the stored tarball holds its
content at the top, without what must never be published (`STATIC_SKIP`, `.git` anywhere).
"""

from __future__ import annotations

import copy
import tarfile
from pathlib import Path

from services.build.types import STATIC_SKIP


class StaticOutputError(ValueError):
    """The static output cannot be published; the message is for the user."""


def repack_static(export_tar: Path, base: str, dest: Path) -> int:
    """Write the files under `base/` of `export_tar` to `dest` (tar.gz); returns how many files."""
    files = 0
    with tarfile.open(export_tar) as src, tarfile.open(dest, "w:gz", compresslevel=6) as out:
        for member in src:
            name = member.name[2:] if member.name.startswith("./") else member.name
            if not name.startswith(base + "/"):
                continue
            rel = name[len(base) + 1 :].rstrip("/")
            parts = rel.split("/")
            if not rel or parts[0] in STATIC_SKIP or ".git" in parts:
                continue
            data = None
            if member.isfile() or member.islnk():
                # A hard link becomes a copy: the stored tarball never depends on entry order.
                data = src.extractfile(member)
                if member.islnk():
                    member = _as_file(member, src)
                files += 1
            elif not (member.isdir() or member.issym()):
                continue
            stored = copy.copy(member)  # the source's own entries must keep their names
            stored.name = rel
            stored.uid = stored.gid = 0
            stored.uname = stored.gname = ""
            out.addfile(stored, data)
    if files == 0:
        raise StaticOutputError(f"the static build produced no files under /{base}")
    return files


def _as_file(member: tarfile.TarInfo, src: tarfile.TarFile) -> tarfile.TarInfo:
    target = src.getmember(member.linkname)
    copy = tarfile.TarInfo(member.name)
    copy.size = target.size
    copy.mode = target.mode
    copy.mtime = target.mtime
    return copy


def pack_static_dir(folder: Path, dest: Path, root: Path) -> int:
    """A plain static site needs no image: its files straight into `dest` (tar.gz).

    Leaves out what `repack_static` leaves out (.git, Slipway's own build files) and symlinks,
    which a static site does not need and which could point anywhere on the build host.
    """
    folder = folder.resolve()
    if not folder.is_relative_to(root.resolve()) or not folder.is_dir():
        raise StaticOutputError(f"static directory {folder.name!r} not found in the repository")
    files = 0
    with tarfile.open(dest, "w:gz", compresslevel=6) as out:
        for path in sorted(folder.rglob("*")):
            rel = path.relative_to(folder)
            if rel.parts[0] in STATIC_SKIP or ".git" in rel.parts or path.is_symlink():
                continue
            if path.is_file():
                out.add(path, arcname=rel.as_posix(), recursive=False)
                files += 1
            elif path.is_dir():
                out.add(path, arcname=rel.as_posix(), recursive=False)
    if files == 0:
        raise StaticOutputError(f"{folder.name or '.'} holds no files to serve")
    return files
