from __future__ import annotations

import json
from pathlib import Path

import pytest

from libs.archives import (
    ImageArchiveInfo,
    NotAnImageArchive,
    UnreadableArchive,
    UnsafeArchive,
    read_docker_save_manifest,
)
from tests.unit.gateway.archive_builders import (
    IMAGE_CONFIG,
    Z,
    file,
    legacy_docker_save,
    oci_docker_save,
    sha256,
    symlink,
    write_tar,
    write_zip,
)


@pytest.fixture(params=[False, True], ids=["tar", "tar.gz"])
def gz(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def test_legacy_docker_save_gives_image_id_tags_and_layers(tmp_path: Path, gz: bool) -> None:
    members, config_hex = legacy_docker_save()
    info = read_docker_save_manifest(write_tar(tmp_path / "img.tar", members, gz=gz))
    assert info == ImageArchiveInfo(
        image_id=f"sha256:{config_hex}",
        repo_tags=("hello:1",),
        layers=(f"{sha256(b'layer-id')}/layer.tar",),
    )


def test_oci_docker_save_gives_image_id_from_the_config_blob(tmp_path: Path, gz: bool) -> None:
    members, config_hex = oci_docker_save()
    info = read_docker_save_manifest(write_tar(tmp_path / "img.tar", members, gz=gz))
    assert info.image_id == f"sha256:{config_hex}"
    assert info.repo_tags == ("registry.local:5000/team/hello:1.0",)
    assert len(info.layers) == 1 and info.layers[0].startswith("blobs/sha256/")


def test_image_saved_by_id_has_no_tags(tmp_path: Path) -> None:
    members, _ = legacy_docker_save(tags=[])
    path = write_tar(tmp_path / "img.tar", members)
    assert read_docker_save_manifest(path).repo_tags == ()


def test_null_repo_tags_mean_no_tags(tmp_path: Path) -> None:
    members, config_hex = oci_docker_save()
    manifest: list[dict[str, object]] = [
        {"Config": f"blobs/sha256/{config_hex}", "RepoTags": None, "Layers": []}
    ]
    members = [m for m in members if m.name != "manifest.json"]
    members.append(file("manifest.json", json.dumps(manifest).encode()))
    assert read_docker_save_manifest(write_tar(tmp_path / "i.tar", members)).repo_tags == ()


def test_plain_tar_of_files_is_not_an_image(tmp_path: Path, gz: bool) -> None:
    path = write_tar(tmp_path / "site.tar", [file("index.html", b"<h1>")], gz=gz)
    with pytest.raises(NotAnImageArchive, match=r"no manifest\.json"):
        read_docker_save_manifest(path)


def test_zip_is_not_an_image(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "img.zip", [Z("manifest.json", b"[]")])
    with pytest.raises(NotAnImageArchive, match="not a zip"):
        read_docker_save_manifest(path)


def test_random_file_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "img.tar"
    path.write_bytes(b"definitely not a tarball" * 30)
    with pytest.raises(UnreadableArchive):
        read_docker_save_manifest(path)


def test_manifest_in_a_subdirectory_does_not_count(tmp_path: Path) -> None:
    members, _ = legacy_docker_save()
    members = [
        file("nested/" + m.name, m.data) if m.name == "manifest.json" else m for m in members
    ]
    with pytest.raises(NotAnImageArchive, match=r"no manifest\.json"):
        read_docker_save_manifest(write_tar(tmp_path / "img.tar", members))


def with_manifest(tmp_path: Path, manifest: bytes) -> Path:
    members, _ = legacy_docker_save()
    members = [m for m in members if m.name != "manifest.json"] + [file("manifest.json", manifest)]
    return write_tar(tmp_path / "img.tar", members)


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"Config": "x"}', "list of image entries"),
        (b"[]", "holds 0 images"),
        (b'[{"Config": "a"}, {"Config": "b"}]', "holds 2 images"),
        (b'[{"RepoTags": []}]', "no Config"),
        (b'[{"Config": "config.json", "Layers": []}]', "content address"),
        (
            b'[{"Config": "' + b"0" * 64 + b'.json", "Layers": []}]',
            "missing from the archive",
        ),
    ],
)
def test_bad_manifests_are_refused_clearly(tmp_path: Path, manifest: bytes, message: str) -> None:
    with pytest.raises(NotAnImageArchive, match=message):
        read_docker_save_manifest(with_manifest(tmp_path, manifest))


def test_config_whose_bytes_do_not_match_its_name_is_refused(tmp_path: Path) -> None:
    members, config_hex = legacy_docker_save()
    members = [
        file(m.name, IMAGE_CONFIG + b" ") if m.name == f"{config_hex}.json" else m for m in members
    ]
    with pytest.raises(NotAnImageArchive, match="does not match its sha256"):
        read_docker_save_manifest(write_tar(tmp_path / "img.tar", members))


def test_missing_layer_is_refused(tmp_path: Path) -> None:
    members, _ = legacy_docker_save()
    members = [m for m in members if not m.name.endswith("layer.tar")]
    with pytest.raises(NotAnImageArchive, match=r"layer .* is missing"):
        read_docker_save_manifest(write_tar(tmp_path / "img.tar", members))


def test_bad_layer_and_tag_lists_are_refused(tmp_path: Path) -> None:
    _, config_hex = legacy_docker_save()
    bad = json.dumps([{"Config": f"{config_hex}.json", "Layers": "one"}]).encode()
    with pytest.raises(NotAnImageArchive, match="Layers"):
        read_docker_save_manifest(with_manifest(tmp_path, bad))
    bad = json.dumps([{"Config": f"{config_hex}.json", "Layers": [], "RepoTags": [1]}]).encode()
    with pytest.raises(NotAnImageArchive, match="RepoTags"):
        read_docker_save_manifest(with_manifest(tmp_path, bad))


def test_unsafe_paths_in_an_image_tarball_are_refused(tmp_path: Path) -> None:
    members, _ = legacy_docker_save()
    members.append(symlink("evil", "/etc/passwd"))
    with pytest.raises(UnsafeArchive, match="symlink"):
        read_docker_save_manifest(write_tar(tmp_path / "img.tar", members))


def test_oversized_manifest_is_refused(tmp_path: Path) -> None:
    path = with_manifest(tmp_path, b"[" + b" " * (1024 * 1024 + 1) + b"]")
    with pytest.raises(UnsafeArchive, match=r"manifest\.json"):
        read_docker_save_manifest(path)
