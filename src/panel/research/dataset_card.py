"""The exported dataset's README: the YAML ``configs:`` that map splits to files, and a card.

Drawn from the export log (``exports.json``), so every split ever exported into the folder
stays listed, and ``latest`` names the newest split that has rows of that config.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from panel.research.export_schema import COLUMNS, CONFIGS, EXTENSIONS

ABOUT = {
    "reviews": "one row per review: a persona's review of a tool card by one backbone and "
               "sample, failed ones included (status failed, no score)",
    "head_to_head": "one row per head-to-head judgment: a persona picks between two tools "
                    "shown in one order",
    "edits": "one row per editor's edit: the edited score, verdict or text of one review slot",
    "audits": "one row per audit statistic: persona x backbone x bias, with n, the clustered "
              "95% interval and the naive one",
    "studies": "one row per review in a study: which reviews a backbone study compares",
}


def data_files(log: Sequence[Mapping[str, Any]], config: str) -> list[dict[str, str]]:
    """The config's splits with rows, oldest first, then ``latest`` (the newest)."""
    ext = EXTENSIONS[log[-1]["format"]]
    files = [{"split": str(d["split"]), "path": f"{config}/{d['split']}.{ext}"}
             for d in log if d["rows"].get(config)]
    return [*files, {"split": "latest", "path": files[-1]["path"]}] if files else []


def front_matter(log: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The README's YAML: one config per table with rows, ``reviews`` the default."""
    configs = []
    for config in CONFIGS:
        files = data_files(log, config)
        if files:
            entry: dict[str, Any] = {"config_name": config, "data_files": files}
            if config == "reviews":
                entry["default"] = True
            configs.append(entry)
    return {"configs": configs, "pretty_name": "panel reviews",
            "tags": ["llm-as-a-judge", "reviews", "panel"]}


def readme(log: Sequence[Mapping[str, Any]]) -> str:
    """The whole README.md: front matter, then the data card."""
    head = yaml.safe_dump(front_matter(log), sort_keys=False, allow_unicode=True)
    return f"---\n{head}---\n\n" + "\n".join(_card(log)) + "\n"


def _card(log: Sequence[Mapping[str, Any]]) -> list[str]:
    last = log[-1]
    lines = [
        "# panel reviews", "",
        "Reviews of tool cards by LLM personas (panel), exported from a panel store. Each "
        "config is one table with flat typed columns; each export is a split named by its UTC "
        "time, and `latest` is the newest. The manifests that reproduce the reviews (model "
        "spec, engine arguments, template and persona hashes, library versions) are under "
        "`manifests/SPLIT/`.", "",
        "```python",
        "from datasets import load_dataset",
        'reviews = load_dataset("PATH/TO/THIS/FOLDER", "reviews", split="latest")',
        "```", "",
        "## Splits", "",
        "| split | format | model | study | since | " + " | ".join(CONFIGS) + " |",
        "|" + "---|" * (5 + len(CONFIGS)),
    ]
    for d in log:
        f = d["filters"]
        lines.append(f"| {d['split']} | {d['format']} | {f.get('model') or 'all'} | "
                     f"{f.get('study') or 'all'} | {f.get('since') or '-'} | "
                     + " | ".join(str(d["rows"].get(c, 0)) for c in CONFIGS) + " |")
    lines += ["", f"Latest export: {last['created_at']} from `{last['store']}`.", ""]
    for config in CONFIGS:
        lines += [f"## {config}", "", f"{ABOUT[config][0].upper()}{ABOUT[config][1:]}.", "",
                  "| column | type | meaning |", "|---|---|---|"]
        lines += [f"| {c.name} | {c.type} | {c.doc} |" for c in COLUMNS[config]]
        lines.append("")
    lines += ["## Caveats", "",
              "Scores and verdicts are model outputs, not ground truth. Samples of one card "
              "and persona are not independent observations: cluster by `tool` when you "
              "compute intervals. Re-running a review reproduces it only under the recorded "
              "conditions (vLLM, torch, dtype, CPU, weights): `panel verify` checks that."]
    return lines
