"""What the fake adds for other tests: crashes, registry auth; and crash descriptions."""

from __future__ import annotations

import pytest

from libs.containers.fake import FakeContainerRuntime
from libs.containers.runtime import ContainerSpec, ContainerState, RegistryAuth, RegistryError


async def test_fake_registry_requires_the_credentials_it_was_published_with() -> None:
    fake = FakeContainerRuntime()
    auth = RegistryAuth("bot", "pw")
    fake.publish("registry.example/app:1", exposed_ports=(3000,), auth=auth)
    with pytest.raises(RegistryError, match="unauthorized"):
        await fake.pull("registry.example/app:1")
    info = await fake.pull("registry.example/app:1", auth)
    assert info.exposed_ports == (3000,)
    assert await fake.image_exists("registry.example/app:1")


async def test_fake_crash_and_oom_are_reported_as_crashed() -> None:
    fake = FakeContainerRuntime()
    fake.add_image("sha256:x", tags=("app:1",))
    info = await fake.run(ContainerSpec(name="c", image="app:1", port=3000))
    fake.crash(info.id, exit_code=137, oom=True, restarts=0)
    state = await fake.inspect_state(info.id)
    assert state.crashed and "out of memory" in state.describe()


def test_crash_descriptions_name_the_cause() -> None:
    assert "exited with code 2" in ContainerState("exited", False, 2).describe()
    assert "restarted 3 time(s)" in ContainerState("running", True, 1, restart_count=3).describe()
    assert not ContainerState("running", True).crashed
