from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.unit.projector.support import Db, open_db


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Db]:
    """A migrated SQLite read model in a temporary file."""
    database = await open_db(f"sqlite+aiosqlite:///{tmp_path / 'read.db'}")
    yield database
    await database.engine.dispose()
