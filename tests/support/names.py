"""Unique names per test, so tests never share streams, consumers, projects or databases."""

from __future__ import annotations

import re
import secrets

DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_SUFFIX_LEN = 8


def unique(prefix: str = "t", *, max_length: int = 63) -> str:
    """`<prefix>-<8 hex>`, lowercased, a valid DNS label (RFC 1123) of at most `max_length`.

    Characters a label cannot hold become `-`; a long prefix is cut, never the random part.
    """
    if not _SUFFIX_LEN + 2 <= max_length <= 63:
        raise ValueError(f"max_length must be {_SUFFIX_LEN + 2}..63, got {max_length}")
    base = re.sub(r"[^a-z0-9]+", "-", prefix.lower()).strip("-")
    if not base:
        raise ValueError(f"prefix {prefix!r} has no letter or digit to build a name from")
    base = base[: max_length - _SUFFIX_LEN - 1].rstrip("-")
    return f"{base}-{secrets.token_hex(_SUFFIX_LEN // 2)}"


def unique_identifier(prefix: str = "t", *, max_length: int = 63) -> str:
    """`unique()` with `_` for `-`: a bare SQL identifier (database, schema, table)."""
    return unique(prefix, max_length=max_length).replace("-", "_")
