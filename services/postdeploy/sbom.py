"""A CycloneDX 1.5 SBOM of an image's packages, from the files package managers leave (pure).

Read: Debian's `var/lib/dpkg/status` (and distroless `status.d/*`), Alpine's
`lib/apk/db/installed`, Python `*.dist-info/METADATA` and `*.egg-info/PKG-INFO`, npm
`package-lock.json` (v1 `dependencies`, v2/v3 `packages`, and npm 7's hidden
`node_modules/.package-lock.json`) and every `node_modules/<name>/package.json`. Packages are
identified by purl and listed once.
"""

from __future__ import annotations

import json
import posixpath
import re
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.parser import HeaderParser
from typing import Any
from urllib.parse import quote

SPEC_VERSION = "1.5"
SEVERITIES = ("critical", "high", "medium", "low", "info", "none", "unknown")

DPKG_STATUS = "var/lib/dpkg/status"
DPKG_STATUS_D = "var/lib/dpkg/status.d/"
APK_INSTALLED = "lib/apk/db/installed"
OS_RELEASE = ("etc/os-release", "usr/lib/os-release")
_NODE_PACKAGE = re.compile(r"(^|/)node_modules/(@[^/]+/)?[^/@.][^/]*/package\.json$")


@dataclass(frozen=True)
class Package:
    ecosystem: str  # deb, apk, pypi, npm
    name: str
    version: str
    path: str  # where it was found in the image
    arch: str | None = None
    licenses: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Distro:
    id: str  # debian, ubuntu, alpine, ...
    version_id: str | None
    pretty_name: str | None


def wanted(path: str) -> bool:
    """Whether a file of the image is one the SBOM reads."""
    if path in (DPKG_STATUS, APK_INSTALLED, *OS_RELEASE):
        return True
    if path.startswith(DPKG_STATUS_D) and not path.endswith(".md5sums"):
        return True
    base = posixpath.basename(path)
    parent = posixpath.basename(posixpath.dirname(path))
    if base == "METADATA" and parent.endswith(".dist-info"):
        return True
    if base == "PKG-INFO" and parent.endswith(".egg-info"):
        return True
    if base in ("package-lock.json", ".package-lock.json"):
        return True
    return bool(_NODE_PACKAGE.search(path))


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def parse_dpkg(text: str, path: str) -> list[Package]:
    out = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = None
        for line in stanza.splitlines():
            if line[:1] in (" ", "\t") and key is not None:
                continue  # continuation lines (descriptions, conffiles)
            key, sep, value = line.partition(":")
            if sep:
                fields[key.strip()] = value.strip()
        name, version = fields.get("Package"), fields.get("Version")
        if not name or not version:
            continue
        status = fields.get("Status")
        if status is not None and not status.endswith(" installed"):
            continue
        out.append(Package("deb", name, version, path, fields.get("Architecture")))
    return out


def parse_apk(text: str, path: str) -> list[Package]:
    out = []
    for stanza in re.split(r"\n\s*\n", text):
        fields = dict(
            (line[0], line[2:].strip()) for line in stanza.splitlines() if line[1:2] == ":"
        )
        if fields.get("P") and fields.get("V"):
            lic = (fields["L"],) if fields.get("L") else ()
            out.append(Package("apk", fields["P"], fields["V"], path, fields.get("A"), lic))
    return out


def parse_python_metadata(text: str, path: str) -> list[Package]:
    meta = HeaderParser().parsestr(text)
    name, version = meta.get("Name"), meta.get("Version")
    if not name or not version:
        return []
    lic = meta.get("License-Expression") or meta.get("License")
    licenses = (lic.strip(),) if lic and lic.strip() and "\n" not in lic.strip() else ()
    return [Package("pypi", str(name).strip(), str(version).strip(), path, None, licenses)]


def _npm_name_from_path(key: str) -> str | None:
    marker = "node_modules/"
    at = key.rfind(marker)
    return key[at + len(marker) :] if at >= 0 else None


def parse_package_lock(text: str, path: str) -> list[Package]:
    try:
        doc = json.loads(text)
    except ValueError:
        return []
    out = []
    packages = doc.get("packages") if isinstance(doc, dict) else None
    if isinstance(packages, dict):
        for key, info in packages.items():
            name = _npm_name_from_path(key) if key else None
            if not name or not isinstance(info, dict) or info.get("link"):
                continue
            name = str(info.get("name") or name)
            if info.get("version"):
                out.append(Package("npm", name, str(info["version"]), path, None, _npm_lic(info)))
        return out

    def walk(deps: Any) -> None:
        if not isinstance(deps, dict):
            return
        for name, info in deps.items():
            if isinstance(info, dict) and info.get("version"):
                out.append(Package("npm", str(name), str(info["version"]), path))
                walk(info.get("dependencies"))

    walk(doc.get("dependencies") if isinstance(doc, dict) else None)
    return out


def _npm_lic(info: Mapping[str, Any]) -> tuple[str, ...]:
    lic = info.get("license")
    return (lic,) if isinstance(lic, str) and lic else ()


def parse_package_json(text: str, path: str) -> list[Package]:
    try:
        doc = json.loads(text)
    except ValueError:
        return []
    if not isinstance(doc, dict) or not doc.get("name") or not doc.get("version"):
        return []
    return [Package("npm", str(doc["name"]), str(doc["version"]), path, None, _npm_lic(doc))]


def parse_os_release(text: str) -> Distro | None:
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key.strip()] = value.strip().strip('"').strip("'")
    if not fields.get("ID"):
        return None
    return Distro(fields["ID"], fields.get("VERSION_ID"), fields.get("PRETTY_NAME"))


def packages(files: Mapping[str, bytes]) -> list[Package]:
    """Every package found, in a stable order, each purl once."""
    found: list[Package] = []
    for path in sorted(files):
        text = _text(files[path])
        base = posixpath.basename(path)
        if path == DPKG_STATUS or path.startswith(DPKG_STATUS_D):
            found += parse_dpkg(text, path)
        elif path == APK_INSTALLED:
            found += parse_apk(text, path)
        elif base in ("METADATA", "PKG-INFO"):
            found += parse_python_metadata(text, path)
        elif base in ("package-lock.json", ".package-lock.json"):
            found += parse_package_lock(text, path)
        elif base == "package.json":
            found += parse_package_json(text, path)
    unique: dict[str, Package] = {}
    for pkg in found:
        unique.setdefault(purl(pkg, None), pkg)
    return sorted(unique.values(), key=lambda p: (p.ecosystem, p.name.lower(), p.version))


def distro_of(files: Mapping[str, bytes]) -> Distro | None:
    for path in OS_RELEASE:
        if path in files:
            return parse_os_release(_text(files[path]))
    return None


def _pypi_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def purl(pkg: Package, distro: Distro | None) -> str:
    version = quote(pkg.version, safe=".-_~:")
    if pkg.ecosystem == "pypi":
        return f"pkg:pypi/{_pypi_name(pkg.name)}@{version}"
    if pkg.ecosystem == "npm":
        scope, _, name = pkg.name.rpartition("/")
        prefix = f"{quote(scope, safe='')}/" if scope else ""
        return f"pkg:npm/{prefix}{quote(name, safe='.-_~')}@{version}"
    namespace = (distro.id if distro else None) or (
        "alpine" if pkg.ecosystem == "apk" else "debian"
    )
    qualifiers = []
    if pkg.arch:
        qualifiers.append(f"arch={quote(pkg.arch, safe='')}")
    if distro and distro.version_id:
        qualifiers.append(f"distro={quote(f'{distro.id}-{distro.version_id}', safe='.-_')}")
    query = "?" + "&".join(qualifiers) if qualifiers else ""
    return f"pkg:{pkg.ecosystem}/{namespace}/{quote(pkg.name, safe='.-_~+')}@{version}{query}"


def counts(pkgs: Iterable[Package]) -> dict[str, int]:
    return dict(sorted(Counter(p.ecosystem for p in pkgs).items()))


def cyclonedx(
    pkgs: list[Package],
    *,
    distro: Distro | None,
    image: str,
    deployment_id: str,
    timestamp: datetime,
    tool_version: str = "0.1.0",
) -> dict[str, Any]:
    """The CycloneDX 1.5 JSON document (serial number stable per deployment and image)."""
    components: list[dict[str, Any]] = []
    if distro is not None:
        components.append(
            {
                "type": "operating-system",
                "bom-ref": f"os:{distro.id}@{distro.version_id or ''}",
                "name": distro.id,
                **({"version": distro.version_id} if distro.version_id else {}),
                **({"description": distro.pretty_name} if distro.pretty_name else {}),
            }
        )
    for pkg in pkgs:
        ref = purl(pkg, distro)
        component: dict[str, Any] = {
            "type": "library",
            "bom-ref": ref,
            "name": pkg.name,
            "version": pkg.version,
            "purl": ref,
            "properties": [
                {"name": "slipway:ecosystem", "value": pkg.ecosystem},
                {"name": "slipway:path", "value": pkg.path},
            ],
        }
        if pkg.licenses:
            component["licenses"] = [{"license": {"name": lic}} for lic in pkg.licenses]
        components.append(component)
    serial = uuid.uuid5(uuid.NAMESPACE_URL, f"slipway:sbom:{deployment_id}:{image}")
    return {
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": f"urn:uuid:{serial}",
        "version": 1,
        "metadata": {
            "timestamp": timestamp.isoformat().replace("+00:00", "Z"),
            "tools": {
                "components": [{"type": "application", "name": "slipway", "version": tool_version}]
            },
            "component": {"type": "container", "bom-ref": image, "name": image},
            "properties": [{"name": "slipway:deployment", "value": deployment_id}],
        },
        "components": components,
    }


def vulnerability_counts(doc: Mapping[str, Any]) -> dict[str, int]:
    """Vulnerabilities of a scanner's CycloneDX document by their highest-rated severity."""
    found: Counter[str] = Counter()
    for vuln in doc.get("vulnerabilities") or ():
        severities = [
            str(r.get("severity", "unknown")).lower()
            for r in (vuln.get("ratings") or ())
            if isinstance(r, dict)
        ]
        known = [s for s in severities if s in SEVERITIES] or ["unknown"]
        found[min(known, key=SEVERITIES.index)] += 1
    return {s: found[s] for s in SEVERITIES if found[s]}
