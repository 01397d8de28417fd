"""The port of the routing service to the edge proxy (§7)."""

from __future__ import annotations

from typing import Any, Protocol

from services.routing.desired import DesiredState


class ProxyError(Exception):
    """The proxy refused a config; the message carries its own words."""


class ProxyUnavailable(ProxyError):
    """The proxy's admin API cannot be reached."""


class ProxyConflict(ProxyError):
    """Another writer kept changing the config between our read and our write."""


class Proxy(Protocol):
    """Makes the edge serve a desired state. `apply` replaces the whole config under `If-Match`,
    so a concurrent change is never overwritten blindly; it returns once the proxy confirmed."""

    async def apply(self, desired: DesiredState) -> None: ...

    async def matches(self, desired: DesiredState) -> bool:
        """Whether the running config is exactly the one `desired` gives (e.g. after a restart)."""
        ...

    async def current(self) -> dict[str, Any]:
        """The running config as JSON ({} when empty)."""
        ...
