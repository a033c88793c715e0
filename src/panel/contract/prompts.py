"""Prompt rendering: jinja2 templates in prompts/, sandboxed, strict about missing names.

The system prompt holds the persona and rubric and the user prompt ends with the card, so
every request for one persona shares a long identical prefix that vLLM's prefix cache reuses.
The card is untrusted: its text is fenced in <tool_card> tags and any fence tag inside it is
neutralised, so a description cannot close the fence and speak as the panel.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from jinja2 import FileSystemLoader, StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from panel.contract.output import DEFAULT_LENGTHS, ReviewLengths, Rubric
from panel.errors import InputError
from panel.hashing import file_sha, json_sha
from panel.inputs.cards import ToolCard
from panel.inputs.personas import Persona

SYSTEM_TEMPLATE = "system.j2"
USER_TEMPLATE = "review.j2"
PAIR_TEMPLATE = "head_to_head.j2"
"""The user prompt of a head-to-head: both cards, fenced; the system prompt is the review's."""
_FENCE = re.compile(r"</?\s*tool_card\s*>", re.IGNORECASE)

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class PromptSet:
    """The templates of one prompts/ folder and their hashes (part of every store key)."""

    folder: Path

    @property
    def hashes(self) -> dict[str, str]:
        """Hash of each template file, recorded in manifests and store keys."""
        return {name: file_sha(self.folder / name) for name in (SYSTEM_TEMPLATE, USER_TEMPLATE)}

    def render(self, persona: Persona, card: ToolCard, rubric: Rubric,
               lengths: ReviewLengths = DEFAULT_LENGTHS) -> Messages:
        """Chat messages for one persona reviewing one card."""
        return self._messages(USER_TEMPLATE, {"persona": persona, "rubric": rubric,
                                               "card": _fenced(card), **_length_names(lengths)})

    @property
    def pair_hashes(self) -> dict[str, str]:
        """Hash of each template a head-to-head renders (part of every judgment's key)."""
        names = (SYSTEM_TEMPLATE, PAIR_TEMPLATE)
        missing = [n for n in names if not (self.folder / n).is_file()]
        if missing:
            raise InputError(str(self.folder / missing[0]),
                             "template missing: head-to-head judging needs it")
        return {name: file_sha(self.folder / name) for name in names}

    def render_pair(self, persona: Persona, first: ToolCard, second: ToolCard,
                    rubric: Rubric, lengths: ReviewLengths = DEFAULT_LENGTHS) -> Messages:
        """Chat messages for one persona choosing between two cards, in the order shown.

        The system prompt is the persona's review prompt, so judgments share the reviews'
        cached prefix; both cards are fenced like a review's card.
        """
        return self._messages(PAIR_TEMPLATE, {
            "persona": persona, "rubric": rubric, "first": _fenced(first),
            "second": _fenced(second), **_length_names(lengths)})

    def _messages(self, user_template: str, context: dict[str, object]) -> Messages:
        """The system prompt (the persona's, shared by reviews and judgments, so they share
        a cached prefix) and ``user_template``, both rendered from ``context``."""
        env = _environment(self.folder)
        try:
            system = env.get_template(SYSTEM_TEMPLATE).render(context)
            user = env.get_template(user_template).render(context)
        except TemplateError as exc:
            raise InputError(str(self.folder), f"template error: {exc}") from None
        return [{"role": "system", "content": system.strip()},
                {"role": "user", "content": user.strip()}]


@cache
def _environment(folder: Path) -> SandboxedEnvironment:
    """One sandboxed environment per folder; StrictUndefined turns typos into errors."""
    return SandboxedEnvironment(loader=FileSystemLoader(str(folder)), undefined=StrictUndefined,
                                autoescape=False, keep_trailing_newline=False)


def _length_names(lengths: ReviewLengths) -> dict[str, int]:
    """What the templates may say of the contract's lengths (the grammar enforces them)."""
    s_lo, s_hi = lengths.sentences
    return {"sentences_min": s_lo, "sentences_max": s_hi,
            "sentence_words_max": lengths.sentence_words[1],
            "reasoning_words_max": lengths.reasoning_words[1]}


def _fenced(card: ToolCard) -> dict[str, str]:
    """The card's fields as strings with fence tags removed and whitespace folded."""
    fields = card.model_dump(mode="json", exclude_none=True)
    return {k: " ".join(_FENCE.sub("[tag removed]", str(v)).split()) for k, v in fields.items()}


def messages_hash(messages: Messages) -> str:
    """Hash of the exact rendered prompt, stored beside each review."""
    return json_sha(messages)
