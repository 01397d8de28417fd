from __future__ import annotations

import json

import pytest

from libs.events import catalog as ev
from libs.events import encoding
from libs.events.envelope import Envelope, EventData
from tests.factories import dep_event, requested


def _reference_seal(env: Envelope, prev_hash: str | None) -> tuple[Envelope, bytes]:
    """Sealing as first written: two copies, two dumps; the bytes must never change."""
    linked = env.model_copy(update={"prev_hash": prev_hash, "hash": None})
    raw = encoding.seal(linked.to_dict())
    digest = encoding.compute_hash(linked.to_dict(), linked.encoding)
    return linked.model_copy(update={"hash": digest}), raw


def _reference_encode(obj: dict[str, object]) -> bytes:
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


PAYLOADS: list[EventData] = [
    requested("dseal"),
    ev.JobStarted(job_id="pull", job_type="PullExternalImageJob", attempt=3, executor="h:1"),
    ev.JobSucceeded(job_id="pull", attempt=3, output={"image_id": "sha256:ab", "n": 1.5}),
    ev.JobFailed(job_id="build", attempt=1, error="échec: « quoted » ✗ \u2028 \x00"),
    ev.DeploymentCancelled(reason="x", by="u", superseded_by=None),
]


@pytest.mark.parametrize("prev_hash", [None, "ab" * 32])
@pytest.mark.parametrize("data", PAYLOADS, ids=lambda d: type(d).__name__)
def test_sealing_produces_the_same_bytes_and_hash_as_the_reference_encoder(
    data: EventData, prev_hash: str | None
) -> None:
    env = dep_event("dseal", data, cause="c1")
    sealed, raw = env.sealed(prev_hash)
    ref_env, ref_raw = _reference_seal(env, prev_hash)
    assert raw == ref_raw
    assert sealed == ref_env
    assert encoding.encode(sealed.to_dict()) == _reference_encode(sealed.to_dict()) == raw
    assert encoding.verify_bytes(raw)["hash"] == sealed.hash


def test_resealing_an_already_sealed_envelope_links_it_anew() -> None:
    env = dep_event("dseal", requested("dseal"), cause="c1")
    once, _ = env.sealed(None)
    again, raw = once.sealed("cd" * 32)
    assert (again, raw) == _reference_seal(env, "cd" * 32)
