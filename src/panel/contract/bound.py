"""How long a grammar's output can be: in bytes, then in tokens, read from the grammar text.

A reply that runs to ``max_tokens`` is a failed attempt that no retry reliably fixes. The
in-process engine decodes under ``generation_grammar``, so the reply's length is bounded by
the grammar itself: this module computes that bound from the EBNF text (not from the
constants it was built with, so the bound cannot drift from what the engine enforces), and
``config/registry`` refuses an entry whose ``max_tokens`` is below it.

From bytes to tokens: every token the grammar lets the engine emit decodes to at least one
byte of the output (xgrammar matches tokens by their decoded bytes, and the byte-level and
byte-fallback vocabularies of our models have no empty token), so a reply of ``n`` bytes is
at most ``n`` tokens, plus the end-of-sequence token that closes it. That holds for any
tokenizer whose tokens are at least one byte, so the bound needs no tokenizer;
``max_tokens_bound`` checks the property when one is given.

The EBNF is the subset ``generation_grammar`` writes, one rule a line (``name ::= body``):
quoted literals with escapes, character classes ``[...]`` (``^`` negates), groups,
alternation ``|``, ``?`` and counted repetition ``{m,n}``/``{n}``, rule references.
Unbounded repetition (``*``, ``+``) and recursion have no longest output and are refused.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from panel.errors import PanelError

MAX_CODE = 0x10FFFF
SURROGATES = (0xD800, 0xDFFF)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0"}
_PLAIN = re.compile(r'[^"\\]*')
"""A literal's run up to its closing quote or next escape."""
_HEX = {"x": 2, "u": 4, "U": 8}


@dataclass(frozen=True)
class Lit:
    """A quoted literal."""

    text: str


@dataclass(frozen=True)
class Cls:
    """A character class: code point ranges (inclusive), already complemented if negated."""

    ranges: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Ref:
    """A reference to another rule."""

    name: str


@dataclass(frozen=True)
class Seq:
    """Items one after another."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class Alt:
    """One of several options."""

    options: tuple[Node, ...]


@dataclass(frozen=True)
class Rep:
    """``item`` repeated ``lo`` to ``hi`` times."""

    item: Node
    lo: int
    hi: int


Node = Lit | Cls | Ref | Seq | Alt | Rep
Rules = Mapping[str, Node]


class Vocabulary(Protocol):
    """What the bound needs of a tokenizer: xgrammar's ``TokenizerInfo`` has exactly this."""

    @property
    def decoded_vocab(self) -> list[bytes]: ...

    @property
    def stop_token_ids(self) -> list[int]: ...

    @property
    def special_token_ids(self) -> list[int]: ...


def max_bytes(grammar: str) -> int:
    """The most UTF-8 bytes any string the grammar accepts can take."""
    return len(longest(grammar).encode("utf-8"))


def max_tokens_bound(grammar: str, tokenizer: Vocabulary | None = None) -> int:
    """The most tokens a reply decoded under the grammar can take, end-of-sequence included:
    ``max_bytes // m + 1``, where ``m`` is the fewest bytes a token the grammar may emit
    decodes to (1 without a tokenizer: every token of a byte-level or byte-fallback
    vocabulary is at least one byte)."""
    return max_bytes(grammar) // min_token_bytes(tokenizer) + 1


def min_token_bytes(tokenizer: Vocabulary | None) -> int:
    """The fewest bytes an ordinary token decodes to; a PanelError if some decode to none,
    since the grammar could then emit tokens that do not advance it and no bound holds.
    Stop and special tokens are left out: xgrammar allows stop tokens only at the end and
    special ones never."""
    if tokenizer is None:
        return 1
    skip = set(tokenizer.stop_token_ids) | set(tokenizer.special_token_ids)
    sizes = [(len(b), i) for i, b in enumerate(tokenizer.decoded_vocab) if i not in skip]
    if not sizes:
        raise PanelError("the tokenizer has no ordinary tokens")
    least, token = min(sizes)
    if least == 0:
        raise PanelError(f"token {token} decodes to no bytes and is not a stop or special "
                         "token: a grammar cannot bound the replies of this tokenizer")
    return least


@lru_cache(maxsize=256)
def longest(grammar: str) -> str:
    """One longest accepted string (a witness of ``max_bytes``): every choice takes the
    option with the most bytes, every repetition its most copies."""
    rules = parse(grammar)
    return _Longest(rules).of(Ref("root"))


def sample(grammar: str, rng: random.Random) -> str:
    """A random accepted string: repetition counts are often the extremes, so samples reach
    the bound as well as fall short of it."""
    rules = parse(grammar)
    _Longest(rules).of(Ref("root"))  # refuse recursion before walking at random
    return _sample(rules, Ref("root"), rng)


@lru_cache(maxsize=256)
def parse(grammar: str) -> Rules:
    """The rules of an EBNF grammar, one ``name ::= body`` a line; ``root`` must exist."""
    rules: dict[str, Node] = {}
    for number, line in enumerate(grammar.splitlines(), start=1):
        if not line.strip():
            continue
        match = re.fullmatch(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*::=(.*)", line)
        if not match:
            raise PanelError(f"grammar line {number}: expected 'name ::= body'")
        name, body = match.groups()
        if name in rules:
            raise PanelError(f"grammar line {number}: rule '{name}' is defined twice")
        try:
            rules[name] = _parse_body(body)
        except PanelError as exc:
            raise PanelError(f"grammar line {number} ({name}): {exc}") from None
    if "root" not in rules:
        raise PanelError("grammar has no 'root' rule")
    return rules


@lru_cache(maxsize=1024)
def _parse_body(body: str) -> Node:
    """One rule's body, parsed once: the grammars of two cards differ in one rule."""
    return _Parser(body).parse()


class _Parser:
    """Recursive descent over one rule's body."""

    def __init__(self, text: str):
        self.text = text
        self.pos = 0

    def parse(self) -> Node:
        node = self.alternation()
        if self.peek():
            raise PanelError(f"unexpected {self.text[self.pos]!r} at column {self.pos + 1}")
        return node

    def peek(self) -> str:
        """The next non-space character ('' at the end)."""
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def alternation(self) -> Node:
        options = [self.sequence()]
        while self.peek() == "|":
            self.pos += 1
            options.append(self.sequence())
        return options[0] if len(options) == 1 else Alt(tuple(options))

    def sequence(self) -> Node:
        items: list[Node] = []
        while self.peek() not in ("", "|", ")"):
            items.append(self.repeated(self.atom()))
        if not items:
            raise PanelError(f"empty sequence at column {self.pos + 1}")
        return items[0] if len(items) == 1 else Seq(tuple(items))

    def atom(self) -> Node:
        c = self.peek()
        if c == '"':
            return Lit(self.quoted())
        if c == "[":
            return self.char_class()
        if c == "(":
            self.pos += 1
            node = self.alternation()
            self.expect(")")
            return node
        match = re.compile(r"[A-Za-z_][A-Za-z0-9_]*").match(self.text, self.pos)
        if not match:
            raise PanelError(f"unexpected {c!r} at column {self.pos + 1}")
        self.pos = match.end()
        return Ref(match.group())

    def repeated(self, node: Node) -> Node:
        c = self.peek()
        if c in ("*", "+"):
            raise PanelError(f"'{c}' at column {self.pos + 1} is unbounded: no longest output")
        if c == "?":
            self.pos += 1
            return Rep(node, 0, 1)
        if c != "{":
            return node
        match = re.compile(r"\{\s*(\d+)\s*(?:(,)\s*(\d*)\s*)?\}").match(self.text, self.pos)
        if not match:
            raise PanelError(f"bad repetition at column {self.pos + 1}")
        lo = int(match.group(1))
        hi = lo if not match.group(2) else int(match.group(3)) if match.group(3) else None
        if hi is None or hi < lo:
            raise PanelError(f"repetition at column {self.pos + 1} has no upper bound >= {lo}")
        self.pos = match.end()
        return Rep(node, lo, hi)

    def expect(self, c: str) -> None:
        if self.peek() != c:
            raise PanelError(f"expected {c!r} at column {self.pos + 1}")
        self.pos += 1

    def char(self) -> str:
        """One possibly escaped character inside a literal or a class."""
        if self.pos >= len(self.text):
            raise PanelError("unterminated literal or class")
        c = self.text[self.pos]
        self.pos += 1
        if c != "\\":
            return c
        if self.pos >= len(self.text):
            raise PanelError("dangling backslash")
        e = self.text[self.pos]
        self.pos += 1
        if e in _HEX:
            digits = self.text[self.pos:self.pos + _HEX[e]]
            if not re.fullmatch(r"[0-9a-fA-F]+", digits) or len(digits) != _HEX[e]:
                raise PanelError(f"bad \\{e} escape at column {self.pos}")
            self.pos += _HEX[e]
            return chr(int(digits, 16))
        return _ESCAPES.get(e, e)

    def quoted(self) -> str:
        """A string literal's text: runs without escapes taken whole (a card's quotes make
        long literals; character by character they were most of a card's bound)."""
        self.pos += 1  # the opening quote
        out = []
        while True:
            plain = _PLAIN.match(self.text, self.pos)
            out.append(plain.group())  # type: ignore[union-attr]  # matches the empty run
            self.pos = plain.end()  # type: ignore[union-attr]
            if self.pos >= len(self.text):
                raise PanelError("unterminated literal")
            if self.text[self.pos] == '"':
                break
            out.append(self.char())  # an escape
        self.pos += 1
        return "".join(out)

    def char_class(self) -> Cls:
        self.pos += 1  # the opening bracket
        negated = self.text.startswith("^", self.pos)
        self.pos += negated
        ranges: list[tuple[int, int]] = []
        while self.pos < len(self.text) and self.text[self.pos] != "]":
            lo = ord(self.char())
            hi = lo
            if self.text.startswith("-", self.pos) and not self.text.startswith("-]", self.pos):
                self.pos += 1
                hi = ord(self.char())
            if hi < lo:
                raise PanelError(f"empty range in class at column {self.pos}")
            ranges.append((lo, hi))
        self.expect("]")
        result = _complement(ranges) if negated else _merge(ranges)
        if not result:
            raise PanelError(f"class at column {self.pos} matches nothing")
        return Cls(tuple(result))


def _merge(ranges: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, overlapping and adjacent ranges joined; surrogates removed (not characters)."""
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    s_lo, s_hi = SURROGATES
    split = [(lo, min(hi, s_lo - 1)) for lo, hi in out if lo < s_lo]
    split += [(max(lo, s_hi + 1), hi) for lo, hi in out if hi > s_hi]
    return [(lo, hi) for lo, hi in split if lo <= hi]


def _complement(ranges: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Every code point outside the ranges."""
    out, start = [], 0
    for lo, hi in _merge([*ranges, SURROGATES]):
        if lo > start:
            out.append((start, lo - 1))
        start = hi + 1
    if start <= MAX_CODE:
        out.append((start, MAX_CODE))
    return _merge(out)


def utf8_len(code: int) -> int:
    """Bytes of one code point in UTF-8."""
    return 1 if code < 0x80 else 2 if code < 0x800 else 3 if code < 0x10000 else 4


@lru_cache(maxsize=256)  # the same few classes (a word's letters...) in every card's grammar
def widest_char(cls: Cls) -> str:
    """A character of the class with the most UTF-8 bytes: a lowercase letter if one
    qualifies, so witnesses read as words, else the first such character."""
    size = utf8_len(cls.ranges[-1][1])
    wide = [(max(lo, _first_of_size(size)), hi) for lo, hi in cls.ranges
            if utf8_len(hi) == size]
    for test in (str.islower, str.isalpha, lambda c: True):
        for lo, hi in wide:
            for code in range(lo, min(hi, lo + 512) + 1):
                if test(chr(code)):
                    return chr(code)
    raise PanelError("empty character class")  # unreachable: a Cls is never empty


def _first_of_size(size: int) -> int:
    return {1: 0, 2: 0x80, 3: 0x800, 4: 0x10000}[size]


class _Longest:
    """The longest string of each rule, each computed once; recursion is an error."""

    def __init__(self, rules: Rules):
        self.rules = rules
        self.memo: dict[str, str] = {}
        self.stack: list[str] = []

    def of(self, node: Node) -> str:
        if isinstance(node, Lit):
            return node.text
        if isinstance(node, Cls):
            return widest_char(node)
        if isinstance(node, Seq):
            return "".join(self.of(n) for n in node.items)
        if isinstance(node, Alt):
            return max((self.of(n) for n in node.options), key=lambda s: len(s.encode()))
        if isinstance(node, Rep):
            return self.of(node.item) * node.hi
        return self.rule(node.name)

    def rule(self, name: str) -> str:
        if name in self.memo:
            return self.memo[name]
        if name in self.stack:
            cycle = " -> ".join([*self.stack[self.stack.index(name):], name])
            raise PanelError(f"grammar is recursive ({cycle}): no longest output")
        if name not in self.rules:
            raise PanelError(f"grammar refers to an undefined rule '{name}'")
        self.stack.append(name)
        self.memo[name] = self.of(self.rules[name])
        self.stack.pop()
        return self.memo[name]


def _sample(rules: Rules, node: Node, rng: random.Random) -> str:
    """One random derivation of ``node``."""
    pick: Callable[[Node], str] = lambda n: _sample(rules, n, rng)  # noqa: E731
    if isinstance(node, Lit):
        return node.text
    if isinstance(node, Cls):
        lo, hi = rng.choice(node.ranges)
        return chr(rng.randint(lo, hi))
    if isinstance(node, Seq):
        return "".join(pick(n) for n in node.items)
    if isinstance(node, Alt):
        return pick(rng.choice(node.options))
    if isinstance(node, Rep):
        count = rng.choice([node.lo, node.hi, rng.randint(node.lo, node.hi)])
        return "".join(pick(node.item) for _ in range(count))
    return pick(rules[node.name])
