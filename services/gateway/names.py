"""Names a user types: projects, environments, image references; and webhook deployment ids."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

# Fixed forever: a redelivered webhook must map to the same deployment id.
WEBHOOK_DEPLOYMENT_NAMESPACE = uuid.UUID("8a4f0c3e-52d1-4b8e-9f27-3c6d1e0b7a94")

MAX_LABEL = 63
_LABEL_RE = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
_RESERVED_ENV_PREFIX = "d-"  # d-<short id>.<project>.<base domain> is a deployment's own host


class InvalidName(ValueError):
    """A project or environment name that cannot be a DNS label."""


class InvalidImageReference(ValueError):
    """An image reference outside Docker's reference grammar."""


def validate_project_name(name: str) -> str:
    _check_label(name, "project name")
    return name


def validate_environment_name(name: str) -> str:
    _check_label(name, "environment name")
    if name.startswith(_RESERVED_ENV_PREFIX):
        raise InvalidName(
            f"environment name {name!r} may not start with 'd-' "
            "(reserved for deployment hosts d-<id>.<project>.<domain>)"
        )
    return name


def _check_label(name: str, what: str) -> None:
    if not name:
        raise InvalidName(f"{what} is empty")
    if len(name) > MAX_LABEL:
        raise InvalidName(f"{what} {name[:20]!r}... is {len(name)} characters; at most 63")
    if name != name.lower():
        raise InvalidName(f"{what} {name!r} must be lower-case")
    bad = sorted({c for c in name if not (c.isascii() and (c.isalnum() or c == "-"))})
    if bad:
        raise InvalidName(
            f"{what} {name!r} may only contain a-z, 0-9 and '-' (found {''.join(bad)!r})"
        )
    if not _LABEL_RE.match(name):
        raise InvalidName(f"{what} {name!r} must start and end with a letter or digit")


def deployment_id_for_webhook(project: str, environment: str, delivery_id: str) -> str:
    """The same delivery (GitHub/GitLab retry it) always names the same deployment."""
    return str(uuid.uuid5(WEBHOOK_DEPLOYMENT_NAMESPACE, f"{project}/{environment}/{delivery_id}"))


def deployment_id_for_key(project: str, environment: str, scope: str, key: str) -> str:
    """An `Idempotency-Key` or trigger id names one deployment per endpoint (`scope`)."""
    return str(uuid.uuid5(WEBHOOK_DEPLOYMENT_NAMESPACE, f"{scope}:{project}/{environment}/{key}"))


# --- image references: the grammar of distribution/reference -----------------------------------

_MAX_NAME = 255
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_RE = re.compile(
    rf"^(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?$"
)
_PATH_COMPONENT_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$", re.ASCII)
_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class ImageReference:
    """`[registry[:port]/]repository[:tag][@sha256:digest]`, as the user wrote it."""

    registry: str | None
    repository: str
    tag: str | None
    digest: str | None

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}" if self.registry else self.repository

    def __str__(self) -> str:
        tag = f":{self.tag}" if self.tag else ""
        digest = f"@{self.digest}" if self.digest else ""
        return f"{self.name}{tag}{digest}"


def parse_image_reference(ref: str) -> ImageReference:
    """Parse and validate; messages say which part is wrong and why."""
    if not ref or not ref.strip():
        raise InvalidImageReference("image reference is empty")
    if ref != ref.strip() or any(c.isspace() for c in ref):
        raise InvalidImageReference(f"image reference {ref!r} contains whitespace")
    rest, digest = _split_digest(ref)
    name, tag = _split_tag(rest, ref)
    registry, repository = _split_registry(name)
    if registry is not None and not _DOMAIN_RE.match(registry):
        raise InvalidImageReference(f"registry {registry!r} in {ref!r} is not a host[:port]")
    if len(name) > _MAX_NAME:
        raise InvalidImageReference(f"repository name in {ref!r} is longer than 255 characters")
    for component in repository.split("/"):
        _check_path_component(component, ref)
    return ImageReference(registry=registry, repository=repository, tag=tag, digest=digest)


def _split_digest(ref: str) -> tuple[str, str | None]:
    if "@" not in ref:
        return ref, None
    rest, digest = ref.split("@", 1)
    if not _DIGEST_RE.match(digest):
        raise InvalidImageReference(
            f"digest {digest!r} in {ref!r} must be sha256: followed by 64 lower-case hex digits"
        )
    return rest, digest


def _split_tag(rest: str, ref: str) -> tuple[str, str | None]:
    # A ':' after the last '/' is a tag; before it, it belongs to registry:port.
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon <= slash:
        return rest, None
    name, tag = rest[:colon], rest[colon + 1 :]
    if not _TAG_RE.match(tag):
        raise InvalidImageReference(
            f"tag {tag!r} in {ref!r} must be 1-128 of letters, digits, '_', '.', '-' "
            "and may not start with '.' or '-'"
        )
    return name, tag


def _split_registry(name: str) -> tuple[str | None, str]:
    first, sep, remainder = name.partition("/")
    # Docker's rule: the first component is a registry if it looks like a host.
    if sep and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        return first, remainder
    return None, name


def _check_path_component(component: str, ref: str) -> None:
    if not component:
        raise InvalidImageReference(f"image reference {ref!r} has an empty path component")
    if component != component.lower():
        raise InvalidImageReference(f"repository name must be lower-case: {component!r} in {ref!r}")
    if not _PATH_COMPONENT_RE.match(component):
        raise InvalidImageReference(
            f"path component {component!r} in {ref!r} must be lower-case letters and digits "
            "separated by '.', '_', '__' or '-'"
        )
