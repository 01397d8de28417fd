"""The SSE parser and packing a static directory."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from slipway.client import CliError
from slipway.packing import archive_type, pack_directory, static_upload
from slipway.sse import SseEvent, SseParser


def feed(text: str) -> tuple[list[SseEvent], SseParser]:
    parser = SseParser()
    events = [e for line in text.split("\n") if (e := parser.feed(line)) is not None]
    return events, parser


def test_sse_events_carry_type_data_and_id_and_skip_comments() -> None:
    events, parser = feed(
        ': keep-alive\n\nid: 4\nevent: log\ndata: {"a":1}\n\nevent: end\ndata: {}\n\n'
    )
    assert events == [SseEvent("log", '{"a":1}', "4"), SseEvent("end", "{}", "4")]
    assert parser.last_id == "4"


def test_sse_multi_line_data_is_joined_and_the_default_type_is_message() -> None:
    events, _ = feed("data: one\ndata:two\r\n\n")
    assert events == [SseEvent("message", "one\ntwo", None)]


def test_sse_event_without_a_blank_line_is_not_dispatched() -> None:
    events, _ = feed("event: log\ndata: x")
    assert events == []


def test_pack_directory_refuses_a_link_out_of_the_directory(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (tmp_path / "secret.txt").write_text("no")
    (site / "leak.txt").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(CliError, match="links outside"):
        pack_directory(site, tmp_path / "out.tar.gz")


def test_pack_directory_follows_a_link_inside_the_directory(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("hi")
    (site / "home.html").symlink_to(site / "index.html")
    assert pack_directory(site, tmp_path / "out.tar.gz") == 2
    with tarfile.open(tmp_path / "out.tar.gz") as tar:
        member = tar.getmember("home.html")
        assert member.isfile() and member.size == 2


@pytest.mark.parametrize(
    ("name", "media"),
    [("a.tar.gz", "application/gzip"), ("A.TGZ", "application/gzip"), ("a.zip", "application/zip"),
     ("a.tar", "application/x-tar"), ("a.gz", None)],
)  # fmt: skip
def test_archive_types_by_name(name: str, media: str | None) -> None:
    assert archive_type(Path(name)) == media


def test_static_upload_of_a_directory_leaves_no_temporary_file(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("hi")
    with static_upload(site) as (path, media):
        assert path.is_file() and media == "application/gzip"
    assert not path.exists()
