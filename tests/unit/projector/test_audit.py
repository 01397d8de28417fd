"""Export lines and their verification (pure): a clean log passes, every tampering is named."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime

import pytest

from libs.audit import ExportFilter, InvalidExportFilter, export_lines, export_record, verify_export
from libs.events import Aggregate, DeploymentType
from libs.events import catalog as ev
from tests.unit.projector.fakes import FakeEventSource
from tests.unit.projector.support import FakeLog, image_run, requested


def exported(n_deployments: int = 3) -> list[str]:
    log = FakeLog()
    for _ in range(n_deployments):
        did = str(uuid.uuid4())
        log.deployment(did, requested(did, kind=DeploymentType.IMAGE))
        image_run(log, did)
    log.append(ev.ProjectRegistered(name="shop"), Aggregate.PROJECT, "shop")
    source = FakeEventSource()
    for rec in log.events:
        source.append(rec.envelope.model_copy(update={"prev_hash": None, "hash": None}))
    return [json.dumps(export_record(m)) for m in source.messages]


def test_a_clean_export_verifies() -> None:
    lines = exported()
    report = verify_export(lines, last_seq=len(lines))
    assert report.ok and report.first_break is None
    assert (report.events, report.aggregates) == (len(lines), 4)
    assert report.summary() == f"verified {len(lines)} events of 4 aggregates (seq 1..{len(lines)})"
    assert report.to_dict()["ok"] is True


def test_one_flipped_bit_in_the_stored_bytes_is_named_by_its_sequence() -> None:
    lines = exported()
    line = json.loads(lines[6])
    raw = bytearray(base64.b64decode(line["raw"]))
    raw[raw.index(b'"actor":"') + 9] ^= 0x20
    line["raw"] = base64.b64encode(bytes(raw)).decode()
    report = verify_export([*lines[:6], json.dumps(line), *lines[7:]])
    assert report.first_break is not None and report.first_break.seq == 7
    assert "hash does not match" in report.first_break.reason
    assert len(report.breaks) == 1  # the next event still links to the hash the event claims
    assert report.summary().startswith("verification FAILED at seq 7")


def test_an_edited_readable_field_disagrees_with_the_stored_bytes() -> None:
    lines = exported()
    line = json.loads(lines[3])
    line["data"]["job_id"] = "pwned"
    broken = verify_export([*lines[:3], json.dumps(line), *lines[4:]]).first_break
    assert broken is not None and broken.seq == 4 and "data" in broken.reason


def test_a_removed_event_is_a_missing_sequence() -> None:
    lines = exported()
    broken = verify_export([*lines[:9], *lines[10:]]).first_break
    assert broken is not None and broken.seq == 10 and "missing" in broken.reason
    first = verify_export(lines[1:]).first_break
    assert first is not None and first.seq == 1


def test_swapped_lines_are_out_of_order() -> None:
    lines = exported()
    swapped = [*lines[:4], lines[5], lines[4], *lines[6:]]
    report = verify_export(swapped)
    assert report.first_break is not None and report.first_break.seq == 5


def test_lines_that_are_not_an_export_are_breaks_not_crashes() -> None:
    lines = exported(1)
    for junk in ("not json", "[1, 2]", '{"seq": "7"}', '{"seq": 2, "raw": "***"}'):
        report = verify_export([lines[0], junk, *lines[1:]])
        assert not report.ok, junk


def test_a_partial_export_anchors_each_chain_at_its_first_event() -> None:
    lines = exported()
    tail = lines[5:]
    assert verify_export(tail, complete=False).ok
    assert not verify_export(tail).ok


async def test_export_lines_filter_by_aggregate_and_sequence() -> None:
    source = FakeEventSource()
    log = FakeLog()
    did = str(uuid.uuid4())
    log.deployment(did, requested(did))
    log.append(ev.ProjectRegistered(name="shop"), Aggregate.PROJECT, "shop")
    log.deployment(did, ev.DeploymentAdmitted(deployment_id=did))
    for rec in log.events:
        source.append(rec.envelope.model_copy(update={"prev_hash": None, "hash": None}))
    only = ExportFilter.parse("deployment", did)
    assert [json.loads(x)["seq"] async for x in export_lines(source, only)] == [1, 3]
    after = ExportFilter.parse(after_seq="1")
    assert [json.loads(x)["seq"] async for x in export_lines(source, after)] == [2, 3]
    assert not only.complete and ExportFilter.parse().complete


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("cluster",), "unknown aggregate"),
        ((None, "x"), "id needs aggregate"),
        (("deployment", "a.b"), "invalid aggregate id"),
        ((None, None, "noon"), "since is not an ISO 8601 time"),
        ((None, None, None, None, "-3"), "0 or more"),
        ((None, None, None, None, "x"), "must be a number"),
        ((None, None, datetime(2030, 1, 2, tzinfo=UTC), "2030-01-01"), "until must be after"),
    ],
)
def test_bad_export_filters_say_what_is_wrong(args: tuple[object, ...], message: str) -> None:
    with pytest.raises(InvalidExportFilter, match=message):
        ExportFilter.parse(*args)  # type: ignore[arg-type]
