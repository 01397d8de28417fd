"""The per-aggregate hash chain: sealing, verification, and detection of every kind of tampering."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from libs.events import catalog as ev
from libs.events import encoding
from libs.events.encoding import ChainBreak, EncodingError, verify_bytes, verify_chain
from libs.events.envelope import Envelope
from libs.events.registry import decode
from tests.factories import dep_event
from tests.unit.events.histories import PROPERTY, deployment_histories, environment_histories

stored_histories = st.one_of(
    deployment_histories().map(lambda h: h.events),
    environment_histories().map(lambda h: tuple(r.envelope for r in h.events)),
)


def seal_all(events: Sequence[Envelope]) -> list[tuple[Envelope, bytes]]:
    """Each event linked to the one before it, as the event store appends them."""
    out: list[tuple[Envelope, bytes]] = []
    prev: str | None = None
    for event in events:
        linked, raw = event.sealed(prev)
        out.append((linked, raw))
        prev = linked.hash
    return out


def numbered(raws: Sequence[bytes]) -> list[tuple[int | None, bytes]]:
    return [(None, raw) for raw in raws]


@PROPERTY
@given(stored_histories)
def test_sealed_history_verifies_and_decodes_back_to_the_same_envelopes(
    events: tuple[Envelope, ...],
) -> None:
    sealed = seal_all(events)
    raws = [raw for _, raw in sealed]
    assert verify_chain(numbered(raws)) == len(events)
    prev = None
    for linked, raw in sealed:
        stored = verify_bytes(raw)
        assert stored["hash"] == linked.hash
        assert stored["prev_hash"] == prev
        assert decode(raw) == linked
        prev = linked.hash


@PROPERTY
@given(stored_histories, st.data())
def test_any_changed_byte_is_detected_at_its_event(
    events: tuple[Envelope, ...], data: st.DataObject
) -> None:
    raws = [raw for _, raw in seal_all(events)]
    index = data.draw(st.integers(0, len(raws) - 1), label="event")
    pos = data.draw(st.integers(0, len(raws[index]) - 1), label="byte position")
    old = raws[index][pos]
    new = data.draw(st.integers(0, 255).filter(lambda b: b != old), label="new byte")
    tampered = bytearray(raws[index])
    tampered[pos] = new
    raws[index] = bytes(tampered)

    with pytest.raises(EncodingError):
        verify_bytes(raws[index])
    with pytest.raises(ChainBreak) as caught:
        verify_chain(numbered(raws))
    assert caught.value.index == index
    assert str(caught.value).startswith(f"event #{index}:")
    seqs = [10 * (n + 1) for n in range(len(raws))]
    with pytest.raises(ChainBreak) as by_seq:
        verify_chain(list(zip(seqs, raws, strict=True)))
    assert (by_seq.value.index, by_seq.value.seq) == (index, seqs[index])
    assert str(by_seq.value).startswith(f"seq {seqs[index]}:")


@PROPERTY
@given(stored_histories, st.data())
def test_dropped_event_breaks_the_chain_where_it_was(
    events: tuple[Envelope, ...], data: st.DataObject
) -> None:
    raws = [raw for _, raw in seal_all(events)]
    if len(raws) < 2:
        return
    index = data.draw(st.integers(0, len(raws) - 2), label="dropped")
    del raws[index]
    with pytest.raises(ChainBreak) as caught:
        verify_chain(numbered(raws))
    assert caught.value.index == index
    assert "prev_hash" in caught.value.reason


@PROPERTY
@given(stored_histories)
def test_dropping_the_last_event_is_invisible_to_the_chain_alone(
    events: tuple[Envelope, ...],
) -> None:
    # A truncated tail still links; `audit verify` catches it by the stream's sequences instead.
    raws = [raw for _, raw in seal_all(events)]
    assert verify_chain(numbered(raws[:-1])) == len(raws) - 1


@PROPERTY
@given(stored_histories, st.data())
def test_swapped_adjacent_events_break_the_chain_at_the_first_of_them(
    events: tuple[Envelope, ...], data: st.DataObject
) -> None:
    raws = [raw for _, raw in seal_all(events)]
    if len(raws) < 2:
        return
    index = data.draw(st.integers(0, len(raws) - 2), label="first of the pair")
    raws[index], raws[index + 1] = raws[index + 1], raws[index]
    with pytest.raises(ChainBreak) as caught:
        verify_chain(numbered(raws))
    assert caught.value.index == index


# ---------------------------------------------------------------- directed cases


def _one_sealed() -> dict[str, Any]:
    event = dep_event("dep1", ev.DeploymentAdmitted(deployment_id="dep1"), cause="c1")
    _, raw = event.sealed(None)
    obj: dict[str, Any] = json.loads(raw)
    return obj


def _resealed(obj: Mapping[str, Any]) -> bytes:
    return encoding.seal({k: v for k, v in obj.items() if k != "hash"})


def test_first_event_must_not_link_to_a_predecessor() -> None:
    event = dep_event("dep1", ev.DeploymentAdmitted(deployment_id="dep1"), cause="c1")
    _, raw = event.sealed("0" * 64)
    with pytest.raises(ChainBreak) as caught:
        verify_chain([(5, raw)])
    assert (caught.value.index, caught.value.seq) == (0, 5)


def test_empty_chain_verifies_as_zero_events() -> None:
    assert verify_chain([]) == 0


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"not json", "not valid JSON"),
        (b"\xff\xfe{}", "not valid JSON"),
        (b"[1, 2]", "an event is a JSON object"),
        (b'{"encoding": 99}', "unknown encoding"),
        (b'{"data": {}}', "unknown encoding"),
    ],
)
def test_unreadable_stored_bytes_are_an_encoding_error(raw: bytes, message: str) -> None:
    with pytest.raises(EncodingError, match=message):
        verify_bytes(raw)


def test_non_canonical_bytes_are_refused_even_with_a_matching_hash() -> None:
    obj = _one_sealed()
    pretty = json.dumps(obj, indent=1, sort_keys=True).encode()
    with pytest.raises(EncodingError, match="canonical"):
        verify_bytes(pretty)


def test_rehashed_edit_is_caught_by_the_link_of_the_next_event() -> None:
    first = dep_event("dep1", ev.DeploymentAdmitted(deployment_id="dep1"), cause="c1")
    second = dep_event("dep1", ev.DeploymentPaused(by="tok"), cause="c2")
    linked, raw1 = first.sealed(None)
    _, raw2 = second.sealed(linked.hash)
    edited = json.loads(raw1)
    edited["actor"] = "mallory"
    forged = _resealed(edited)
    verify_bytes(forged)  # a forger can rehash one event on its own ...
    with pytest.raises(ChainBreak) as caught:
        verify_chain([(1, forged), (2, raw2)])
    assert caught.value.index == 1  # ... but the next event still names the original hash


@pytest.mark.parametrize("number", [b"1e999", b"-1e999", b"NaN", b"Infinity", b"-Infinity"])
def test_numbers_json_cannot_hold_are_an_encoding_error(number: bytes) -> None:
    raw = b'{"data":{"x":' + number + b'},"encoding":1,"hash":"00"}'
    with pytest.raises(EncodingError):
        verify_bytes(raw)
    with pytest.raises(ChainBreak):
        verify_chain([(None, raw)])


def test_sealed_envelope_carries_the_hash_of_its_stored_bytes_under_its_own_encoding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def spaced(obj: Mapping[str, Any]) -> bytes:
        return json.dumps(obj, sort_keys=True, separators=(", ", ": ")).encode()

    monkeypatch.setitem(encoding.ENCODERS, 2, spaced)
    event = dep_event("dep1", ev.DeploymentAdmitted(deployment_id="dep1"), cause="c1")
    linked, raw = event.model_copy(update={"encoding": 2}).sealed(None)
    assert verify_bytes(raw)["hash"] == linked.hash
