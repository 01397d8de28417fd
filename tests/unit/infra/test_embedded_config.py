from __future__ import annotations

from pathlib import Path

import pytest

from libs.infra import EDGE_SERVER, EmbeddedCaddy, EmbeddedNats, EmbeddedServerError


def test_nats_rejects_an_out_of_range_port(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="port must be"):
        EmbeddedNats(tmp_path, port=70000)


def test_nats_url_before_start_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EmbeddedServerError, match="not been started"):
        _ = EmbeddedNats(tmp_path).url


def test_nats_config_enables_jetstream_with_synchronous_writes(tmp_path: Path) -> None:
    server = EmbeddedNats(tmp_path / 'we"ird dir', port=4333)
    config = server._config(4333, tmp_path / "run")
    assert "sync_interval: always" in config
    assert 'listen: "127.0.0.1:4333"' in config
    assert '\\"' in config  # the quote in the path is escaped, not closing the string
    assert server.store_dir == tmp_path / 'we"ird dir' / "jetstream"


def test_caddy_rejects_admin_port_zero(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="admin port must be fixed"):
        EmbeddedCaddy(tmp_path, admin="127.0.0.1:0")


@pytest.mark.parametrize("admin", ["localhost", "127.0.0.1:abc"])
def test_caddy_rejects_a_malformed_admin_address(tmp_path: Path, admin: str) -> None:
    with pytest.raises(ValueError, match="host:port"):
        EmbeddedCaddy(tmp_path, admin=admin)


def test_caddy_rejects_a_malformed_edge_address(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="edge_listen"):
        EmbeddedCaddy(tmp_path, edge_listen="127.0.0.1")


def test_caddy_initial_config_is_admin_only_without_an_edge(tmp_path: Path) -> None:
    server = EmbeddedCaddy(tmp_path, admin="127.0.0.1:2999")
    assert server.initial_config() == {"admin": {"listen": "127.0.0.1:2999"}}
    assert server.edge_port is None


def test_caddy_initial_config_has_a_plain_http_edge_server(tmp_path: Path) -> None:
    server = EmbeddedCaddy(tmp_path, admin="127.0.0.1:2999", edge_listen=":8080")
    edge = server.initial_config()["apps"]["http"]["servers"][EDGE_SERVER]
    assert edge["listen"] == [":8080"]
    assert edge["automatic_https"] == {"disable": True}
    assert server.edge_port == 8080
