"""From a checkout to what the build needs: the app directory, `slipway.toml`, a source tarball.

The checkout is untrusted: nothing here follows a link out of it or reads an unbounded file.
"""

from __future__ import annotations

import posixpath
import tarfile
from pathlib import Path

from libs.events.config import SlipwayToml, SlipwayTomlError, parse_slipway_toml

TOML_NAME = "slipway.toml"
MAX_TOML_BYTES = 256 * 1024


class SourceError(ValueError):
    """The checkout cannot be used as it is; the message is for the user."""

    def __init__(self, message: str, code: str) -> None:
        self.code = code
        super().__init__(message)


def app_dir_of(root: Path, app_dir: str | None) -> str:
    """The app directory, relative and normalised; it must be a directory inside the checkout."""
    if not app_dir or app_dir.strip() in ("", "."):
        return "."
    rel = posixpath.normpath(app_dir.strip().replace("\\", "/"))
    if posixpath.isabs(rel) or rel == ".." or rel.startswith("../"):
        raise SourceError(f"app_dir {app_dir!r} must be a path inside the repository", "app_dir")
    path = _inside(root, rel)
    if path is None or not path.is_dir():
        raise SourceError(f"app_dir {app_dir!r} is not a directory of the repository", "app_dir")
    return rel


def read_slipway_toml(root: Path, app_dir: str = ".") -> SlipwayToml | None:
    """`slipway.toml` of the app directory, else of the repository root; None when neither has
    one. A bad file raises SourceError naming the file and the offending line."""
    folders = [app_dir, "."] if app_dir != "." else ["."]
    for folder in folders:
        rel = posixpath.normpath(posixpath.join(folder, TOML_NAME))
        path = _inside(root, rel)
        if path is None or not path.is_file():
            continue
        with path.open("rb") as f:
            data = f.read(MAX_TOML_BYTES + 1)
        if len(data) > MAX_TOML_BYTES:
            raise SourceError(f"{rel} is larger than {MAX_TOML_BYTES // 1024} KiB", "bad_config")
        try:
            return parse_slipway_toml(data.decode("utf-8"))
        except UnicodeDecodeError:
            raise SourceError(f"{rel} is not UTF-8 text", "bad_config") from None
        except SlipwayTomlError as exc:
            message = str(exc)
            if rel != TOML_NAME and message.startswith(TOML_NAME):
                message = rel + message[len(TOML_NAME) :]
            raise SourceError(message, "bad_config") from None
    return None


def _inside(root: Path, rel: str) -> Path | None:
    base = root.resolve()
    try:
        path = (base / rel).resolve()
    except OSError:
        return None
    return path if path == base or path.is_relative_to(base) else None


def pack_source(root: Path, dest: Path, max_bytes: int) -> int:
    """Write the working tree at `root` (without any `.git`) as a tar.gz; returns its size.

    Links are stored as links, never followed. More than `max_bytes` of content raises
    SourceError.
    """
    total = 0

    def admit(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        nonlocal total
        if ".git" in info.name.split("/"):
            return None
        if not (info.isfile() or info.isdir() or info.issym()):
            return None  # fifos, devices: nothing a build needs
        total += info.size
        if total > max_bytes:
            raise SourceError(
                f"the source is larger than the limit of {max_bytes // (1024 * 1024)} MiB "
                "(SLIPWAY_MAX_SOURCE_BYTES)",
                "too_large",
            )
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        return info

    with tarfile.open(dest, "w:gz", compresslevel=1) as tar:
        for child in sorted(root.iterdir()):
            tar.add(child, arcname=child.name, recursive=True, filter=admit)
    return dest.stat().st_size
