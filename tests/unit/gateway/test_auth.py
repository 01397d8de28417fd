from __future__ import annotations

import pytest

from services.gateway.auth import TokenAuth
from services.gateway.problems import Problem


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic abc", "Bearer wrong"])
def test_missing_malformed_or_wrong_tokens_are_401(header: str | None) -> None:
    with pytest.raises(Problem) as info:
        TokenAuth("right").authenticate(header)
    assert info.value.status == 401


def test_the_admin_token_authenticates_as_admin() -> None:
    principal = TokenAuth("right").authenticate("bearer right")
    assert principal.actor == "token:admin"


def test_no_configured_token_forbids_every_call() -> None:
    with pytest.raises(Problem) as info:
        TokenAuth(None).authenticate("Bearer anything")
    assert info.value.status == 403
