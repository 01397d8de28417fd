"""Host names of §7, shared by routing, the query API and post-deploy jobs (pure)."""

from __future__ import annotations

import re

PRODUCTION = "production"
SHORT_ID_LEN = 8
_NOT_LABEL = re.compile(r"[^a-z0-9]")


def short_id(deployment_id: str) -> str:
    """The deployment's short id: the first 8 letters/digits of its id, lower case (a DNS label)."""
    short = _NOT_LABEL.sub("", deployment_id.lower())[:SHORT_ID_LEN]
    if not short:
        raise ValueError(f"deployment id {deployment_id!r} has no letters or digits")
    return short


def environment_hosts(
    project: str, environment: str, base_domain: str, domain: str | None = None
) -> tuple[str, ...]:
    """`<env>.<project>.<base>`, production also `<project>.<base>`, plus a custom domain."""
    hosts = [f"{environment}.{project}.{base_domain}"]
    if environment == PRODUCTION:
        hosts.append(f"{project}.{base_domain}")
    if domain:
        hosts.append(domain.strip().lower().rstrip("."))
    return tuple(dict.fromkeys(hosts))


def deployment_host(deployment_id: str, project: str, base_domain: str) -> str:
    """The immutable `d-<short id>.<project>.<base>` of one deployment."""
    return f"d-{short_id(deployment_id)}.{project}.{base_domain}"
