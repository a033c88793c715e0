"""Hostile input: every JSONL line and file on its own, counts that add up, strict parsing.

Each test here failed on the code before issue 10 (a bad JSON line hid the rest of the file,
a non-UTF-8 file or a folder named x.yaml ended the batch in a traceback, duplicate keys
were silently merged, control characters went through).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
import yaml
from click.testing import CliRunner

from panel.cli import main
from panel.cli.tables import format_summary
from panel.errors import InputError
from panel.inputs.cards import InputTally, ToolCard, iter_cards, load_cards
from panel.inputs.datafile import load_json, load_yaml, read_text
from panel.pipeline.batch import Shard, load_batch, run_batch

from conftest import EXAMPLES

PERSONAS = 4
T = TypeVar("T")
GOOD = {"name": "Quillmate", "tagline": "Notes that file themselves", "category": "Productivity",
        "description": "Sorts notes into folders.", "pricing": "$5 a month", "entry": "paid"}


def card(i: int) -> dict[str, str]:
    return {**GOOD, "name": f"Tool {i}"}


def feed(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_bad_json_line_24_of_42_hides_nothing_after_it(tmp_path: Path) -> None:
    lines = [json.dumps(card(i)) for i in range(1, 43)]
    lines[23] = '{"name": "Broken", "tagline": '  # line 24: invalid JSON
    path = feed(tmp_path / "launch.jsonl", lines)
    tally = InputTally()
    cards, errors = load_batch([path], Shard(), tally=tally)
    assert len(cards) == 41 and cards[-1].card.name == "Tool 42"
    [err] = errors
    assert (err.file, err.line) == (str(path), 24) and "invalid JSON" in err.reason
    assert (tally.files, tally.lines, tally.entries, tally.cards, tally.bad) == (1, 42, 42, 41, 1)
    assert tally.adds_up


@pytest.mark.parametrize("bad_at", [(1, 42), (20, 21), (7, 33)])
def test_forty_good_cards_and_two_bad_lines_anywhere_review_all_forty(
        tmp_path: Path, bad_at: tuple[int, int]) -> None:
    lines = [json.dumps(card(i)) for i in range(40)]
    for at, bad in zip(bad_at, ["not json at all", json.dumps({**GOOD, "entry": "cheap"})],
                       strict=True):
        lines.insert(at - 1, bad)
    path = feed(tmp_path / "cards.jsonl", lines)
    summary = run_batch([path], Path("out"), "mock")
    assert summary.cards == 40 and len(list(summary.records())) == 40 * PERSONAS
    assert not summary.log.failed
    assert sorted(e.line for e in summary.card_errors if e.line) == list(bad_at)
    assert not summary.ok
    text = format_summary(summary)
    assert ("input: 1 file, 42 JSONL lines (0 blank) = 42 entries: 40 loaded, 2 bad, "
            "0 duplicate, 0 refused (slug taken)") in text.splitlines()
    for at in bad_at:
        assert any(line.startswith(f"  {path}:{at}: ") for line in text.splitlines())


def test_cli_batch_reports_two_bad_lines_and_exits_1(tmp_path: Path) -> None:
    lines = [json.dumps(card(i)) for i in range(40)]
    lines.insert(5, "{broken")
    lines.append(json.dumps({**GOOD, "name": "Tabbed\tName"}))
    path = feed(tmp_path / "cards.jsonl", lines)
    res = CliRunner().invoke(main, ["batch", str(path), "-m", "mock", "-o", "out"])
    assert res.exit_code == 1, res.output
    out = res.stdout.splitlines()
    assert sum(line.startswith(f"  {path}:") for line in out) == 2
    assert any(line.startswith(f"  {path}:6: invalid JSON") for line in out)
    assert any(line.startswith(f"  {path}:42: field 'name' must be one line") for line in out)


def test_non_utf8_file_and_folder_named_like_a_card_are_reported_not_raised(
        tmp_path: Path) -> None:
    folder = tmp_path / "cards"
    folder.mkdir()
    (folder / "a.yaml").write_text(yaml.safe_dump(card(1)))
    (folder / "latin1.yaml").write_bytes("name: Caf\xe9\n".encode("latin-1"))
    (folder / "x.yaml").mkdir()
    lines = folder / "z.jsonl"
    lines.write_bytes(json.dumps(card(2)).encode() + b"\n" + b'{"name": "\xff"}\n'
                      + json.dumps(card(3)).encode() + b"\n")
    items = list(iter_cards([folder]))
    cards = [i.card.name for i in items if not isinstance(i, InputError)]
    errors = {(Path(e.file).name, e.line): e.reason for e in items if isinstance(e, InputError)}
    assert cards == ["Tool 1", "Tool 2", "Tool 3"]
    assert errors.keys() == {("latin1.yaml", 1), ("x.yaml", None), ("z.jsonl", 2)}
    assert "not UTF-8" in errors[("latin1.yaml", 1)] and "byte offset 9" in errors[
        ("latin1.yaml", 1)]
    assert errors[("x.yaml", None)] == "is a folder, not a file"


def test_cli_non_utf8_and_folder_named_x_yaml_exit_1_one_line_each(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(card(1)))
    latin = tmp_path / "latin1.json"
    latin.write_bytes(json.dumps(card(2)).replace("Tool 2", "Caf\xe9").encode("latin-1"))
    folder = tmp_path / "x.yaml"
    folder.mkdir()
    res = CliRunner().invoke(main, ["batch", str(good), str(latin), str(folder), "-m", "mock",
                                    "-o", "out"])
    assert res.exit_code == 1, res.output
    out = res.stdout.splitlines()
    assert [line for line in out if line.startswith(f"  {latin}")] == [
        f"  {latin}:1: not UTF-8 text: byte 0xe9 at byte offset 13 cannot be decoded"]
    assert [line for line in out if line.startswith(f"  {folder}")] == [
        f"  {folder}: is a folder, not a card file"]
    assert "input: 3 files, 0 JSONL lines (0 blank) = 3 entries: 1 loaded, 2 bad" in res.stdout


def test_read_text_turns_os_errors_into_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_text(tmp_path / "missing.yaml")
    with pytest.raises(InputError, match="is a folder"):
        read_text(tmp_path)


def test_a_missing_path_in_a_batch_is_one_bad_entry_and_the_rest_load(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(card(1)))
    tally = InputTally()
    cards, errors = load_batch([tmp_path / "nope.jsonl", good], Shard(), tally=tally)
    assert [c.card.name for c in cards] == ["Tool 1"]
    assert [e.reason for e in errors] == ["no such file or folder"]
    assert tally.adds_up and tally.files == 2


def test_duplicate_keys_are_errors_in_yaml_json_and_jsonl(tmp_path: Path) -> None:
    y = tmp_path / "dup.yaml"
    y.write_text("name: A\npricing: free\ntagline: t\npricing: $9\n")
    with pytest.raises(InputError) as err:
        load_cards([y])
    assert (err.value.line, "duplicate key 'pricing' (first given on line 2)") == (
        4, err.value.reason.split(": ", 1)[1])
    j = tmp_path / "dup.json"
    j.write_text('{"name": "A", "name": "B"}')
    with pytest.raises(InputError, match="duplicate key 'name'"):
        load_cards([j])
    feed_ = feed(tmp_path / "dup.jsonl", [json.dumps(card(1)), '{"name": "x", "name": "y"}'])
    items = list(iter_cards([feed_]))
    assert isinstance(items[1], InputError) and items[1].line == 2
    assert "duplicate key 'name'" in items[1].reason


def test_strict_parsers_name_the_line() -> None:
    with pytest.raises(InputError) as err:
        load_yaml("a: 1\nb: [\n", "f.yaml")
    assert err.value.line is not None
    with pytest.raises(InputError) as err:
        load_json('{"a": 1,\n "a": 2}', "f.json", line=7)
    assert err.value.line == 7
    with pytest.raises(InputError, match="NaN"):
        load_json('{"a": NaN}', "f.json")
    assert load_yaml("base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\n", "f") == {
        "base": {"x": 1}, "other": {"x": 1, "y": 2}}


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("name", "Patch\nPilot", "must be one line: holds a line break (U+000A) at character 6"),
    ("name", "Patch\tPilot", "must be one line: holds a tab (U+0009) at character 6"),
    ("tagline", "Fast\u2028and", "must be one line: holds a line break (U+2028)"),
    ("category", "Dev\u202eTools", "must be one line: holds a bidirectional control"),
    ("pricing", "Free\x00", "holds a control character (U+0000) at character 5"),
    ("url", "https://x.example/\r", None),  # trailing whitespace is trimmed: accepted
    ("url", "https://x.example/\ra", "must be one line: holds a line break (U+000D)"),
    ("id", "patch\x1bpilot", "holds a control character (U+001B)"),
    ("description", "Bell\x07", "holds a control character (U+0007) at character 5"),
    ("description", "Lone\rreturn", "holds a carriage return (U+000D)"),
    ("description", "Two\nlines\tand\r\nCRLF", None),
])
def test_control_characters_and_line_breaks(field: str, value: str, reason: str | None,
                                            tmp_path: Path) -> None:
    path = feed(tmp_path / "c.jsonl", [json.dumps({**GOOD, field: value})])
    [item] = iter_cards([path])
    if reason is None:
        assert not isinstance(item, InputError)
        return
    assert isinstance(item, InputError)
    assert (item.field, item.line) == (field, 1)
    assert item.reason.startswith(reason)


def test_blank_lines_are_counted_not_reported(tmp_path: Path) -> None:
    path = feed(tmp_path / "c.jsonl", [json.dumps(card(1)), "", "   ", json.dumps(card(2))])
    tally = InputTally()
    cards, errors = load_batch([path], Shard(), tally=tally)
    assert len(cards) == 2 and not errors
    assert (tally.lines, tally.blank, tally.entries) == (4, 2, 2) and tally.adds_up


def test_empty_folder_is_reported(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no card files"):
        load_cards([tmp_path / "empty"])


def test_the_examples_still_load_and_interactive_loading_stays_strict(tmp_path: Path) -> None:
    assert len(load_cards([EXAMPLES])) == 6
    path = feed(tmp_path / "c.jsonl", ["{bad", json.dumps(card(1))])
    with pytest.raises(InputError) as err:
        load_cards([path])
    assert err.value.line == 1


def test_an_over_long_jsonl_line_is_one_error_and_the_next_line_still_loads(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from panel.inputs import datafile

    monkeypatch.setattr(datafile, "LINE_MAX", 400)
    good = json.dumps(card(1))
    long_line = json.dumps({**card(2), "description": "x" * 2000})
    path = feed(tmp_path / "cards.jsonl", [long_line, good])
    items = list(iter_cards([path]))
    assert isinstance(items[0], InputError) and str(items[0]) == (
        f"{path}:1: line longer than 400 bytes; not read")
    assert not isinstance(items[1], InputError) and items[1].source == f"{path}:2"


def test_a_utf8_bom_and_crlf_line_ends_load_as_the_plain_file_does(tmp_path: Path) -> None:
    """Windows editors write both: the same cards as from plain UTF-8 with LF, in YAML,
    JSON and JSONL (a multi-line description keeps LF only), errors on the right line."""
    doc = {**GOOD, "description": "Sorts notes.\nFiles them too."}
    plain = yaml.safe_dump(doc, allow_unicode=True)
    (tmp_path / "a.yaml").write_bytes(b"\xef\xbb\xbf" + plain.replace("\n", "\r\n").encode())
    (tmp_path / "b.json").write_bytes(b"\xef\xbb\xbf" + json.dumps(card(2), indent=1)
                                      .replace("\n", "\r\n").encode())
    (tmp_path / "c.jsonl").write_bytes(b"\xef\xbb\xbf" + b"".join(
        json.dumps(c).encode() + b"\r\n" for c in (card(3), {"name": 7}, card(4))))
    items = list(iter_cards([tmp_path / n for n in ("a.yaml", "b.json", "c.jsonl")]))
    loaded = [i.card for i in items if not isinstance(i, InputError)]
    assert [c.model_dump() for c in loaded] == [
        c.model_dump() for c in (ToolCard.model_validate(doc), *(ToolCard.model_validate(
            card(i)) for i in (2, 3, 4)))]
    assert loaded[0].name == "Quillmate" and loaded[0].description == doc["description"]
    [bad] = [i for i in items if isinstance(i, InputError)]
    assert (Path(bad.file).name, bad.line) == ("c.jsonl", 2)


def test_a_fifo_named_like_a_card_is_refused_without_blocking(tmp_path: Path) -> None:
    """Opening a FIFO for reading waits for a writer forever: it is refused from its file
    type, alone and inside a folder, and the other cards load."""
    import os

    folder = tmp_path / "cards"
    folder.mkdir()
    (folder / "a.yaml").write_text(yaml.safe_dump(card(1)))
    os.mkfifo(folder / "pipe.yaml")
    items = within_10_s(lambda: list(iter_cards([folder])), folder / "pipe.yaml")
    assert [i.card.name for i in items if not isinstance(i, InputError)] == ["Tool 1"]
    assert [(Path(e.file).name, e.reason) for e in items if isinstance(e, InputError)] == [
        ("pipe.yaml", "is not a regular file")]
    with pytest.raises(InputError, match=f"^{folder / 'pipe.yaml'}: is not a regular file$"):
        within_10_s(lambda: load_cards([folder / "pipe.yaml"]), folder / "pipe.yaml")


def within_10_s(load: Callable[[], T], fifo: Path) -> T:
    """``load()``, failing the test (not hanging it) if it blocks on ``fifo``: a writer
    that opens and closes it then releases the stuck reader."""
    import os
    import threading

    done: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            done.append(load())
        except BaseException as exc:  # noqa: BLE001 -- re-raised in the test's thread
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(10)
    if thread.is_alive():
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(5)
        pytest.fail(f"loading blocked on the FIFO {fifo}")
    if errors:
        raise errors[0]
    return done[0]
