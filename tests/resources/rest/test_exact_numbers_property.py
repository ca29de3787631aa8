"""Property: whatever numbers a JSON page holds, each lands as the number written, or the page
fails naming the field (only when no type can hold them together)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resources.rest.errors import RestError
from resources.rest.exact import InexactNumberError, loads
from resources.rest.records import coalesce, records_at

integers = st.integers(min_value=-(10**38) + 1, max_value=10**38 - 1).map(str)
decimals = st.decimals(allow_nan=False, allow_infinity=False, places=None).map(
    lambda d: format(d, "f") if "." in format(d, "f") else format(d, "f") + ".0"
)
doubles = st.floats(allow_nan=False, allow_infinity=False).map(repr)
numbers = st.one_of(integers, decimals, doubles, st.just("null"))


@settings(max_examples=300, deadline=None)
@given(st.lists(numbers, min_size=1, max_size=8))
def test_every_json_number_lands_as_written_or_fails_naming_its_field(texts: list[str]) -> None:
    document = "[" + ", ".join(f'{{"n": {text}}}' for text in texts) + "]"

    try:
        landed = records_at(loads(document), "$").column("n").to_pylist()
    except InexactNumberError as error:
        assert str(error).startswith("field 'n': no exact type holds")
        return

    for text, value in zip(texts, landed, strict=True):
        if text == "null":
            assert value is None
        else:
            assert Decimal(repr(value) if isinstance(value, float) else value) == Decimal(text)


@pytest.mark.parametrize("text", ["0.1234567890123456789", "14933243513335727983", "2.5e-7"])
def test_the_issue_examples_land_as_written(text: str) -> None:
    [value] = records_at(loads(f'[{{"n": {text}}}]'), "$").column("n").to_pylist()

    assert Decimal(repr(value) if isinstance(value, float) else value) == Decimal(text)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(numbers, min_size=1, max_size=4), min_size=2, max_size=4))
def test_pages_of_numbers_united_hold_every_value_as_written(pages: list[list[str]]) -> None:
    try:
        tables = [
            records_at(loads("[" + ", ".join(f'{{"n": {t}}}' for t in page) + "]"), "$")
            for page in pages
        ]
        parts = list(coalesce(tables))
    except (InexactNumberError, RestError) as error:
        assert "field 'n': no exact type holds" in str(error)
        return

    landed = [value for part in parts for value in part.column("n").to_pylist()]
    for text, value in zip([t for page in pages for t in page], landed, strict=True):
        if text == "null":
            assert value is None
        else:
            assert Decimal(repr(value) if isinstance(value, float) else value) == Decimal(text)
