"""The dialect-neutral projector tests (core.py) against SQLite."""

from tests.unit.projector.core import *  # noqa: F403
