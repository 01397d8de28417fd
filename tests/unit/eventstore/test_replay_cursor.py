"""The replay's delivery bookkeeping: what is taken, skipped, or seen as a lost delivery."""

from __future__ import annotations

from typing import Any, cast

import pytest

from libs.eventstore.replay import Cursor, Verdict, replay_stored, reply_fields


def test_deliveries_in_order_are_taken() -> None:
    cursor = Cursor(last_seq=10)
    assert [cursor.classify(seq, d) for seq, d in [(11, 1), (12, 2), (15, 3)]] == [Verdict.TAKE] * 3
    assert cursor.last_seq == 15


def test_a_missing_delivery_is_a_gap_and_nothing_moves() -> None:
    cursor = Cursor(last_seq=0)
    cursor.classify(1, 1)
    assert cursor.classify(3, 3) is Verdict.GAP
    assert (cursor.last_seq, cursor.last_delivery) == (1, 1)


def test_redeliveries_of_what_was_seen_or_taken_are_skipped() -> None:
    cursor = Cursor(last_seq=0)
    for n in (1, 2, 3):
        cursor.classify(n, n)
    assert cursor.classify(2, 2) is Verdict.SKIP  # the same delivery number again
    assert cursor.classify(2, 4) is Verdict.SKIP  # a new number for an event already taken
    assert cursor.classify(4, 5) is Verdict.TAKE


def test_a_new_consumer_numbers_from_one_and_resumes_after_the_last_taken() -> None:
    cursor = Cursor(last_seq=0)
    for n in (1, 2, 3):
        cursor.classify(n, n)
    cursor.restart()
    assert cursor.classify(4, 1) is Verdict.TAKE


def test_reply_fields_of_both_reply_shapes() -> None:
    plain = "$JS.ACK.SLIPWAY_EVENTS.c1.1.228001.227.1795729146247066967.11"
    domain = "$JS.ACK.hub.ACCHASH.SLIPWAY_EVENTS.c1.2.5.4.1795729146247066967.0.rnd"
    assert reply_fields(plain) == (228001, 227, 1795729146247066967, 11)
    assert reply_fields(domain) == (5, 4, 1795729146247066967, 0)


async def test_a_window_smaller_than_two_chunks_is_refused() -> None:
    nc = cast(Any, None)  # refused before any use of the connection
    gen = replay_stored(nc, "S", "events.>", from_seq=1, target=10, chunk=50, window=60)
    with pytest.raises(ValueError, match="at least twice the chunk"):
        await anext(gen)
