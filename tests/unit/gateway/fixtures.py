from __future__ import annotations

from pathlib import Path

WEBHOOK_FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "webhooks"


def webhook_body(name: str) -> bytes:
    """The raw bytes of a fixture, exactly as a provider would send them."""
    return (WEBHOOK_FIXTURES / name).read_bytes()
