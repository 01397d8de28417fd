"""The CLI's own export verification (used when libs.audit is not installed)."""

from __future__ import annotations

import base64
import json

from slipway.verify import verify_fallback
from tests.unit.cli.exports import export_lines, tamper_raw


def test_an_intact_export_verifies() -> None:
    outcome = verify_fallback(export_lines(), complete=True)
    assert outcome.ok
    assert outcome.summary == "verified 5 events of 2 aggregates (seq 1..5)"


def test_an_edited_event_breaks_at_its_sequence() -> None:
    lines = export_lines()
    lines[3] = tamper_raw(lines[3], '"by":"t2"', '"by":"tX"')
    outcome = verify_fallback(lines, complete=True)
    assert not outcome.ok
    assert outcome.summary.startswith("verification FAILED at seq 4 (deployment ")
    assert "hash does not match" in outcome.summary


def test_a_removed_event_is_a_gap_and_a_broken_link() -> None:
    lines = export_lines()
    del lines[2]
    outcome = verify_fallback(lines, complete=True)
    assert outcome.summary.startswith("verification FAILED at seq 3: missing (seq 4 follows seq 2)")
    assert "(+1 more)" in outcome.summary


def test_a_cut_off_end_is_found_when_the_last_sequence_is_known() -> None:
    outcome = verify_fallback(export_lines()[:4], complete=True, last_seq=5)
    assert outcome.summary == "verification FAILED at seq 5: missing at the end (the log ends at 5)"


def test_events_out_of_order_are_reported() -> None:
    lines = export_lines()
    lines[1], lines[2] = lines[2], lines[1]
    assert not verify_fallback(lines, complete=False).ok


def test_a_line_that_is_not_an_event_is_reported_with_its_line_number() -> None:
    outcome = verify_fallback([*export_lines(), "not json"], complete=True)
    assert "line 6: not an exported event" in outcome.summary


def test_a_line_without_raw_is_checked_as_the_stored_event_itself() -> None:
    lines = []
    for line in export_lines():
        obj = json.loads(line)
        stored = json.loads(base64.b64decode(obj["raw"]))
        lines.append(json.dumps({"seq": obj["seq"], **stored}))
    assert verify_fallback(lines, complete=True).ok
