"""`slipway.toml`: parsed once, and every mistake comes back as one clear message with its line."""

from __future__ import annotations

import pytest

from libs.events.config import SlipwayToml, SlipwayTomlError, parse_slipway_toml
from libs.events.values import CronSpec

VALID = """\
[build]
preset = "node"
start = "node server.js"
static_dir = "dist"

[deploy]
port = 8080
replicas = 3

[health]
path = "/healthz"
expected_status = 204

[[crons]]
schedule = "*/5 * * * *"
path = "/api/cron/cleanup"

[[crons]]
schedule = "0 3 * * 1"
path = "/api/cron/report"
method = "post"
timezone = "Europe/Paris"
"""


def error_of(text: str) -> str:
    with pytest.raises(SlipwayTomlError) as caught:
        parse_slipway_toml(text)
    message = str(caught.value)
    assert message.startswith("slipway.toml: ")
    assert "\n" not in message
    return message


def test_valid_file_parses_into_every_section() -> None:
    toml = parse_slipway_toml(VALID)
    assert (toml.build.preset, toml.build.start, toml.build.static_dir) == (
        "node",
        "node server.js",
        "dist",
    )
    assert (toml.deploy.port, toml.deploy.replicas) == (8080, 3)
    assert (toml.health.path, toml.health.expected_status) == ("/healthz", 204)
    first, second = toml.crons
    assert (first.schedule, first.path, first.method, first.timezone) == (
        "*/5 * * * *",
        "/api/cron/cleanup",
        "GET",
        "UTC",
    )
    assert (second.method, second.timezone) == ("POST", "Europe/Paris")
    assert isinstance(second, CronSpec)


def test_empty_file_gives_every_default() -> None:
    assert parse_slipway_toml("") == SlipwayToml()


def test_parsed_file_round_trips_through_json() -> None:
    toml = parse_slipway_toml(VALID)
    assert SlipwayToml.model_validate(toml.model_dump(mode="json")) == toml


def test_bad_toml_is_reported_with_its_line() -> None:
    message = error_of("[deploy]\nport = 80\nreplicas = = 2\n")
    assert "line 3" in message


def test_invalid_cron_schedule_names_its_line() -> None:
    text = VALID + '\n[[crons]]\nschedule = "61 * * * *"\npath = "/x"\n'
    message = error_of(text)
    assert "crons.2.schedule" in message
    assert "(line 25)" in message
    assert "invalid cron schedule '61 * * * *'" in message


@pytest.mark.parametrize("schedule", ["* * * *", "* * * * * *", "@daily", "every minute", ""])
def test_cron_schedule_needs_five_valid_fields(schedule: str) -> None:
    message = error_of(f'[[crons]]\nschedule = "{schedule}"\npath = "/x"\n')
    assert "(line 2)" in message
    assert "five fields" in message


def test_cron_section_with_a_comment_after_its_header_still_names_the_line() -> None:
    message = error_of('[[crons]]  # nightly\nschedule = "nope"\npath = "/x"\n')
    assert "(line 2)" in message


def test_unknown_time_zone_is_refused_with_its_line() -> None:
    text = '[[crons]]\nschedule = "0 * * * *"\npath = "/x"\ntimezone = "Mars/Olympus_Mons"\n'
    message = error_of(text)
    assert "unknown time zone 'Mars/Olympus_Mons'" in message
    assert "(line 4)" in message


@pytest.mark.parametrize("zone", ["../../etc/passwd", "/etc/localtime", ""])
def test_time_zone_that_is_a_path_is_refused(zone: str) -> None:
    message = error_of(f'[[crons]]\nschedule = "0 * * * *"\npath = "/x"\ntimezone = "{zone}"\n')
    assert "unknown time zone" in message


@pytest.mark.parametrize("port", ["0", "65536", "-1", '"http"', "80.5"])
def test_bad_port_is_refused_with_its_line(port: str) -> None:
    message = error_of(f'[build]\npreset = "node"\n\n[deploy]\nport = {port}\n')
    assert message.startswith("slipway.toml: deploy.port (line 5): ")


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("[deploy]\nreplicas = 0\n", "deploy.replicas (line 2)"),
        ("[deploy]\nreplicas = 33\n", "deploy.replicas (line 2)"),
        ('[health]\npath = "healthz"\n', "health.path (line 2)"),
        ("[health]\nexpected_status = 42\n", "health.expected_status (line 2)"),
        ('[[crons]]\nschedule = "0 * * * *"\npath = "x"\n', "crons.0.path (line 3)"),
        (
            '[[crons]]\nschedule = "0 * * * *"\npath = "/x"\nmethod = "BREW"\n',
            "crons.0.method (line 4)",
        ),
        ('[[crons]]\nschedule = "0 * * * *"\n', "crons.0.path"),
        ("[build]\npreset = 3\n", "build.preset (line 2)"),
    ],
)
def test_every_invalid_value_names_where_it_is(text: str, where: str) -> None:
    assert where in error_of(text)
