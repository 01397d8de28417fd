"""The dialect-neutral projector tests (core.py) against a real PostgreSQL."""

from tests.unit.projector.core import *  # noqa: F403
