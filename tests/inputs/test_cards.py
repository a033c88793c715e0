"""Tool cards: loading every format, and errors that name file, line and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from panel.errors import InputError
from panel.inputs.cards import iter_cards, load_cards

from conftest import EXAMPLES

GOOD = {"name": "Quillmate", "tagline": "Notes that file themselves", "category": "Productivity",
        "description": "Sorts notes into folders.", "pricing": "$5 a month", "entry": "paid"}


def test_the_six_example_cards_load() -> None:
    cards = load_cards([EXAMPLES])
    assert len(cards) == 6
    assert len({c.card.slug for c in cards}) == 6


def test_missing_name_names_the_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("tagline: t\ncategory: c\ndescription: d\npricing: p\nentry: free\n")
    with pytest.raises(InputError) as err:
        load_cards([bad])
    assert str(err.value) == f"{bad}: field 'name' is required but missing"


def test_unknown_field_is_an_error(tmp_path: Path) -> None:
    bad = tmp_path / "typo.json"
    bad.write_text(json.dumps({**GOOD, "pricng": "free"}))
    with pytest.raises(InputError) as err:
        load_cards([bad])
    assert (err.value.file, err.value.field) == (str(bad), "pricng")
    assert "not a known card field" in str(err.value)


def test_jsonl_errors_carry_the_line_and_good_lines_still_load(tmp_path: Path) -> None:
    feed = tmp_path / "feed.jsonl"
    lines = [GOOD, {**GOOD, "name": "Second", "entry": "cheap"}, {**GOOD, "name": "Third"}]
    feed.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    items = list(iter_cards([feed]))
    assert [type(i).__name__ for i in items] == ["LoadedCard", "InputError", "LoadedCard"]
    err = items[1]
    assert isinstance(err, InputError)
    assert (err.line, err.field) == (2, "entry")
    assert str(err).startswith(f"{feed}:2: field 'entry'")


def test_a_missing_path_is_reported() -> None:
    with pytest.raises(InputError, match="no such file"):
        load_cards(["nowhere/card.yaml"])


def test_invalid_entry_value_and_date(tmp_path: Path) -> None:
    bad = tmp_path / "c.yaml"
    bad.write_text(json.dumps({**GOOD, "launched": "not a date"}))
    with pytest.raises(InputError) as err:
        load_cards([bad])
    assert err.value.field == "launched"
