"""Uploaded archives (static bundles, image tarballs): validate safely, extract safely.

Both read the archive as a stream from its file (never whole into memory) and apply the same
rules (`archive_rules`): validation is an extraction into nothing, so whatever validates also
extracts, and extraction re-checks every entry and counts the real bytes it writes.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from libs.archives.formats import ArchiveFormat, Entry, open_archive
from libs.archives.images import ImageArchiveInfo, read_docker_save_manifest
from libs.archives.rules import (
    ArchiveError,
    ArchiveLimits,
    Member,
    MemberKind,
    NotAnImageArchive,
    TreeChecker,
    UnreadableArchive,
    UnsafeArchive,
    human_size,
)

__all__ = [
    "ArchiveError",
    "ArchiveFormat",
    "ArchiveLimits",
    "ArchiveSummary",
    "ImageArchiveInfo",
    "NotAnImageArchive",
    "UnreadableArchive",
    "UnsafeArchive",
    "extract_archive",
    "read_docker_save_manifest",
    "validate_archive",
]


@dataclass(frozen=True)
class ArchiveSummary:
    format: ArchiveFormat
    entries: int
    files: int
    expanded_bytes: int


class _Sink(Protocol):
    def directory(self, path: str, member: Member) -> None: ...
    def file(self, path: str, member: Member, entry: Entry) -> int: ...
    def symlink(self, path: str, member: Member) -> None: ...
    def hardlink(self, path: str, source: str) -> None: ...


def validate_archive(
    path: str | os.PathLike[str], limits: ArchiveLimits | None = None
) -> ArchiveSummary:
    """Read the whole archive, content included; raise an `ArchiveError` on the first problem."""
    return _walk(Path(path), limits or ArchiveLimits(), _NullSink())


def extract_archive(
    path: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    limits: ArchiveLimits | None = None,
) -> ArchiveSummary:
    """Extract into `dest` (created if missing, else it must be an empty directory).

    On any error nothing extracted is left behind.
    """
    target = Path(dest)
    created = not target.exists()
    target.mkdir(parents=True, exist_ok=True)
    if not target.is_dir() or any(target.iterdir()):
        raise ValueError(f"extraction target {target} must be an empty directory")
    try:
        return _walk(Path(path), limits or ArchiveLimits(), _DiskSink(target.resolve()))
    except BaseException:
        if created:
            shutil.rmtree(target, ignore_errors=True)
        else:
            for child in target.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
        raise


def _walk(path: Path, limits: ArchiveLimits, sink: _Sink) -> ArchiveSummary:
    checker = TreeChecker(limits)
    real_bytes = 0
    with open_archive(path, limits) as (fmt, entries):
        for entry in entries:
            member = entry.member
            rel = checker.admit(member)
            if rel is None:
                continue
            if member.kind is MemberKind.DIR:
                sink.directory(rel, member)
            elif member.kind is MemberKind.SYMLINK:
                sink.symlink(rel, member)
            elif member.kind is MemberKind.HARDLINK:
                sink.hardlink(rel, checker.hardlink_source(member))
            else:
                real_bytes += sink.file(rel, member, entry)
                if real_bytes > limits.max_expanded_bytes:
                    raise UnsafeArchive(
                        f"the archive expands to more than {human_size(limits.max_expanded_bytes)}"
                    )
    checker.check_links()
    if checker.files == 0:
        raise UnreadableArchive("the archive contains no files")
    return ArchiveSummary(fmt, checker.entries, checker.files, real_bytes)


class _NullSink:
    def directory(self, path: str, member: Member) -> None:
        pass

    def file(self, path: str, member: Member, entry: Entry) -> int:
        return sum(len(chunk) for chunk in entry.chunks())

    def symlink(self, path: str, member: Member) -> None:
        pass

    def hardlink(self, path: str, source: str) -> None:
        pass


class _DiskSink:
    """Writes under `root`; every parent is checked to really lie inside it (defence in depth)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def directory(self, path: str, member: Member) -> None:
        target = self._place(path)
        if target.is_symlink() or (target.exists() and not target.is_dir()):
            raise UnsafeArchive(f"{member.name!r} collides with another entry")
        target.mkdir(mode=0o755, exist_ok=True)

    def file(self, path: str, member: Member, entry: Entry) -> int:
        target = self._place(path)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        written = 0
        fd = os.open(target, flags, 0o600)
        with os.fdopen(fd, "wb") as out:
            for chunk in entry.chunks():
                out.write(chunk)
                written += len(chunk)
        # No setuid/setgid/sticky and nothing unreadable: these files are served, not run as root.
        os.chmod(target, 0o755 if member.mode & 0o111 else 0o644)
        if member.mtime is not None:
            os.utime(target, (member.mtime, member.mtime))
        return written

    def symlink(self, path: str, member: Member) -> None:
        os.symlink(member.link or "", self._place(path))

    def hardlink(self, path: str, source: str) -> None:
        os.link(self._place(source), self._place(path), follow_symlinks=False)

    def _place(self, path: str) -> Path:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        parent = target.parent.resolve()
        if parent != self.root and self.root not in parent.parents:
            raise UnsafeArchive(f"{path!r} would be written outside the extraction directory")
        return target
