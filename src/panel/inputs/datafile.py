"""The one place that reads user data files: text, strict YAML, strict JSON.

Every data file a user hands in (cards, panel.yaml, personas, models.yaml, votes, drafts,
studies) is hostile until validated. Reading it must never end in a traceback: a missing
or unreadable path, a folder where a file was expected, a FIFO, or bytes that are not UTF-8
each become one ``InputError`` naming the file (and the line, where there is one). Parsing
is strict: a mapping key given twice is an error, not "the last one wins", because a card
with two ``pricing:`` lines would otherwise be reviewed on whichever one the parser kept.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode

from panel.errors import InputError


def _check_regular(path: Path) -> None:
    """Refuse anything but a regular file (a folder, a FIFO that would block, a socket)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise InputError(str(path), "no such file") from None
    except OSError as exc:
        raise InputError(str(path), f"cannot read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(mode):
        raise InputError(str(path), "is a folder, not a file")
    if not stat.S_ISREG(mode):
        raise InputError(str(path), "is not a regular file")


def read_bytes(path: Path) -> bytes:
    """The file's bytes, or an InputError saying why it cannot be read."""
    _check_regular(path)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(str(path), f"cannot read: {exc.strerror or exc}") from None


def decode(data: bytes, source: str, first_line: int = 1) -> str:
    """UTF-8 text (a leading BOM dropped), or an InputError at the first bad byte."""
    try:
        return data.decode("utf-8-sig" if first_line == 1 else "utf-8")
    except UnicodeDecodeError as exc:
        line = first_line + data.count(b"\n", 0, exc.start)
        raise InputError(source, f"not UTF-8 text: byte 0x{data[exc.start]:02x} at byte offset "
                         f"{exc.start} cannot be decoded", line=line) from None


def read_text(path: Path) -> str:
    """The file as UTF-8 text; every OSError and decoding error becomes an InputError."""
    return decode(read_bytes(path), str(path))


LINE_MAX = 1 << 20
"""Bytes one JSONL line may hold (a card's fields fit in a few kB): a longer line is one
error, read past in bounded pieces, never held in memory whole."""


def read_lines(path: Path) -> Iterator[tuple[int, str | InputError]]:
    """(line number, text or the error for that line): one bad line spoils only itself.

    For JSONL, where each line is its own record, a stray Latin-1 byte in line 7 must not
    hide lines 8 to 42. The file is read a line at a time (a launch feed of a million
    lines is never in memory at once); lines end at ``\n`` only, a leading BOM is dropped.
    A file that cannot be opened raises InputError before the first line, one that fails
    part-way raises it at the line it reached.
    """
    _check_regular(path)
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise InputError(str(path), f"cannot read: {exc.strerror or exc}") from None
    with fh:
        no = 0
        try:
            while raw := fh.readline(LINE_MAX + 1):
                no += 1
                if len(raw) > LINE_MAX and not raw.endswith(b"\n"):
                    _skip_line(fh)
                    yield no, InputError(str(path), f"line longer than {LINE_MAX} bytes; "
                                         "not read", line=no)
                    continue
                if no == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                try:
                    yield no, decode(raw[:-1] if raw.endswith(b"\n") else raw, str(path), no)
                except InputError as exc:
                    yield no, exc
        except OSError as exc:
            raise InputError(str(path), f"cannot read: {exc.strerror or exc}",
                             line=no + 1) from None


def _skip_line(fh: BinaryIO) -> None:
    """Read past the rest of an over-long line, a bounded piece at a time."""
    while (piece := fh.readline(LINE_MAX)) and not piece.endswith(b"\n"):
        pass


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a mapping key given twice (naming the key and both lines)."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                first = seen.get(key)
            except TypeError:
                raise ConstructorError(None, None, "a mapping key must be a plain value",
                                       key_node.start_mark) from None
            if first is not None:
                raise ConstructorError(None, None, f"duplicate key '{key}' (first given on "
                                       f"line {first})", key_node.start_mark)
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def _mark_line(exc: yaml.YAMLError) -> int | None:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    return mark.line + 1 if mark is not None else None


def load_yaml(text: str, source: str) -> Any:
    """Parse one YAML document strictly; an error names the line and the problem."""
    try:
        return yaml.load(text, Loader=StrictLoader)  # StrictLoader is a SafeLoader
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(source, f"cannot parse YAML: {problem}", line=_mark_line(exc)) from None
    except RecursionError:
        raise InputError(source, "cannot parse YAML: nested too deeply") from None


class _DuplicateKey(ValueError):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def load_json(text: str, source: str, line: int | None = None) -> Any:
    """Parse JSON strictly (no duplicate keys, no NaN/Infinity). ``line`` is the line of
    ``text`` in its file (JSONL); otherwise the error names the line inside ``text``."""
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except _DuplicateKey as exc:
        raise InputError(source, f"duplicate key '{exc.key}'", line=line) from None
    except json.JSONDecodeError as exc:
        where = line if line is not None else exc.lineno
        raise InputError(source, f"invalid JSON: {exc.msg} (column {exc.colno})",
                         line=where) from None
    except (ValueError, RecursionError) as exc:
        raise InputError(source, f"invalid JSON: {exc}", line=line) from None


def load_data(path: Path) -> Any:
    """Read and parse a YAML (.yaml/.yml) or JSON (.json) file strictly."""
    text = read_text(path)
    if path.suffix == ".json":
        return load_json(text, str(path))
    return load_yaml(text, str(path))

