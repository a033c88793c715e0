"""The site's pages, byte for byte, for a hostile card beside a plain one (mock model).

Any change to what a reader sees shows up here as a diff to review. After an intended change,
rewrite the golden files with ``PANEL_UPDATE_GOLDEN=1`` (the test then fails once, saying
so) and commit them with the change.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from panel.backends.mock import Mocks
from panel.config.workspace import Workspace
from panel.inputs.cards import load_cards
from panel.pipeline.pairwise import judge_pairs
from panel.pipeline.run import review_cards
from panel.publish.site import add_pair, build_site

from conftest import EXAMPLES, ROOT

GOLDEN = Path(__file__).parent / "golden"
# Model text is untrusted too: a head-to-head reason with markup, a script and template syntax.
HOSTILE_REASON = ('Pick <script>alert(1)</script> "><img src=x onerror=alert(1)> '
                  '[x](javascript:alert(1)) *em* {{ 7*7 }} now.')


def head_to_head_replies(mock: Mocks) -> None:
    """One round of 8 judgments (persona by persona, hostile card first then second), then
    the two retries of the skeptic's 'hostile first', which fails every attempt."""
    def pick(choice: str, reason: str = "Plain reason here.") -> str:
        return json.dumps({"reason": reason, "choice": choice, "margin": 64})

    for reply in (pick("first", HOSTILE_REASON), pick("second"), "not json", pick("first"),
                  pick("first"), pick("first"), pick("neither-ship"), pick("neither-ship"),
                  "not json", "not json"):
        mock.enqueue(reply)


def site_files(output: Path, mock: Mocks) -> dict[str, bytes]:
    ws = Workspace(output, ROOT)
    cards = [c.card for c in load_cards([GOLDEN / "hostile.yaml", EXAMPLES / "tracelens.yaml"])]
    review_cards(ws, cards, "mock")
    head_to_head_replies(mock)
    judge_pairs(ws, [(cards[0], cards[1])], "mock")
    add_pair(ws, cards[0].slug, cards[1].slug)
    build_site(ws, "mock")
    site = output / "site"
    return {p.relative_to(site).as_posix(): p.read_bytes()
            for p in sorted(site.rglob("*")) if p.is_file()}


def test_pages_match_the_golden_files_byte_for_byte(tmp_path: Path, mock: Mocks) -> None:
    files = site_files(tmp_path / "out", mock)
    if os.environ.get("PANEL_UPDATE_GOLDEN"):
        for name, data in files.items():
            (GOLDEN / "site" / name).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN / "site" / name).write_bytes(data)
        pytest.fail("golden files rewritten: review `git diff tests/publish/golden` and commit")
    golden = {p.relative_to(GOLDEN / "site").as_posix(): p.read_bytes()
              for p in sorted((GOLDEN / "site").rglob("*")) if p.is_file()}
    assert sorted(files) == sorted(golden)
    for name, data in files.items():
        assert data == golden[name], f"{name} differs from tests/publish/golden/site/{name}"


def test_no_page_carries_the_hostile_markup_live(tmp_path: Path, mock: Mocks) -> None:
    for name, data in site_files(tmp_path / "out", mock).items():
        text = data.decode("utf-8")
        if name.endswith(".html"):
            assert "<script>alert" not in text and "<img src=x" not in text, name
            assert 'href="javascript' not in text and "remote.example/x.png\"" not in text, name
            if "hostile" in name:
                assert "{{ 7*7 }}" in text, name  # shown as text, not evaluated
