from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from services.postdeploy import sbom

DPKG = b"""Package: libc6
Status: install ok installed
Architecture: amd64
Version: 2.36-9+deb12u4
Description: GNU C Library
 multi-line description

Package: removed-thing
Status: deinstall ok config-files
Version: 1.0

Package: python3
Status: install ok installed
Architecture: amd64
Version: 3.11.2-1+b1
"""

APK = b"""C:Q1abc=
P:musl
V:1.2.4-r2
A:x86_64
L:MIT

P:busybox
V:1.36.1-r5
A:x86_64
"""

METADATA = b"""Metadata-Version: 2.1
Name: Foo_Bar
Version: 1.0
License: MIT
Summary: a fake
"""

LOCK_V3 = json.dumps(
    {
        "lockfileVersion": 3,
        "packages": {
            "": {"name": "app", "version": "0.0.1"},
            "node_modules/express": {"version": "4.19.2", "license": "MIT"},
            "node_modules/@types/node": {"version": "20.1.0"},
            "node_modules/express/node_modules/qs": {"version": "6.11.0"},
            "packages/local": {"version": "1.0.0"},
            "node_modules/local": {"resolved": "packages/local", "link": True},
        },
    }
).encode()

LOCK_V1 = json.dumps(
    {
        "lockfileVersion": 1,
        "dependencies": {
            "left-pad": {"version": "1.3.0", "dependencies": {"tiny": {"version": "0.1.0"}}}
        },
    }
).encode()

OS_RELEASE = b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'


@pytest.mark.parametrize(
    ("path", "wanted"),
    [
        ("var/lib/dpkg/status", True),
        ("var/lib/dpkg/status.d/base", True),
        ("var/lib/dpkg/status.d/base.md5sums", False),
        ("lib/apk/db/installed", True),
        ("usr/lib/python3/dist-packages/foo-1.0.dist-info/METADATA", True),
        ("app/.venv/lib/python3.11/site-packages/Foo.egg-info/PKG-INFO", True),
        ("app/package-lock.json", True),
        ("app/node_modules/.package-lock.json", True),
        ("app/node_modules/express/package.json", True),
        ("app/node_modules/@types/node/package.json", True),
        ("app/node_modules/express/lib/package.json", False),
        ("app/package.json", False),
        ("etc/os-release", True),
        ("etc/passwd", False),
    ],
)
def test_only_package_databases_are_read_from_an_image(path: str, wanted: bool) -> None:
    assert sbom.wanted(path) is wanted


def test_dpkg_lists_installed_packages_only() -> None:
    pkgs = sbom.parse_dpkg(DPKG.decode(), "var/lib/dpkg/status")
    assert [(p.name, p.version, p.arch) for p in pkgs] == [
        ("libc6", "2.36-9+deb12u4", "amd64"),
        ("python3", "3.11.2-1+b1", "amd64"),
    ]


def test_apk_packages_carry_their_license() -> None:
    pkgs = sbom.parse_apk(APK.decode(), "lib/apk/db/installed")
    assert [(p.name, p.version, p.licenses) for p in pkgs] == [
        ("musl", "1.2.4-r2", ("MIT",)),
        ("busybox", "1.36.1-r5", ()),
    ]


def test_a_python_dist_info_is_a_pypi_package() -> None:
    (pkg,) = sbom.parse_python_metadata(METADATA.decode(), "x/Foo_Bar-1.0.dist-info/METADATA")
    assert (pkg.ecosystem, pkg.name, pkg.version, pkg.licenses) == (
        "pypi",
        "Foo_Bar",
        "1.0",
        ("MIT",),
    )
    assert sbom.purl(pkg, None) == "pkg:pypi/foo-bar@1.0"


def test_npm_lockfiles_of_both_formats_list_every_dependency() -> None:
    v3 = sbom.parse_package_lock(LOCK_V3.decode(), "app/package-lock.json")
    assert sorted((p.name, p.version) for p in v3) == [
        ("@types/node", "20.1.0"),
        ("express", "4.19.2"),
        ("qs", "6.11.0"),
    ]
    v1 = sbom.parse_package_lock(LOCK_V1.decode(), "app/package-lock.json")
    assert [(p.name, p.version) for p in v1] == [("left-pad", "1.3.0"), ("tiny", "0.1.0")]


def test_purls_follow_the_spec_for_each_ecosystem() -> None:
    distro = sbom.Distro("debian", "12", None)
    deb = sbom.Package("deb", "libc6", "2.36-9+deb12u4", "p", "amd64")
    scoped = sbom.Package("npm", "@types/node", "20.1.0", "p")
    assert (
        sbom.purl(deb, distro)
        == "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12"
    )
    assert sbom.purl(scoped, None) == "pkg:npm/%40types/node@20.1.0"


def test_broken_files_are_ignored_not_fatal() -> None:
    files = {
        "app/package-lock.json": b"{not json",
        "app/node_modules/x/package.json": b"[]",
        "x/a-1.dist-info/METADATA": b"Summary: no name\n",
    }
    assert sbom.packages(files) == []


def test_the_sbom_is_a_cyclonedx_1_5_document_of_every_package_once() -> None:
    files = {
        "etc/os-release": OS_RELEASE,
        "var/lib/dpkg/status": DPKG,
        "usr/lib/python3/dist-packages/Foo_Bar-1.0.dist-info/METADATA": METADATA,
        "app/.venv/lib/python3.11/site-packages/Foo_Bar-1.0.dist-info/METADATA": METADATA,
        "app/package-lock.json": LOCK_V3,
        "app/node_modules/express/package.json": b'{"name": "express", "version": "4.19.2"}',
    }
    pkgs = sbom.packages(files)
    assert sbom.counts(pkgs) == {"deb": 2, "npm": 3, "pypi": 1}
    doc = sbom.cyclonedx(
        pkgs,
        distro=sbom.distro_of(files),
        image="sha256:abc",
        deployment_id="d1",
        timestamp=datetime(2025, 1, 1, tzinfo=UTC),
    )
    assert (doc["bomFormat"], doc["specVersion"], doc["version"]) == ("CycloneDX", "1.5", 1)
    assert doc["serialNumber"].startswith("urn:uuid:")
    assert doc["components"][0] == {
        "type": "operating-system",
        "bom-ref": "os:debian@12",
        "name": "debian",
        "version": "12",
        "description": "Debian GNU/Linux 12 (bookworm)",
    }
    purls = [c["purl"] for c in doc["components"][1:]]
    assert len(purls) == len(set(purls)) == 6
    assert "pkg:pypi/foo-bar@1.0" in purls
    json.dumps(doc)  # serialisable as is


def test_vulnerabilities_are_counted_by_their_highest_severity() -> None:
    doc = {
        "vulnerabilities": [
            {"id": "CVE-1", "ratings": [{"severity": "high"}, {"severity": "critical"}]},
            {"id": "CVE-2", "ratings": [{"severity": "medium"}]},
            {"id": "CVE-3", "ratings": []},
            {"id": "CVE-4", "ratings": [{"severity": "HIGH"}]},
        ]
    }
    assert sbom.vulnerability_counts(doc) == {"critical": 1, "high": 1, "medium": 1, "unknown": 1}
