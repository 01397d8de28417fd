from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.names import DNS_LABEL, unique, unique_identifier


def test_unique_keeps_the_prefix_and_adds_a_random_suffix() -> None:
    first, second = unique("proj"), unique("proj")
    assert first.startswith("proj-")
    assert len(first) == len("proj-") + 8
    assert first != second


@given(st.text(min_size=1).filter(lambda s: any(c.isascii() and c.isalnum() for c in s)))
def test_unique_is_always_a_dns_label(prefix: str) -> None:
    assert DNS_LABEL.match(unique(prefix))


def test_unique_cuts_a_long_prefix_not_the_suffix() -> None:
    name = unique("x" * 100, max_length=20)
    assert len(name) == 20
    assert DNS_LABEL.match(name)


def test_unique_lowercases_and_replaces_invalid_characters() -> None:
    assert unique("My_App.v2").startswith("my-app-v2-")


@pytest.mark.parametrize("prefix", ["", "---", "__", "ü"])
def test_unique_refuses_a_prefix_without_letters_or_digits(prefix: str) -> None:
    with pytest.raises(ValueError, match="no letter or digit"):
        unique(prefix)


@pytest.mark.parametrize("max_length", [9, 64])
def test_unique_refuses_an_impossible_length(max_length: int) -> None:
    with pytest.raises(ValueError, match="max_length"):
        unique("p", max_length=max_length)


def test_unique_identifier_is_a_bare_sql_identifier() -> None:
    assert unique_identifier("my-db").startswith("my_db_")
    assert "-" not in unique_identifier("a-b-c")
