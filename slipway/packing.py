"""`deploy --static DIR|ARCHIVE`: what gets uploaded. A directory is packed into a tar.gz in a
temporary file (streamed from disk, never held in memory); an archive is sent as it is."""

from __future__ import annotations

import contextlib
import os
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

from slipway.client import CliError

ARCHIVE_TYPES = {
    ".tar.gz": "application/gzip",
    ".tgz": "application/gzip",
    ".tar": "application/x-tar",
    ".zip": "application/zip",
}


def archive_type(path: Path) -> str | None:
    name = path.name.lower()
    for suffix, media in ARCHIVE_TYPES.items():
        if name.endswith(suffix):
            return media
    return None


def pack_directory(root: Path, target: Path) -> int:
    """Writes `root`'s files to `target` (tar.gz, paths relative to root); returns the count.

    Symbolic links are followed only when they stay inside `root`: the server refuses links in a
    bundle, and a link out of the directory would upload files the user did not mean to publish.
    """
    root = root.resolve()
    count = 0
    with tarfile.open(target, "w:gz") as tar:
        for folder, dirs, files in os.walk(root):
            dirs.sort()
            here = Path(folder)
            for name in sorted(files):
                path = here / name
                real = path.resolve()
                if not real.is_relative_to(root):
                    raise CliError(f"{path} links outside {root}; copy the file in instead")
                if not real.is_file():
                    continue  # sockets, fifos, dangling links: nothing a web server could serve
                tar.add(real, arcname=path.relative_to(root).as_posix(), recursive=False)
                count += 1
    if count == 0:
        raise CliError(f"{root} has no files to deploy")
    return count


@contextlib.contextmanager
def static_upload(source: Path) -> Iterator[tuple[Path, str]]:
    """(file to upload, its media type) for a directory or an archive."""
    if source.is_dir():
        with tempfile.TemporaryDirectory(prefix="slipway-static-") as tmp:
            target = Path(tmp) / f"{source.resolve().name or 'site'}.tar.gz"
            pack_directory(source, target)
            yield target, ARCHIVE_TYPES[".tar.gz"]
        return
    if not source.exists():
        raise CliError(f"{source} does not exist")
    media = archive_type(source)
    if media is None or not source.is_file():
        raise CliError(f"{source} is neither a directory nor a .tar.gz, .tgz, .tar or .zip archive")
    yield source, media
