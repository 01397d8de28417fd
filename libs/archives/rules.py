"""The safety rules every archive member must pass, independent of the archive format.

Paths are checked lexically against a virtual tree of what the archive created so far, so the
same rules hold when validating an upload and while extracting it:
- no absolute paths, no `..`, no NUL or backslash, no over-long names;
- no device files, FIFOs, sockets or sparse files;
- a symlink's target may only climb (`..`) before it descends, and never above the archive root;
  nothing may be created through a symlink, so a link's real place is its lexical place;
- a hardlink must name an earlier regular file of the archive;
- at most `max_files` entries and `max_expanded_bytes` of file content.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

MiB = 1024 * 1024
GiB = 1024 * MiB
_MAX_COMPONENT_BYTES = 255
_MAX_PATH_BYTES = 4096


class ArchiveError(Exception):
    """Base of every archive refusal; `reason` is safe to show the uploader (422)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnsafeArchive(ArchiveError):
    """The archive could write outside its root, hold special files, or expand too much."""


class UnreadableArchive(ArchiveError):
    """Not a tar, tar.gz or zip, or corrupt."""


class NotAnImageArchive(ArchiveError):
    """A readable archive that is not the output of `docker save`."""


@dataclass(frozen=True)
class ArchiveLimits:
    max_files: int = 100_000
    max_expanded_bytes: int = 2 * GiB
    max_header_bytes: int = 1 * MiB
    """Largest single metadata read (a pax header, a long name, a symlink target)."""

    @property
    def stream_budget(self) -> int:
        """Bytes of decompressed tar stream we accept: content plus generous header room."""
        return self.max_expanded_bytes + self.max_files * 4096 + 4 * self.max_header_bytes


class MemberKind(StrEnum):
    FILE = "file"
    DIR = "directory"
    SYMLINK = "symlink"
    HARDLINK = "hardlink"
    DEVICE = "device file"
    FIFO = "FIFO"
    SOCKET = "socket"
    SPARSE = "sparse file"
    OTHER = "special entry"


_REFUSED_KINDS = {
    MemberKind.DEVICE,
    MemberKind.FIFO,
    MemberKind.SOCKET,
    MemberKind.SPARSE,
    MemberKind.OTHER,
}


@dataclass(frozen=True)
class Member:
    """One archive entry as its header describes it (format-neutral)."""

    name: str
    kind: MemberKind
    size: int = 0
    link: str | None = None
    mode: int = 0o644
    mtime: float | None = None


class TreeChecker:
    """Admits members one by one, in archive order, and remembers what they created."""

    def __init__(self, limits: ArchiveLimits) -> None:
        self.limits = limits
        self.entries = 0
        self.files = 0
        self.declared_bytes = 0
        self._kinds: dict[str, MemberKind] = {}
        self._implicit_dirs: set[str] = set()
        self._links: dict[str, list[str]] = {}

    def admit(self, member: Member) -> str | None:
        """The member's normalized relative path, None for the root itself; raises if unsafe."""
        self.entries += 1
        if self.entries > self.limits.max_files:
            raise UnsafeArchive(f"the archive has more than {self.limits.max_files} entries")
        if member.kind in _REFUSED_KINDS:
            raise UnsafeArchive(f"{member.name!r} is a {member.kind.value}; only files allowed")
        parts = normalize(member.name)
        if not parts:
            if member.kind is MemberKind.DIR:
                return None
            raise UnsafeArchive(f"entry {member.name!r} has no name")
        path = "/".join(parts)
        self._check_parents(parts, member.name)
        self._check_conflict(path, member)
        if member.kind is MemberKind.SYMLINK:
            _check_symlink(parts, member)
            self._links[path] = _link_target(parts, member.link or "")
        elif member.kind is MemberKind.HARDLINK:
            self._check_hardlink(member)
        elif member.kind is MemberKind.FILE:
            self.files += 1
            self._count(member.size, member.name)
        self._kinds[path] = member.kind
        for i in range(1, len(parts)):
            self._implicit_dirs.add("/".join(parts[:i]))
        return path

    def check_links(self) -> None:
        """Refuses symlinks that never reach a real place (a loop, alone or through others)."""
        for start in self._links:
            parts = start.split("/")
            for _ in range(40):
                hop = next(
                    (i for i in range(len(parts), 0, -1) if "/".join(parts[:i]) in self._links),
                    None,
                )
                if hop is None:
                    break
                parts = self._links["/".join(parts[:hop])] + parts[hop:]
            else:
                raise UnsafeArchive(f"symlink {start!r} is part of a loop")

    def hardlink_source(self, member: Member) -> str:
        return "/".join(normalize(member.link or ""))

    def _count(self, size: int, name: str) -> None:
        if size < 0:
            raise UnsafeArchive(f"{name!r} declares a negative size")
        self.declared_bytes += size
        if self.declared_bytes > self.limits.max_expanded_bytes:
            raise UnsafeArchive(
                f"the archive expands to more than {human_size(self.limits.max_expanded_bytes)}"
            )

    def _check_parents(self, parts: list[str], name: str) -> None:
        for i in range(1, len(parts)):
            kind = self._kinds.get("/".join(parts[:i]))
            if kind is not None and kind is not MemberKind.DIR:
                raise UnsafeArchive(f"{name!r} would be created through a {kind.value}")

    def _check_conflict(self, path: str, member: Member) -> None:
        seen = self._kinds.get(path)
        if seen is MemberKind.DIR and member.kind is MemberKind.DIR:
            return
        if seen is not None:
            raise UnsafeArchive(f"{member.name!r} appears twice in the archive")
        if path in self._implicit_dirs and member.kind is not MemberKind.DIR:
            raise UnsafeArchive(f"{member.name!r} replaces a directory of the archive")

    def _check_hardlink(self, member: Member) -> None:
        target = member.link or ""
        if target.startswith("/"):
            raise UnsafeArchive(f"hardlink {member.name!r} points outside the archive: {target!r}")
        try:
            parts = normalize(target)
        except UnsafeArchive:
            raise UnsafeArchive(
                f"hardlink {member.name!r} points outside the archive: {target!r}"
            ) from None
        if self._kinds.get("/".join(parts)) is not MemberKind.FILE:
            raise UnsafeArchive(
                f"hardlink {member.name!r} must point to an earlier regular file, not {target!r}"
            )


def normalize(name: str) -> list[str]:
    """Split an archive path into components; refuse anything that could leave the root."""
    if "\x00" in name:
        raise UnsafeArchive(f"{name!r} contains a NUL byte")
    if "\\" in name:
        raise UnsafeArchive(f"{name!r} uses '\\' as a separator; re-create it with '/'")
    if name.startswith("/"):
        raise UnsafeArchive(f"{name!r} is an absolute path")
    if len(name.encode("utf-8", "surrogateescape")) > _MAX_PATH_BYTES:
        raise UnsafeArchive(f"{name[:60]!r}... is longer than {_MAX_PATH_BYTES} bytes")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    for part in parts:
        if part == "..":
            raise UnsafeArchive(f"{name!r} contains a '..' component")
        if len(part.encode("utf-8", "surrogateescape")) > _MAX_COMPONENT_BYTES:
            raise UnsafeArchive(f"a component of {name!r} is longer than 255 bytes")
    return parts


def _check_symlink(parts: list[str], member: Member) -> None:
    target = member.link or ""
    outside = UnsafeArchive(f"symlink {member.name!r} points outside the archive: {target!r}")
    if not target or "\x00" in target:
        raise UnsafeArchive(f"symlink {member.name!r} has an invalid target {target!r}")
    if target.startswith("/"):
        raise outside
    steps = [p for p in target.split("/") if p not in ("", ".")]
    climbs = 0
    for step in steps:
        if step != "..":
            break
        climbs += 1
    if ".." in steps[climbs:]:
        # After descending, '..' would resolve relative to wherever a symlink led.
        raise UnsafeArchive(f"symlink {member.name!r} uses '..' after a directory name: {target!r}")
    if climbs > len(parts) - 1:
        raise outside


def _link_target(parts: list[str], target: str) -> list[str]:
    """Where a (checked) symlink points, relative to the archive root."""
    steps = [p for p in target.split("/") if p not in ("", ".")]
    climbs = 0
    while climbs < len(steps) and steps[climbs] == "..":
        climbs += 1
    return parts[: len(parts) - 1 - climbs] + steps[climbs:]


def human_size(size: int) -> str:
    for unit, scale in (("GiB", GiB), ("MiB", MiB), ("KiB", 1024)):
        if size >= scale:
            return f"{size / scale:g} {unit}"
    return f"{size} bytes"
