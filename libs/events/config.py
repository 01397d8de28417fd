"""`slipway.toml` (§5): parsed once by DownloadRepoJob, validated with a clear error."""

from __future__ import annotations

import tomllib
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import Field, ValidationError, field_validator

from libs.events.values import CronSpec, Frozen


class SlipwayTomlError(ValueError):
    """A slipway.toml that cannot be used; the message names the line where possible."""


class BuildSection(Frozen):
    preset: str | None = Field(default=None, description="Force a preset (node, python, ...).")
    start: str | None = Field(default=None, description="Start command.")
    static_dir: str | None = Field(default=None, description="Directory of static output.")


class DeploySection(Frozen):
    port: int | None = Field(default=None, ge=1, le=65535, description="Container port.")
    replicas: int | None = Field(default=None, ge=1, le=32, description="Replicas.")


class HealthSection(Frozen):
    path: str | None = Field(default=None, description="Health probe path.")
    expected_status: int | None = Field(default=None, ge=100, le=599, description="Status.")

    @field_validator("path")
    @classmethod
    def _absolute(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith("/"):
            raise ValueError("must start with /")
        return v


class CronEntry(CronSpec):
    @field_validator("schedule")
    @classmethod
    def _valid_schedule(cls, v: str) -> str:
        if len(v.split()) != 5 or not croniter.is_valid(v):
            raise ValueError(f"invalid cron schedule {v!r} (five fields: min hour dom mon dow)")
        return v

    @field_validator("timezone")
    @classmethod
    def _valid_tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}") from None
        return v

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        if not v.startswith("/"):
            raise ValueError("must start with /")
        return v

    @field_validator("method")
    @classmethod
    def _method(cls, v: str) -> str:
        if v.upper() not in {"GET", "POST", "PUT", "PATCH", "DELETE"}:
            raise ValueError(f"unsupported method {v!r}")
        return v.upper()


class SlipwayToml(Frozen):
    build: BuildSection = Field(default_factory=BuildSection)
    deploy: DeploySection = Field(default_factory=DeploySection)
    health: HealthSection = Field(default_factory=HealthSection)
    crons: tuple[CronEntry, ...] = Field(default=())


def _line_of(text: str, loc: tuple[Any, ...]) -> int | None:
    """Best-effort line number of a validation error location in the TOML text."""
    lines = text.splitlines()
    section = str(loc[0]) if loc else ""
    key = str(loc[-1]) if loc else ""
    index = next((x for x in loc if isinstance(x, int)), None)
    in_section = False
    seen = -1
    for n, raw in enumerate(lines, 1):
        line = raw.strip()
        if line.startswith("["):
            line = line.split("#", 1)[0].strip()  # `[[crons]]  # nightly` is still a header
            name = line.strip("[]").strip()
            in_section = name == section
            if in_section and line.startswith("[["):
                seen += 1
            continue
        if in_section and (index is None or seen == index):
            if line.split("=", 1)[0].strip() == key:
                return n
    return None


def parse_slipway_toml(text: str) -> SlipwayToml:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SlipwayTomlError(f"slipway.toml: {exc}") from None
    try:
        return SlipwayToml.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        where = ".".join(str(p) for p in loc)
        line = _line_of(text, loc)
        at = f" (line {line})" if line else ""
        raise SlipwayTomlError(f"slipway.toml: {where}{at}: {err['msg']}") from None
