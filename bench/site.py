"""`panel site` at scale: first build, unchanged rebuild, one changed review, largest page.

The store is built synthetically and fast: the six example cards are reviewed once on the
``mock`` backend, and their records are cloned onto N synthetic tools (cards of ~400
characters, 24 categories, four personas each) and inserted in one SQLite transaction, so
the measurement is panel's own cost of building pages, not the model's. In one run it
times the first build into an empty site folder, an unchanged rebuild (target: at most 5%
of the first, writing no file), and a rebuild after one edited review; it reports the
largest page in bytes (target: none over 500 kB) and how many files each rebuild wrote
(a file counts as written when its inode or mtime changed).

Run: ``python bench/site.py [--tools 100000] [--profile]`` (keeps the store in
outputs/bench/site-N/, reused when it already holds N tools; writes
outputs/bench/site-N.json).
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import os
import pstats
import shutil
import sqlite3
import time
from pathlib import Path

from dtype import cpu_facts

from panel.config.workspace import Workspace
from panel.contract.records import Edit
from panel.inputs.cards import ToolCard, load_cards, slugify
from panel.pipeline.run import review_cards
from panel.publish.manifest import manifest_path
from panel.publish.site import build_site

ROOT = Path(__file__).resolve().parents[1]
CATEGORIES = [f"Category {c}" for c in "ABCDEFGHIJKLMNOPQRSTUVWX"]
WORDS = ["trace", "replay", "model", "prompt", "eval", "span", "team", "local", "database",
         "hosted", "retention", "sign", "container", "score", "agent", "vector", "index",
         "search", "voice", "slide", "deck", "patch", "diff"]


def synthetic_card(i: int, template: ToolCard) -> ToolCard:
    """Tool ``i``: a distinct name, one of 24 categories, a ~400-character description."""
    words = [WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(64)]
    return template.model_copy(update={
        "name": f"Tool {i:06d}", "tagline": f"Synthetic tool number {i}",
        "category": CATEGORIES[i % len(CATEGORIES)], "id": None,
        "description": " ".join(words)[:400]})


def build_store(output: Path, n: int) -> None:
    """N tools x 4 personas in ``output``'s store: real mock records, cloned per tool."""
    ws = Workspace(output, ROOT)
    examples = [c.card for c in load_cards([ROOT / "examples" / "tools"])]
    review_cards(ws, examples[:1], "mock")
    template = examples[0]
    records = ws.store.latest(template.slug, "mock")
    ws.store.close()
    reviews, cards = [], []
    for i in range(n):
        card = synthetic_card(i, template)
        cards.append((card.slug, card.model_dump_json(), card.identity, None))
        for rec in records:
            key = hashlib.sha256(f"{card.slug}/{rec.persona}".encode()).hexdigest()
            clone = rec.model_copy(update={"key": key, "tool": card.slug,
                                           "tool_name": card.name})
            reviews.append((key, card.slug, rec.persona, rec.model, 0, rec.status,
                            rec.created_at, clone.model_dump_json(exclude={"edit"})))
    with sqlite3.connect(output / "panel.sqlite3") as db:
        db.executemany("INSERT OR REPLACE INTO reviews VALUES (?,?,?,?,?,?,?,?)", reviews)
        db.execute("DELETE FROM cards")
        db.executemany("INSERT INTO cards (tool, card, identity, source) VALUES (?,?,?,?)",
                       cards)


def stored_tools(output: Path) -> int:
    path = output / "panel.sqlite3"
    if not path.is_file():
        return -1
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT COUNT(*) FROM cards").fetchone()[0])


def snapshot(site: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime_ns) of every file under the site, to count what a build wrote."""
    out = {}
    for folder, _, names in os.walk(site):
        for name in names:
            st = os.stat(os.path.join(folder, name))
            out[os.path.join(folder, name)] = (st.st_ino, st.st_mtime_ns)
    return out


def timed_build(output: Path, profile: Path | None = None) -> tuple[float, int]:
    """Seconds of one `panel site` build on a fresh workspace, and files it wrote."""
    before = snapshot(output / "site")
    prof = cProfile.Profile() if profile else None
    start = time.perf_counter()
    if prof:
        prof.enable()
    build_site(Workspace(output, ROOT), "mock")
    if prof:
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").dump_stats(str(profile))
    seconds = time.perf_counter() - start
    after = snapshot(output / "site")
    return seconds, sum(1 for p, s in after.items() if before.get(p) != s)


def edit_one(output: Path) -> None:
    """An editor changes one review of tool 1 (a score it did not have): its page and
    index rows must follow."""
    ws = Workspace(output, ROOT)
    slug = slugify("Tool 000001")
    old = ws.store.get_edit(slug, "skeptic", "mock")
    score = 3 if old is None or old.score != 3 else 4
    ws.store.set_edit(slug, "skeptic", "mock", Edit(score=score, verdict="skip"))
    ws.store.close()


def largest_page(site: Path) -> tuple[str, int]:
    sizes = [(p, p.stat().st_size) for p in site.rglob("*") if p.is_file()]
    path, size = max(sizes, key=lambda x: x[1])
    return path.relative_to(site).as_posix(), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tools", type=int, default=100_000)
    parser.add_argument("--profile", action="store_true",
                        help="also write a cProfile of the first build (site-N.prof)")
    args = parser.parse_args()
    output = ROOT / "outputs" / "bench" / f"site-{args.tools}"
    start = time.perf_counter()
    if stored_tools(output) != args.tools:
        output.mkdir(parents=True, exist_ok=True)
        (output / "panel.sqlite3").unlink(missing_ok=True)
        build_store(output, args.tools)
    store_s = time.perf_counter() - start
    shutil.rmtree(output / "site", ignore_errors=True)
    manifest_path(output).unlink(missing_ok=True)
    prof = output.with_suffix(".prof") if args.profile else None
    first_s, first_files = timed_build(output, prof)
    again_s, again_files = timed_build(output, prof and prof.with_suffix(".again.prof"))
    edit_one(output)
    edit_s, edit_files = timed_build(output)
    page, size = largest_page(output / "site")
    report = {"tools": args.tools, "store_s": round(store_s, 1),
              "first_s": round(first_s, 2), "first_files": first_files,
              "unchanged_s": round(again_s, 3), "unchanged_files": again_files,
              "unchanged_ratio": round(again_s / first_s, 4),
              "one_edit_s": round(edit_s, 3), "one_edit_files": edit_files,
              "largest_page": page, "largest_bytes": size, "cpu": cpu_facts()}
    output.with_suffix(".json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
