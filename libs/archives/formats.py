"""Reading tar, tar.gz and zip archives as a stream of format-neutral members.

Nothing is held in memory beyond one header and one chunk: tar.gz is decompressed on the fly,
every read of the decompressed stream is size-capped (a pax header claiming gigabytes cannot make
us allocate them) and the stream as a whole is budgeted, so a gzip bomb stops early.
"""

from __future__ import annotations

import calendar
import gzip
import io
import lzma
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from enum import StrEnum
from pathlib import Path
from typing import IO, Any, cast

from libs.archives.rules import (
    ArchiveLimits,
    Member,
    MemberKind,
    UnreadableArchive,
    UnsafeArchive,
    human_size,
)

CHUNK = 64 * 1024
# Only ever around reads of the archive itself: there an OSError means bad gzip/bzip2 data.
_CORRUPT = (
    tarfile.TarError,
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    NotImplementedError,
    OSError,
)


class ArchiveFormat(StrEnum):
    TAR = "tar"
    TAR_GZ = "tar.gz"
    ZIP = "zip"


def detect_format(path: Path) -> ArchiveFormat:
    with open(path, "rb") as f:
        head = f.read(512)
    if head[:2] == b"\x1f\x8b":
        return ArchiveFormat.TAR_GZ
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return ArchiveFormat.ZIP
    if head[257:262] == b"ustar" or (len(head) == 512 and _v7_checksum_ok(head)):
        return ArchiveFormat.TAR
    if not head:
        raise UnreadableArchive("the file is empty")
    if head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\x00" or head[:4] == b"\x28\xb5\x2f\xfd":
        raise UnreadableArchive("bzip2, xz and zstd are not supported; use tar, tar.gz or zip")
    raise UnreadableArchive("not a tar, tar.gz or zip archive")


def _v7_checksum_ok(block: bytes) -> bool:
    # A pre-POSIX tar has no magic; its header checksum is the only way to recognise it.
    field = block[148:156].split(b"\0", 1)[0].strip()
    try:
        stored = int(field, 8)
    except ValueError:
        return False
    return stored == sum(block[:148]) + 8 * ord(" ") + sum(block[156:])


class Entry:
    """A member plus its content; content can only be read while this entry is current."""

    def __init__(self, member: Member, opener: Any) -> None:
        self.member = member
        self._opener = opener

    def chunks(self) -> Iterator[bytes]:
        """The real bytes; refuses more than the header declared (a lying header)."""
        left = self.member.size
        with translate_errors(), self._opener() as stream:
            while True:
                chunk = stream.read(CHUNK)
                if not chunk:
                    break
                left -= len(chunk)
                if left < 0:
                    raise UnsafeArchive(f"{self.member.name!r} is larger than its header says")
                yield chunk
        if left > 0:
            raise UnreadableArchive(f"{self.member.name!r} is truncated")


@contextmanager
def translate_errors() -> Iterator[None]:
    try:
        yield
    except _CORRUPT as exc:
        raise UnreadableArchive(f"the archive is corrupt: {exc}") from None


@contextmanager
def open_archive(
    path: Path, limits: ArchiveLimits
) -> Iterator[tuple[ArchiveFormat, Iterator[Entry]]]:
    fmt = detect_format(path)
    if fmt is ArchiveFormat.ZIP:
        with translate_errors():
            zf = zipfile.ZipFile(path)
        with zf:
            yield fmt, _zip_entries(zf, limits)
        return
    with open(path, "rb") as raw, ExitStack() as stack:
        stream: IO[bytes] = raw
        if fmt is ArchiveFormat.TAR_GZ:
            stream = cast(IO[bytes], stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb")))
        bounded = cast(IO[bytes], BoundedStream(stream, limits))
        with translate_errors():
            tf = tarfile.open(fileobj=bounded, mode="r:")
        with tf:
            yield fmt, _tar_entries(tf)


class BoundedStream:
    """Seekable view of a (decompressed) stream that caps each read and the total length."""

    def __init__(self, inner: IO[bytes], limits: ArchiveLimits) -> None:
        self._inner = inner
        self._max_read = max(limits.max_header_bytes, CHUNK * 4)
        self._budget = limits.stream_budget
        self._limits = limits

    def tell(self) -> int:
        return self._inner.tell()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET and offset > self._budget:
            raise self._too_large()
        return self._inner.seek(offset, whence)

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0 or size > self._max_read:
            raise UnsafeArchive(
                f"an archive header needs {size} bytes; at most {self._max_read} allowed"
            )
        data = self._inner.read(size)
        if self._inner.tell() > self._budget:
            raise self._too_large()
        return data

    def _too_large(self) -> UnsafeArchive:
        return UnsafeArchive(
            f"the archive expands to more than {human_size(self._limits.max_expanded_bytes)}"
        )


def _tar_entries(tf: tarfile.TarFile) -> Iterator[Entry]:
    while True:
        with translate_errors():
            info = tf.next()
        if info is None:
            return
        member = Member(
            name=info.name,
            kind=_tar_kind(info),
            size=info.size if info.isreg() else 0,
            link=info.linkname if info.issym() or info.islnk() else None,
            mode=info.mode,
            mtime=float(info.mtime),
        )
        yield Entry(member, lambda info=info: _tar_reader(tf, info))
        # Drop references so a long archive does not keep every header alive.
        cast(Any, tf).members.clear()


def _tar_reader(tf: tarfile.TarFile, info: tarfile.TarInfo) -> IO[bytes]:
    reader = tf.extractfile(info)
    if reader is None:
        raise UnreadableArchive(f"{info.name!r} has no content")
    return reader


def _tar_kind(info: tarfile.TarInfo) -> MemberKind:
    if info.issparse():
        return MemberKind.SPARSE
    if info.isreg():
        return MemberKind.FILE
    if info.isdir():
        return MemberKind.DIR
    if info.issym():
        return MemberKind.SYMLINK
    if info.islnk():
        return MemberKind.HARDLINK
    if info.ischr() or info.isblk():
        return MemberKind.DEVICE
    if info.isfifo():
        return MemberKind.FIFO
    return MemberKind.OTHER


def _zip_entries(zf: zipfile.ZipFile, limits: ArchiveLimits) -> Iterator[Entry]:
    infos = zf.infolist()
    if len(infos) > limits.max_files:
        raise UnsafeArchive(f"the archive has more than {limits.max_files} entries")
    declared = sum(i.file_size for i in infos)
    if declared > limits.max_expanded_bytes:
        raise UnsafeArchive(
            f"the archive declares {declared} bytes of content; "
            f"at most {human_size(limits.max_expanded_bytes)} allowed"
        )
    for info in infos:
        if info.flag_bits & 0x1:
            raise UnsafeArchive(f"{info.filename!r} is encrypted")
        kind = _zip_kind(info)
        with translate_errors():
            link = _zip_link(zf, info) if kind is MemberKind.SYMLINK else None
        mode = (info.external_attr >> 16) & 0o7777 if info.create_system == 3 else 0
        member = Member(
            name=info.filename,
            kind=kind,
            size=info.file_size if kind is MemberKind.FILE else 0,
            link=link,
            mode=mode or (0o755 if kind is MemberKind.DIR else 0o644),
            mtime=float(calendar.timegm((*info.date_time, 0, 0, 0))),
        )
        yield Entry(member, lambda info=info: zf.open(info))


def _zip_kind(info: zipfile.ZipInfo) -> MemberKind:
    mode = info.external_attr >> 16 if info.create_system == 3 else 0
    if info.is_dir() or stat.S_ISDIR(mode):
        return MemberKind.DIR
    # Many writers (Python's zipfile among them) store permission bits without a file type.
    if stat.S_IFMT(mode) == 0 or stat.S_ISREG(mode):
        return MemberKind.FILE
    if stat.S_ISLNK(mode):
        return MemberKind.SYMLINK
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return MemberKind.DEVICE
    if stat.S_ISFIFO(mode):
        return MemberKind.FIFO
    if stat.S_ISSOCK(mode):
        return MemberKind.SOCKET
    return MemberKind.OTHER


def _zip_link(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> str:
    # A zip symlink stores its target as the entry's content.
    with zf.open(info) as f:
        target = f.read(4097)
    if len(target) > 4096:
        raise UnsafeArchive(f"symlink {info.filename!r} has a target longer than 4096 bytes")
    return target.decode("utf-8", "surrogateescape")
