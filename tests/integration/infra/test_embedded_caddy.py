from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from libs.infra import EmbeddedCaddy, EmbeddedServerError, free_port


def _admin() -> str:
    return f"127.0.0.1:{free_port()}"


async def test_async_context_answers_on_the_admin_api(tmp_path: Path) -> None:
    async with EmbeddedCaddy(tmp_path, admin=_admin()) as server:
        async with httpx.AsyncClient() as client:
            response = await client.get(f"{server.admin_url}/config/")
        assert response.json() == {"admin": {"listen": server.admin}}
    assert not server.running


def test_config_pushed_through_the_admin_api_survives_a_restart(tmp_path: Path) -> None:
    server = EmbeddedCaddy(tmp_path, admin=_admin(), edge_listen=f"127.0.0.1:{free_port()}")
    with server:
        route = {"handle": [{"handler": "static_response", "body": "resumed"}]}
        response = httpx.post(
            f"{server.admin_url}/config/apps/http/servers/edge/routes", json=route
        )
        assert response.status_code == 200
    assert server.autosave_path.exists()
    with server:
        assert httpx.get(f"http://127.0.0.1:{server.edge_port}/").text == "resumed"


def test_an_admin_address_already_answering_is_refused(tmp_path: Path) -> None:
    with EmbeddedCaddy(tmp_path / "a", admin=_admin()) as first:
        second = EmbeddedCaddy(tmp_path / "b", admin=first.admin)
        with pytest.raises(EmbeddedServerError, match="already answers"):
            second.start()
        assert not second.running
