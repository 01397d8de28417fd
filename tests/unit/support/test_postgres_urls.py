from __future__ import annotations

import pytest

from tests.support.postgres import asyncpg_url


@pytest.mark.parametrize(
    "url",
    [
        "postgres://u:p@h:5432/db",
        "postgresql://u:p@h:5432/db",
        "postgresql+psycopg://u:p@h:5432/db",
        "postgresql+asyncpg://u:p@h:5432/db",
    ],
)
def test_asyncpg_url_switches_the_driver_only(url: str) -> None:
    assert asyncpg_url(url) == "postgresql+asyncpg://u:p@h:5432/db"


@pytest.mark.parametrize("url", ["mysql://h/db", "sqlite:///x.db", "h:5432/db"])
def test_asyncpg_url_refuses_other_databases(url: str) -> None:
    with pytest.raises(ValueError, match="not a PostgreSQL URL"):
        asyncpg_url(url)
