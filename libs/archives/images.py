"""What a `docker save` tarball holds: its image id, tags and layers, read from `manifest.json`.

Both layouts are understood: the legacy one (Docker < 25: `Config` is `<hex>.json`) and the OCI
one (Docker >= 25: `Config` is `blobs/sha256/<hex>`). The config blob is hashed while streaming,
so the image id we report is proven by the bytes, not just claimed by the manifest.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from libs.archives.formats import ArchiveFormat, Entry, open_archive
from libs.archives.rules import (
    ArchiveLimits,
    MemberKind,
    NotAnImageArchive,
    TreeChecker,
    UnsafeArchive,
    normalize,
)

MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 1024 * 1024
MAX_CONFIG_BYTES = 4 * 1024 * 1024
_CONFIG_RE = re.compile(r"^(?:blobs/sha256/([0-9a-f]{64})|([0-9a-f]{64})\.json)$")


@dataclass(frozen=True)
class ImageArchiveInfo:
    image_id: str
    """`sha256:<hex>` — what `docker load` will report and `docker inspect` shows as Id."""
    repo_tags: tuple[str, ...]
    layers: tuple[str, ...]


def read_docker_save_manifest(
    path: str | os.PathLike[str], limits: ArchiveLimits | None = None
) -> ImageArchiveInfo:
    """Raise `NotAnImageArchive` for anything but a one-image `docker save` tar or tar.gz."""
    limits = limits or ArchiveLimits()
    checker = TreeChecker(limits)
    names: set[str] = set()
    digests: dict[str, str] = {}
    manifest: bytes | None = None
    with open_archive(Path(path), limits) as (fmt, entries):
        if fmt is ArchiveFormat.ZIP:
            raise NotAnImageArchive("a docker save archive is a tar or tar.gz file, not a zip")
        for entry in entries:
            rel = checker.admit(entry.member)
            if rel is None:
                continue
            names.add(rel)
            if entry.member.kind is not MemberKind.FILE:
                continue
            if rel == MANIFEST:
                manifest = _read_small(entry, MAX_MANIFEST_BYTES)
            elif _CONFIG_RE.match(rel) and entry.member.size <= MAX_CONFIG_BYTES:
                digests[rel] = _sha256(entry)
    if manifest is None:
        raise NotAnImageArchive(
            "no manifest.json at the archive root: not the output of `docker save`"
        )
    return _interpret(manifest, names, digests)


def _interpret(raw: bytes, names: set[str], digests: dict[str, str]) -> ImageArchiveInfo:
    image = _single_image(raw)
    config = image.get("Config")
    if not isinstance(config, str):
        raise NotAnImageArchive("manifest.json has no Config entry")
    config_path = "/".join(normalize(config))
    match = _CONFIG_RE.match(config_path)
    if match is None:
        raise NotAnImageArchive(f"manifest.json Config {config!r} is not a sha256 content address")
    hex_id = match.group(1) or match.group(2)
    if config_path not in names:
        raise NotAnImageArchive(f"the image config {config!r} is missing from the archive")
    if config_path not in digests:
        raise NotAnImageArchive(f"the image config {config!r} is not a small regular file")
    if digests[config_path] != hex_id:
        raise NotAnImageArchive(f"the image config {config!r} does not match its sha256 name")
    layers = _strings(image.get("Layers"), "Layers")
    for layer in layers:
        if "/".join(normalize(layer)) not in names:
            raise NotAnImageArchive(f"layer {layer!r} listed in manifest.json is missing")
    tags = _strings(image.get("RepoTags") or [], "RepoTags")
    return ImageArchiveInfo(image_id=f"sha256:{hex_id}", repo_tags=tags, layers=layers)


def _single_image(raw: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NotAnImageArchive(f"manifest.json is not valid JSON: {exc}") from None
    if not isinstance(doc, list) or not all(isinstance(i, dict) for i in doc):
        raise NotAnImageArchive("manifest.json must be a list of image entries")
    if len(doc) != 1:
        raise NotAnImageArchive(
            f"the archive holds {len(doc)} images; upload the `docker save` of exactly one"
        )
    image: dict[str, Any] = doc[0]
    return image


def _strings(value: Any, field: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise NotAnImageArchive(f"manifest.json {field} must be a list of strings")
    return tuple(value)


def _read_small(entry: Entry, cap: int) -> bytes:
    if entry.member.size > cap:
        raise UnsafeArchive(f"{entry.member.name!r} is larger than {cap} bytes")
    return b"".join(entry.chunks())


def _sha256(entry: Entry) -> str:
    digest = hashlib.sha256()
    for chunk in entry.chunks():
        digest.update(chunk)
    return digest.hexdigest()
