"""Build tar, tar.gz and zip archives — including hostile ones — for the archive tests."""

from __future__ import annotations

import hashlib
import io
import json
import stat
import struct
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class T:
    """One tar member to write."""

    name: str
    data: bytes = b""
    type: bytes = tarfile.REGTYPE
    link: str = ""
    mode: int = 0o644
    pax: dict[str, str] = field(default_factory=dict)


def file(name: str, data: bytes = b"x", mode: int = 0o644) -> T:
    return T(name, data, mode=mode)


def directory(name: str) -> T:
    return T(name, type=tarfile.DIRTYPE, mode=0o755)


def symlink(name: str, target: str) -> T:
    return T(name, type=tarfile.SYMTYPE, link=target, mode=0o777)


def hardlink(name: str, target: str) -> T:
    return T(name, type=tarfile.LNKTYPE, link=target)


def write_tar(path: Path, members: list[T], *, gz: bool = False) -> Path:
    with tarfile.open(path, "w:gz" if gz else "w", format=tarfile.PAX_FORMAT) as tf:
        for m in members:
            info = tarfile.TarInfo(m.name)
            info.type = m.type
            info.linkname = m.link
            info.mode = m.mode
            info.mtime = 1_700_000_000
            info.pax_headers = dict(m.pax)
            if m.type == tarfile.REGTYPE:
                info.size = len(m.data)
                tf.addfile(info, io.BytesIO(m.data))
            else:
                tf.addfile(info)
    return path


@dataclass
class Z:
    """One zip member to write; `unix_mode` includes the file type bits."""

    name: str
    data: bytes = b"x"
    unix_mode: int | None = None
    compress: int = zipfile.ZIP_DEFLATED


def write_zip(path: Path, members: list[Z]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for m in members:
            info = zipfile.ZipInfo(m.name, date_time=(2024, 5, 15, 12, 0, 0))
            info.compress_type = m.compress
            if m.unix_mode is not None:
                info.create_system = 3
                info.external_attr = m.unix_mode << 16
            zf.writestr(info, m.data)
    return path


def zip_symlink(name: str, target: str) -> Z:
    return Z(name, target.encode(), unix_mode=stat.S_IFLNK | 0o777)


def forge_zip_sizes(path: Path, name: str, size: int, *, crc: int | None = None) -> None:
    """Rewrite the uncompressed size (and optionally CRC) that the headers declare for `name`."""
    blob = bytearray(path.read_bytes())
    encoded = name.encode()
    # Local file header: signature, ..., crc @14, csize @18, usize @22, name @30.
    at = blob.find(b"PK\x03\x04")
    while at != -1:
        name_len = struct.unpack_from("<H", blob, at + 26)[0]
        if bytes(blob[at + 30 : at + 30 + name_len]) == encoded:
            struct.pack_into("<I", blob, at + 22, size)
            if crc is not None:
                struct.pack_into("<I", blob, at + 14, crc)
        at = blob.find(b"PK\x03\x04", at + 4)
    # Central directory header: crc @16, csize @20, usize @24, name @46.
    at = blob.find(b"PK\x01\x02")
    while at != -1:
        name_len = struct.unpack_from("<H", blob, at + 28)[0]
        if bytes(blob[at + 46 : at + 46 + name_len]) == encoded:
            struct.pack_into("<I", blob, at + 24, size)
            if crc is not None:
                struct.pack_into("<I", blob, at + 16, crc)
        at = blob.find(b"PK\x01\x02", at + 4)
    path.write_bytes(bytes(blob))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


IMAGE_CONFIG = json.dumps(
    {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/hello"], "Env": ["PATH=/usr/bin"]},
        "rootfs": {"type": "layers", "diff_ids": []},
    },
    separators=(",", ":"),
).encode()


def layer_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("hello.txt")
        data = b"hello from a layer\n"
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def legacy_docker_save(tags: list[str] | None = None) -> tuple[list[T], str]:
    """The layout of `docker save` before Docker 25: `<config hex>.json`, `<id>/layer.tar`."""
    config_hex = sha256(IMAGE_CONFIG)
    layer_id = sha256(b"layer-id")
    manifest = [
        {
            "Config": f"{config_hex}.json",
            "RepoTags": tags if tags is not None else ["hello:1"],
            "Layers": [f"{layer_id}/layer.tar"],
        }
    ]
    members = [
        directory(f"{layer_id}/"),
        file(f"{layer_id}/VERSION", b"1.0"),
        file(f"{layer_id}/json", b'{"id":"' + layer_id.encode() + b'"}'),
        file(f"{layer_id}/layer.tar", layer_tar()),
        file(f"{config_hex}.json", IMAGE_CONFIG),
        file("manifest.json", json.dumps(manifest).encode()),
        file("repositories", b'{"hello":{"1":"' + layer_id.encode() + b'"}}'),
    ]
    return members, config_hex


def oci_docker_save(manifest_override: object = None) -> tuple[list[T], str]:
    """The layout of `docker save` since Docker 25: an OCI image layout plus manifest.json."""
    config_hex = sha256(IMAGE_CONFIG)
    layer = layer_tar()
    layer_hex = sha256(layer)
    manifest = manifest_override or [
        {
            "Config": f"blobs/sha256/{config_hex}",
            "RepoTags": ["registry.local:5000/team/hello:1.0"],
            "Layers": [f"blobs/sha256/{layer_hex}"],
        }
    ]
    members = [
        directory("blobs/"),
        directory("blobs/sha256/"),
        file(f"blobs/sha256/{config_hex}", IMAGE_CONFIG),
        file(f"blobs/sha256/{layer_hex}", layer),
        # Docker 25 keeps the legacy paths as symlinks into blobs/.
        directory(f"{layer_hex}/"),
        symlink(f"{layer_hex}/layer.tar", f"../blobs/sha256/{layer_hex}"),
        file("index.json", b'{"schemaVersion":2,"manifests":[]}'),
        file("manifest.json", json.dumps(manifest).encode()),
        file("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
    ]
    return members, config_hex
