from __future__ import annotations

import bz2
import gzip
import io
import os
import stat
import tarfile
import zlib
from pathlib import Path

import pytest

from libs.archives import (
    ArchiveFormat,
    ArchiveLimits,
    UnreadableArchive,
    UnsafeArchive,
    extract_archive,
    validate_archive,
)
from libs.archives.formats import BoundedStream, Entry, detect_format
from libs.archives.rules import Member, MemberKind
from tests.unit.gateway.archive_builders import (
    T,
    Z,
    directory,
    file,
    forge_zip_sizes,
    hardlink,
    symlink,
    write_tar,
    write_zip,
    zip_symlink,
)

SITE = [
    directory("./"),
    file("./index.html", b"<h1>hi</h1>"),
    directory("./assets/"),
    file("./assets/app.js", b"console.log(1)", mode=0o4755),
    symlink("./latest.js", "assets/app.js"),
    hardlink("./copy.html", "index.html"),
]


@pytest.fixture(params=[False, True], ids=["tar", "tar.gz"])
def gz(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def tar(tmp_path: Path, members: list[T], gz: bool = False) -> Path:
    return write_tar(tmp_path / ("a.tar.gz" if gz else "a.tar"), members, gz=gz)


# --- happy paths ------------------------------------------------------------------------------


def test_tar_site_validates_with_counts(tmp_path: Path, gz: bool) -> None:
    summary = validate_archive(tar(tmp_path, SITE, gz))
    assert summary.format is (ArchiveFormat.TAR_GZ if gz else ArchiveFormat.TAR)
    assert summary.files == 2
    assert summary.entries == 6
    assert summary.expanded_bytes == len(b"<h1>hi</h1>") + len(b"console.log(1)")


def test_tar_site_extracts_files_links_and_safe_modes(tmp_path: Path, gz: bool) -> None:
    dest = tmp_path / "out"
    extract_archive(tar(tmp_path, SITE, gz), dest)
    assert (dest / "index.html").read_bytes() == b"<h1>hi</h1>"
    assert os.readlink(dest / "latest.js") == "assets/app.js"
    assert (dest / "latest.js").read_bytes() == b"console.log(1)"
    assert (dest / "copy.html").stat().st_ino == (dest / "index.html").stat().st_ino
    assert stat.S_IMODE((dest / "assets/app.js").stat().st_mode) == 0o755  # setuid dropped
    assert stat.S_IMODE((dest / "index.html").stat().st_mode) == 0o644
    assert (dest / "index.html").stat().st_mtime == 1_700_000_000


def test_zip_site_validates_and_extracts(tmp_path: Path) -> None:
    path = write_zip(
        tmp_path / "site.zip",
        [
            Z("dist/"),
            Z("dist/index.html", b"<p>zip</p>"),
            Z("dist/run.sh", b"#!/bin/sh\n", unix_mode=stat.S_IFREG | 0o755),
            Z("dist/raw.txt", b"stored", compress=0),
            zip_symlink("dist/home.html", "index.html"),
        ],
    )
    summary = validate_archive(path)
    assert (summary.format, summary.files) == (ArchiveFormat.ZIP, 3)
    dest = tmp_path / "out"
    extract_archive(path, dest)
    assert (dest / "dist/index.html").read_bytes() == b"<p>zip</p>"
    assert (dest / "dist/raw.txt").read_bytes() == b"stored"
    assert os.readlink(dest / "dist/home.html") == "index.html"
    assert stat.S_IMODE((dest / "dist/run.sh").stat().st_mode) == 0o755


def test_symlink_climbing_within_the_root_is_allowed(tmp_path: Path) -> None:
    members = [file("a/b/c.txt"), symlink("a/b/up.txt", "../../top.txt"), file("top.txt")]
    validate_archive(tar(tmp_path, members))


def test_pre_posix_tar_without_magic_is_recognised(tmp_path: Path) -> None:
    path = tar(tmp_path, [file("v7.txt", b"old")])
    blob = bytearray(path.read_bytes())
    # The PAX writer adds no extended header for plain names; blank the magic, fix the checksum.
    blob[257:265] = b"\0" * 8
    blob[148:156] = b" " * 8
    blob[148:155] = b"%06o\0" % sum(blob[:512])
    path.write_bytes(bytes(blob))
    assert detect_format(path) is ArchiveFormat.TAR
    assert validate_archive(path).files == 1


# --- paths that leave the root ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["../evil.sh", "a/../../evil.sh", "./../evil", "a/.."])
def test_dotdot_components_are_refused(tmp_path: Path, gz: bool, name: str) -> None:
    with pytest.raises(UnsafeArchive, match=r"'\.\.'"):
        validate_archive(tar(tmp_path, [file(name)], gz))


def test_absolute_path_is_refused(tmp_path: Path, gz: bool) -> None:
    with pytest.raises(UnsafeArchive, match="absolute"):
        validate_archive(tar(tmp_path, [file("/etc/cron.d/evil")], gz))


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "a/../../x"])
def test_zip_traversal_and_absolute_names_are_refused(tmp_path: Path, name: str) -> None:
    path = write_zip(tmp_path / "bad.zip", [Z("ok.txt"), Z(name)])
    with pytest.raises(UnsafeArchive):
        validate_archive(path)


def test_backslash_separators_are_refused(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "win.zip", [Z("dist\\index.html")])
    with pytest.raises(UnsafeArchive, match="separator"):
        validate_archive(path)


def test_overlong_path_component_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnsafeArchive, match="255 bytes"):
        validate_archive(tar(tmp_path, [file("a" * 256)]))


# --- links ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "members",
    [
        [symlink("etc", "/etc")],
        [symlink("pw", "../../etc/passwd")],
        [symlink("a/b/l", "../../..")],
        [symlink("here", "."), symlink("escape", "here/..")],
        [symlink("l", "sub/../..")],
    ],
    ids=["absolute", "climbs-out", "climbs-too-far", "through-link-then-up", "up-after-down"],
)
def test_symlink_escapes_are_refused(tmp_path: Path, gz: bool, members: list[T]) -> None:
    with pytest.raises(UnsafeArchive, match="symlink"):
        validate_archive(tar(tmp_path, [file("ok.txt"), *members], gz))


def test_writing_through_a_symlink_is_refused(tmp_path: Path, gz: bool) -> None:
    members = [directory("sub/"), symlink("l", "sub"), file("l/evil.txt")]
    with pytest.raises(UnsafeArchive, match="through a symlink"):
        validate_archive(tar(tmp_path, members, gz))


def test_symlink_replacing_an_earlier_directory_is_refused(tmp_path: Path) -> None:
    members = [file("d/one.txt"), symlink("d", "elsewhere")]
    with pytest.raises(UnsafeArchive, match="replaces a directory"):
        validate_archive(tar(tmp_path, members))


def test_zip_symlink_escape_is_refused(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "l.zip", [Z("ok.txt"), zip_symlink("etc", "/etc")])
    with pytest.raises(UnsafeArchive, match="outside"):
        validate_archive(path)


@pytest.mark.parametrize("target", ["../../etc/passwd", "/etc/shadow"])
def test_hardlink_escapes_are_refused(tmp_path: Path, gz: bool, target: str) -> None:
    with pytest.raises(UnsafeArchive, match="hardlink"):
        validate_archive(tar(tmp_path, [file("ok.txt"), hardlink("pw", target)], gz))


def test_hardlink_to_a_missing_or_later_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnsafeArchive, match="earlier regular file"):
        validate_archive(tar(tmp_path, [hardlink("h", "later.txt"), file("later.txt")]))


def test_hardlink_to_a_symlink_is_refused(tmp_path: Path) -> None:
    members = [file("ok.txt"), symlink("l", "ok.txt"), hardlink("h", "l")]
    with pytest.raises(UnsafeArchive, match="earlier regular file"):
        validate_archive(tar(tmp_path, members))


# --- special files ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "word"),
    [(tarfile.CHRTYPE, "device"), (tarfile.BLKTYPE, "device"), (tarfile.FIFOTYPE, "FIFO")],
)
def test_device_files_and_fifos_are_refused(
    tmp_path: Path, gz: bool, kind: bytes, word: str
) -> None:
    with pytest.raises(UnsafeArchive, match=word):
        validate_archive(tar(tmp_path, [file("ok.txt"), T("dev/x", type=kind)], gz))


@pytest.mark.parametrize(
    ("mode", "word"),
    [(stat.S_IFCHR | 0o600, "device"), (stat.S_IFIFO | 0o600, "FIFO"), (stat.S_IFSOCK, "socket")],
)
def test_zip_special_files_are_refused(tmp_path: Path, mode: int, word: str) -> None:
    path = write_zip(tmp_path / "s.zip", [Z("ok.txt"), Z("special", b"", unix_mode=mode)])
    with pytest.raises(UnsafeArchive, match=word):
        validate_archive(path)


def test_sparse_files_are_refused(tmp_path: Path) -> None:
    sparse = T(
        "holes.bin",
        b"abcde",
        pax={"GNU.sparse.map": "0,5", "GNU.sparse.size": "1000000", "GNU.sparse.numblocks": "1"},
    )
    with pytest.raises(UnsafeArchive, match="sparse"):
        validate_archive(tar(tmp_path, [sparse]))


# --- sizes and counts -------------------------------------------------------------------------


def test_too_many_tar_entries_are_refused(tmp_path: Path, gz: bool) -> None:
    members = [file(f"f{i}.txt") for i in range(6)]
    with pytest.raises(UnsafeArchive, match="more than 5 entries"):
        validate_archive(tar(tmp_path, members, gz), ArchiveLimits(max_files=5))


def test_too_many_zip_entries_are_refused_before_reading(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "many.zip", [Z(f"f{i}.txt") for i in range(6)])
    with pytest.raises(UnsafeArchive, match="more than 5 entries"):
        validate_archive(path, ArchiveLimits(max_files=5))


def test_tar_gz_bomb_is_refused_by_declared_size(tmp_path: Path) -> None:
    members = [file("zeros.bin", b"\0" * (2 * 1024 * 1024))]
    path = tar(tmp_path, members, gz=True)
    assert path.stat().st_size < 20_000  # the bomb: tiny on disk, large expanded
    with pytest.raises(UnsafeArchive, match="expands to more than 1 MiB"):
        validate_archive(path, ArchiveLimits(max_expanded_bytes=1024 * 1024))


def test_zip_bomb_is_refused_by_declared_size(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "bomb.zip", [Z("zeros.bin", b"\0" * (2 * 1024 * 1024))])
    with pytest.raises(UnsafeArchive, match="declares"):
        validate_archive(path, ArchiveLimits(max_expanded_bytes=1024 * 1024))


def test_zip_declaring_three_gib_is_refused_with_default_limits(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "bomb.zip", [Z("a.bin", b"\0" * 1000)])
    forge_zip_sizes(path, "a.bin", 3 * 1024**3)
    with pytest.raises(UnsafeArchive, match="declares 3221225472 bytes"):
        validate_archive(path)


def test_zip_with_lying_small_size_and_wrong_crc_is_refused(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "liar.zip", [Z("big.bin", b"\0" * (4 * 1024 * 1024))])
    forge_zip_sizes(path, "big.bin", 1000)
    with pytest.raises(UnreadableArchive, match="corrupt"):
        validate_archive(path)
    dest = tmp_path / "out"
    with pytest.raises(UnreadableArchive):
        extract_archive(path, dest)
    assert not dest.exists()


def test_zip_with_lying_small_size_never_expands_past_the_header(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "liar.zip", [Z("big.bin", b"\0" * (4 * 1024 * 1024))])
    # A liar that even forges the CRC of the prefix gets exactly the declared bytes, no more.
    forge_zip_sizes(path, "big.bin", 1000, crc=zlib.crc32(b"\0" * 1000))
    dest = tmp_path / "out"
    summary = extract_archive(path, dest)
    assert summary.expanded_bytes == 1000
    assert (dest / "big.bin").stat().st_size == 1000


def test_entry_with_more_real_bytes_than_declared_is_refused() -> None:
    member = Member("liar.bin", MemberKind.FILE, size=10)
    entry = Entry(member, lambda: io.BytesIO(b"x" * 11))
    with pytest.raises(UnsafeArchive, match="larger than its header"):
        list(entry.chunks())


def test_entry_with_fewer_real_bytes_than_declared_is_truncated() -> None:
    entry = Entry(Member("short.bin", MemberKind.FILE, size=10), lambda: io.BytesIO(b"x"))
    with pytest.raises(UnreadableArchive, match="truncated"):
        list(entry.chunks())


def test_oversized_pax_header_is_refused_without_reading_it(tmp_path: Path) -> None:
    huge = T("f.txt", b"x", pax={"comment": "y" * (2 * 1024 * 1024)})
    with pytest.raises(UnsafeArchive, match="header"):
        validate_archive(tar(tmp_path, [huge], gz=True), ArchiveLimits(max_header_bytes=1024))


def test_decompressed_stream_beyond_its_budget_is_refused() -> None:
    limits = ArchiveLimits(max_files=1, max_expanded_bytes=1000, max_header_bytes=1024)
    stream = BoundedStream(io.BytesIO(b"\0" * 100_000), limits)
    with pytest.raises(UnsafeArchive, match="expands"):
        while stream.read(4096):
            pass
    with pytest.raises(UnsafeArchive, match="expands"):
        BoundedStream(io.BytesIO(), limits).seek(limits.stream_budget + 1)


def test_default_limits_are_100k_files_and_2_gib() -> None:
    limits = ArchiveLimits()
    assert (limits.max_files, limits.max_expanded_bytes) == (100_000, 2 * 1024**3)


# --- structure --------------------------------------------------------------------------------


def test_duplicate_entries_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UnsafeArchive, match="twice"):
        validate_archive(tar(tmp_path, [file("a.txt"), file("./a.txt")]))


def test_repeated_directory_entries_are_fine(tmp_path: Path) -> None:
    validate_archive(tar(tmp_path, [directory("d/"), directory("./d"), file("d/x")]))


def test_file_replacing_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnsafeArchive, match="replaces a directory"):
        validate_archive(tar(tmp_path, [file("d/x"), file("d")]))


def test_encrypted_zip_entries_are_refused(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "enc.zip", [Z("secret.txt", b"data", compress=0)])
    blob = bytearray(path.read_bytes())
    for sig, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = blob.find(sig)
        blob[at + offset] |= 0x1
    path.write_bytes(bytes(blob))
    with pytest.raises(UnsafeArchive, match="encrypted"):
        validate_archive(path)


# --- not archives -----------------------------------------------------------------------------


def test_empty_file_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "empty.tar"
    path.write_bytes(b"")
    with pytest.raises(UnreadableArchive, match="empty"):
        validate_archive(path)


def test_random_bytes_are_not_an_archive(tmp_path: Path) -> None:
    path = tmp_path / "noise.bin"
    path.write_bytes(os.urandom(2048).replace(b"\x1f\x8b", b"zz").replace(b"PK", b"pk"))
    with pytest.raises(UnreadableArchive, match=r"not a tar, tar\.gz or zip"):
        validate_archive(path)


def test_bzip2_tar_is_refused_with_the_supported_formats(tmp_path: Path) -> None:
    path = tmp_path / "a.tar.bz2"
    path.write_bytes(bz2.compress(tar(tmp_path, [file("x")]).read_bytes()))
    with pytest.raises(UnreadableArchive, match=r"use tar, tar\.gz or zip"):
        validate_archive(path)


def test_gzip_of_something_that_is_not_tar_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "notes.gz"
    path.write_bytes(gzip.compress(b"just some text, no tar here" * 40))
    with pytest.raises(UnreadableArchive):
        validate_archive(path)


def test_truncated_tar_gz_is_unreadable(tmp_path: Path) -> None:
    path = tar(tmp_path, [file("big.bin", os.urandom(200_000))], gz=True)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(UnreadableArchive):
        validate_archive(path)


def test_corrupt_zip_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "broken.zip"
    path.write_bytes(b"PK\x03\x04" + os.urandom(200))
    with pytest.raises(UnreadableArchive):
        validate_archive(path)


def test_archive_with_only_directories_has_no_files(tmp_path: Path) -> None:
    with pytest.raises(UnreadableArchive, match="no files"):
        validate_archive(tar(tmp_path, [directory("a/"), directory("a/b/")]))


# --- extraction -------------------------------------------------------------------------------


def test_failed_extraction_leaves_nothing_behind(tmp_path: Path, gz: bool) -> None:
    dest = tmp_path / "out"
    path = tar(tmp_path, [file("a/ok.txt", b"fine"), file("b.txt"), file("../evil")], gz)
    with pytest.raises(UnsafeArchive):
        extract_archive(path, dest)
    assert not dest.exists()
    assert not (tmp_path / "evil").exists()


def test_failed_extraction_into_existing_directory_empties_it(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(UnsafeArchive):
        extract_archive(tar(tmp_path, [file("a/ok.txt"), symlink("x", "/etc")]), dest)
    assert dest.is_dir() and list(dest.iterdir()) == []


def test_extraction_rechecks_real_bytes_against_the_limit(tmp_path: Path) -> None:
    path = tar(tmp_path, [file("a.bin", b"1" * 600), file("b.bin", b"2" * 600)])
    with pytest.raises(UnsafeArchive, match="expands"):
        extract_archive(path, tmp_path / "out", ArchiveLimits(max_expanded_bytes=1000))


def test_extraction_into_a_non_empty_directory_is_a_programming_error(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="empty directory"):
        extract_archive(tar(tmp_path, [file("x")]), dest)
    assert (dest / "keep.txt").read_text() == "mine"


def test_extracting_twice_gives_identical_trees(tmp_path: Path) -> None:
    path = tar(tmp_path, SITE, gz=True)
    one, two = tmp_path / "one", tmp_path / "two"
    extract_archive(path, one)
    extract_archive(path, two)
    listing = sorted(str(p.relative_to(one)) for p in one.rglob("*"))
    assert listing == sorted(str(p.relative_to(two)) for p in two.rglob("*"))
    assert listing == ["assets", "assets/app.js", "copy.html", "index.html", "latest.js"]


@pytest.mark.parametrize(
    "links",
    [
        [symlink("a", "a//a")],
        [symlink("a", "b"), symlink("b", "a")],
        [symlink("d/x", "../y"), symlink("y", "d/x/z")],
    ],
    ids=["self", "pair", "through-a-directory"],
)
def test_symlink_loops_are_refused(tmp_path: Path, links: list[T]) -> None:
    archive = write_tar(tmp_path / "a.tar", [file("index.html", b"x"), *links])
    with pytest.raises(UnsafeArchive, match="loop"):
        validate_archive(archive)
