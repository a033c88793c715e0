"""Terminal tables: columns line up by display width (CJK and emoji take two columns), and
the compare table names its two columns."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from panel.cli.tables import comparison_lines, display_width, fit, jury_table
from panel.contract.output import Rubric
from panel.verdict.head_to_head import compare
from panel.verdict.jury import jury

from factories import rec


def test_display_width_counts_wide_characters_twice_and_marks_not_at_all() -> None:
    assert [display_width(t) for t in ("PatchPilot", "编码器", "🚀", "Café", "Cafe\u0301",
                                       "👨\u200d💻", "ＡＢ")] == [10, 6, 2, 4, 4, 4, 4]


def test_fit_pads_and_cuts_by_columns_never_half_a_wide_character() -> None:
    assert fit("编码器", 8) == "编码器  "
    assert fit("编码器", 5) == "编码 "            # the third would need columns 5-6
    assert fit("编码器", 5, ">") == " 编码"
    assert fit("PatchPilot", 5) == "Patch"


@given(st.text(), st.integers(0, 40))
def test_fit_is_always_exactly_the_width(text: str, width: int) -> None:
    out = fit(text, width)
    assert display_width(out) == width and text.startswith(out.rstrip(" ") or "")


def test_the_compare_table_names_its_columns_and_aligns_wide_names() -> None:
    a = [rec("m", "编码器", "builder", "ship", 80), rec("m", "编码器", "skeptic", "skip", 30)]
    b = [rec("m", "patchpilot", "builder", "skip", 40), rec("m", "patchpilot", "skeptic",
                                                            "ship", 75)]
    lines = comparison_lines(compare(a, b, Rubric(), ["builder", "skeptic"]))
    assert lines[3:] == [
        "  persona    编码器         Patchpilot",
        "  Builder    80/100 · ship  40/100 · skip",
        "  Skeptic    30/100 · skip  75/100 · ship"]
    columns = {display_width(line[:line.index(cell)]) for line, cell in zip(
        lines[3:], ("Patchpilot", "40", "75"), strict=True)}
    assert columns == {28}                            # tool B's column starts at one place


def test_the_jury_table_aligns_a_cjk_and_an_emoji_name_with_an_ascii_one() -> None:
    records = [rec("m", t, "builder", "ship", 80) for t in ("编码器", "🚀", "patchpilot")]
    lines = jury_table(jury({"m": records}, Rubric(), ["builder"]), ["builder"]).splitlines()
    starts = {display_width(line[:line.index("Ship")]) for line in lines[1:]}
    assert len(lines) == 4 and starts == {25}
