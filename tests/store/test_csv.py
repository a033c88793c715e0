"""CSV files a spreadsheet opens: no text cell runs as a formula, numbers stay numbers."""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from panel.store.files import write_csv

# OWASP's CSV-injection list, written out here: the test's own, not the implementation's.
FORMULA = ("=", "+", "-", "@", "\t", "\r")


def read_back(rows: list[dict[str, object]]) -> list[dict[str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        path = write_csv(rows, Path(tmp) / "t.csv")
        with path.open(newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))


# Plain text, and text that opens with each formula character (st.text alone rarely does).
CELLS = st.one_of(st.text(), st.tuples(st.sampled_from(FORMULA), st.text()).map("".join))


@given(st.lists(CELLS, min_size=1, max_size=5))
def test_no_text_cell_reads_as_a_formula_and_each_keeps_its_text(texts: list[str]) -> None:
    rows = [{"tool": t, "n": i} for i, t in enumerate(texts)]
    for text, row in zip(texts, read_back(rows), strict=True):
        assert not row["tool"].startswith(FORMULA)
        assert row["tool"] == ("'" + text if text.startswith(FORMULA) else text)


def test_numbers_and_empty_cells_pass_unchanged() -> None:
    rows: list[dict[str, object]] = [
        {"tool": "=HYPERLINK(\"http://x\")", "shift": -12.5, "n": 3, "ci": None},
        {"tool": "@SUM(A1)", "shift": 4.0, "n": 0, "ci": ""},
        {"tool": "PatchPilot", "shift": -0.0, "n": -1, "ci": "[1.0, 2.0]"}]
    assert read_back(rows) == [
        {"tool": "'=HYPERLINK(\"http://x\")", "shift": "-12.5", "n": "3", "ci": ""},
        {"tool": "'@SUM(A1)", "shift": "4.0", "n": "0", "ci": ""},
        {"tool": "PatchPilot", "shift": "-0.0", "n": "-1", "ci": "[1.0, 2.0]"}]
