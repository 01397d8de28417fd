from __future__ import annotations

from typing import cast

import pytest

from services.gateway.deployments import Deployments
from services.gateway.directory import Directory
from services.gateway.triggers import Triggers


@pytest.fixture
def triggers() -> Triggers:
    # These refusals are decided before any read or write: no collaborator is touched.
    return Triggers(cast(Directory, None), cast(Deployments, None))


async def test_bad_json_is_refused_under_the_fallback_id(triggers: Triggers) -> None:
    result = await triggers.handle(b"{nope", "seq-17")
    assert (result.trigger_id, result.accepted, result.status) == ("seq-17", False, 400)


async def test_an_invalid_message_is_refused_under_its_own_trigger_id(triggers: Triggers) -> None:
    result = await triggers.handle(b'{"trigger_id": "t-1", "project": "p"}', "seq-1")
    assert (result.trigger_id, result.status) == ("t-1", 422)
    assert result.reason and "environment" in result.reason


async def test_an_unusable_trigger_id_falls_back(triggers: Triggers) -> None:
    result = await triggers.handle(b'{"trigger_id": "has.dot", "project": "p"}', "seq-2")
    assert (result.trigger_id, result.status) == ("seq-2", 422)


async def test_an_image_and_a_branch_together_are_refused(triggers: Triggers) -> None:
    body = (
        b'{"trigger_id": "t", "project": "p", "environment": "e", "image_ref": "x", "branch": "m"}'
    )
    result = await triggers.handle(body, "seq-3")
    assert (result.accepted, result.status) == (False, 422)
