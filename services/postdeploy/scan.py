"""ScanVulnerabilitiesJob: a scanner's report when Trivy or Grype is installed, else an SBOM.

Without a scanner (or when it fails, e.g. with no vulnerability database offline) the job still
succeeds: it stores a CycloneDX SBOM of the image's OS and language packages and says in its
summary that vulnerability matching was skipped, and why.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from libs.artifacts import ArtifactBytes
from libs.containers.runtime import ContainerRuntimeError, DockerUnavailable, ImageNotFound
from libs.events.outputs import ArtifactOutput, BuildImageOutput
from libs.events.states import DeploymentState
from libs.events.subjects import ObjectPrefix, object_name
from libs.events.values import JobType
from libs.jobs import JobContext, JobError, JobSkip
from libs.records import image_of
from services.postdeploy import sbom
from services.postdeploy.ports import ImageFiles, ScannerFailed, VulnerabilityScanner

MAX_FILE_BYTES = 32 * 1024 * 1024  # a dpkg status of thousands of packages is a few MiB
NO_SCANNER = "no vulnerability scanner is installed (trivy or grype on PATH)"


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


def sbom_object(deployment_id: str) -> str:
    return object_name(ObjectPrefix.SBOMS, f"{deployment_id}.cdx.json")


def scan_ref(state: DeploymentState, image_id: str) -> str:
    """What to hand a scanner: the tag or reference when known (scanners resolve names)."""
    out = state.output_of(JobType.BUILD_IMAGE)
    if out is not None:
        tag = BuildImageOutput.model_validate(out).image_tag
        if tag:
            return tag
    return state.source.image_ref or image_id


async def scan_vulnerabilities(
    ctx: JobContext,
    *,
    files: ImageFiles | None,
    scanner: VulnerabilityScanner | None,
    objects: ArtifactBytes,
    docker_missing: str | None = None,
) -> ArtifactOutput:
    image = image_of(ctx.state)
    if image is None:
        raise JobSkip("no container image to scan (static files only)")
    name = sbom_object(ctx.deployment_id)
    reason = NO_SCANNER
    if scanner is not None:
        ctx.log.info(f"scanning {image} with {scanner.name}")
        try:
            report = await scanner.scan(scan_ref(ctx.state, image))
        except ScannerFailed as exc:
            reason = f"{scanner.name} failed: {exc}"
            ctx.log.write(reason, level="warning")
        else:
            return await _store_report(ctx, objects, name, scanner.name, report)
    if files is None:
        raise JobSkip(f"no Docker Engine to read the image from: {docker_missing or 'unknown'}")
    ctx.log.info(f"reading the package databases of {image}")
    try:
        found = await files.read(
            image, sbom.wanted, labels=ctx.labels, max_file_bytes=MAX_FILE_BYTES
        )
    except ImageNotFound as exc:
        raise JobError(str(exc), "image_missing") from None
    except DockerUnavailable as exc:
        raise JobError(str(exc), "docker_unavailable") from None
    except ContainerRuntimeError as exc:
        raise JobError(str(exc), "docker_error") from None
    pkgs = sbom.packages(found)
    distro = sbom.distro_of(found)
    doc = sbom.cyclonedx(
        pkgs,
        distro=distro,
        image=image,
        deployment_id=ctx.deployment_id,
        timestamp=datetime.now(UTC),
    )
    size = await objects.put_bytes(name, json.dumps(doc, indent=1).encode())
    by = sbom.counts(pkgs)
    listing = ", ".join(f"{n} {eco}" for eco, n in by.items()) or "none found"
    summary = f"SBOM of {len(pkgs)} packages ({listing}); vulnerability matching skipped: {reason}"
    ctx.log.info(summary)
    return ArtifactOutput(
        objects=(name,),
        summary=summary,
        details={
            "format": f"CycloneDX {sbom.SPEC_VERSION}",
            "image": image,
            "os": f"{distro.id} {distro.version_id or ''}".strip() if distro else None,
            "packages": len(pkgs),
            "by_ecosystem": by,
            "scanner": None,
            "vulnerability_matching": "skipped",
            "skipped_reason": reason,
            "bytes": size,
        },
    )


async def _store_report(
    ctx: JobContext, objects: ArtifactBytes, name: str, scanner: str, report: dict[str, object]
) -> ArtifactOutput:
    size = await objects.put_bytes(name, json.dumps(report, indent=1).encode())
    vulns = sbom.vulnerability_counts(report)
    components = len(report.get("components") or ())  # type: ignore[arg-type]
    total = sum(vulns.values())
    breakdown = ", ".join(f"{n} {sev}" for sev, n in vulns.items())
    summary = plural(total, "vulnerability", "vulnerabilities")
    summary += f" ({breakdown})" if breakdown else ""
    summary += f" in {plural(components, 'component')}, matched by {scanner}"
    ctx.log.info(summary)
    return ArtifactOutput(
        objects=(name,),
        summary=summary,
        details={
            "format": "CycloneDX",
            "scanner": scanner,
            "vulnerabilities": vulns,
            "components": components,
            "bytes": size,
        },
    )
