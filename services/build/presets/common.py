"""What every preset matcher receives besides the repository."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Ask:
    """The overrides a matcher must respect.

    ``forced``: the preset was chosen by the environment or slipway.toml, so the matcher accepts
    weaker evidence (and must then say what is missing instead of passing). ``start`` and
    ``static_dir`` come from the environment or slipway.toml and win over what is detected.
    """

    forced: bool = False
    start: str | None = None
    static_dir: str | None = None
