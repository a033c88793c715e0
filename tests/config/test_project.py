"""Names chosen by someone else never become paths outside their folder (issue 10, item 5).

``paths.child`` is the one gate; these tests try it directly (with a property test) and
through each place a name becomes a path: study manifests and reports, votes, drafts,
panels and run manifests (model names from models.yaml), server records.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from panel.backends.servers import record_path
from panel.cli import main
from panel.config.project import child
from panel.config.workspace import Workspace
from panel.errors import InputError
from panel.inputs.cards import load_cards
from panel.pipeline.run import RunSummary, review_cards, write_manifest, write_panels
from panel.publish.editor import write_draft
from panel.research.evaluate import evaluate
from panel.research.study import Study, load_manifest, load_study, run_study
from panel.verdict.community import Votes, load_votes, save_votes

from conftest import EXAMPLES, ROOT
from factories import copy_project

BAD_NAMES = ["", ".", "..", "../x", "../../x", "a/b", "/etc/passwd", "a\\b", "..\\x", "a\x00b",
             "a\nb", "a\rb", "a\x1bb", ".hidden", "x\u202egpj.exe", " x", "x ", "é" * 200]
PATH_PROPERTY_EXAMPLES = 1500


@pytest.mark.parametrize("name", BAD_NAMES)
def test_child_refuses_a_name_that_is_not_one_plain_entry(tmp_path: Path, name: str) -> None:
    with pytest.raises(InputError) as err:
        child(tmp_path, name, ".json", field="name", source="study.yaml")
    assert err.value.field == "name" and err.value.file == "study.yaml"
    assert repr(name) in str(err.value)


def test_child_keeps_a_plain_name_and_the_folder_form(tmp_path: Path) -> None:
    assert child(Path("outputs/studies"), "s-1.v2", ".json") == Path("outputs/studies/s-1.v2.json")
    assert child(tmp_path, "Кодер", ".html") == tmp_path / "Кодер.html"
    assert child(tmp_path, "a..b") == tmp_path / "a..b"


def test_child_refuses_a_symlink_that_points_out(tmp_path: Path) -> None:
    folder, outside = tmp_path / "votes", tmp_path / "elsewhere"
    folder.mkdir()
    outside.mkdir()
    (folder / "evil.yaml").symlink_to(outside / "x.yaml")
    (folder / "fine.yaml").symlink_to(folder / "real.yaml")
    with pytest.raises(InputError, match="resolves outside"):
        child(folder, "evil", ".yaml")
    assert child(folder, "fine", ".yaml") == folder / "fine.yaml"


# Names built from the characters that matter most for paths, plus arbitrary text.
_PATHY = st.text(alphabet=st.sampled_from(["." , "/", "\\", "a", "é", " ", "\x00", "\n", "~"]),
                 max_size=12)


@settings(max_examples=PATH_PROPERTY_EXAMPLES, deadline=None)
@given(name=st.one_of(st.text(), _PATHY, st.lists(st.sampled_from(["..", ".", "a", ""]))
                      .map("/".join)),
       suffix=st.sampled_from(["", ".json", ".yaml"]))
def test_child_either_refuses_or_stays_strictly_inside(tmp_path_factory: pytest.TempPathFactory,
                                                       name: str, suffix: str) -> None:
    folder = tmp_path_factory.getbasetemp() / "prop" / "folder"
    try:
        path = child(folder, name, suffix)
    except InputError:
        return
    base, target = folder.resolve(), path.resolve()
    assert target.parent == base and target != base
    assert path == folder / (name + suffix)


# --- studies -------------------------------------------------------------------------------


def _manifest_named(ws: Workspace, name: str) -> Path:
    """A real study's manifest copied under another file, its name replaced by ``name``."""
    doc = run_study(ws, Study(name="s", models=["mock", "mock-alt"],
                              cards=[str(EXAMPLES / "patchpilot.yaml")]))
    path = ws.output / "studies" / "evil.json"
    path.write_text(json.dumps({**doc, "name": name}), encoding="utf-8")
    return path


def test_a_manifest_whose_name_climbs_out_writes_nothing_outside(tmp_path: Path,
                                                                 ws: Workspace) -> None:
    _manifest_named(ws, "../../x")
    before = {p for p in tmp_path.rglob("*") if ws.output not in p.parents}
    res = CliRunner().invoke(main, ["agreement", "evil", "-o", str(ws.output)])
    assert res.exit_code != 0 and "'../../x' cannot be used as a file name" in res.output
    assert not (tmp_path / "x").exists()
    assert {p for p in tmp_path.rglob("*") if ws.output not in p.parents} == before


def test_load_manifest_by_name_never_reads_outside(tmp_path: Path, ws: Workspace) -> None:
    (tmp_path / "x.json").write_text(json.dumps({"name": "x", "runs": {}}), encoding="utf-8")
    with pytest.raises(InputError, match="cannot be used as a file name"):
        load_manifest(ws, "../../x")  # outputs/studies/../../x.json is tmp_path/x.json


def test_a_study_file_or_option_naming_a_path_is_refused(tmp_path: Path) -> None:
    study = tmp_path / "study.yaml"
    study.write_text(yaml.safe_dump({"name": "../../x", "models": ["mock"],
                                     "cards": [str(EXAMPLES)]}), encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_study(study)
    assert err.value.field == "name"
    out = tmp_path / "out"
    for args in (["--file", str(study)], [str(EXAMPLES), "--models", "mock", "--name", "../x"]):
        res = CliRunner().invoke(main, ["study", *args, "-o", str(out)])
        assert res.exit_code != 0 and "name" in res.output, res.output
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.json").exists()
    assert not (out / "studies").exists()


# --- votes, server records ------------------------------------------------------------------


@pytest.mark.parametrize("slug", ["../x", "a/../../x", "..", "/tmp/x"])
def test_votes_names_never_leave_the_votes_folder(tmp_path: Path, slug: str) -> None:
    (tmp_path / "x.yaml").write_text("up: 9\ndown: 0\n", encoding="utf-8")
    folder = tmp_path / "votes"
    with pytest.raises(InputError):
        load_votes(folder, slug)
    with pytest.raises(InputError):
        save_votes(folder, slug, Votes(up=1))
    assert (tmp_path / "x.yaml").read_text(encoding="utf-8") == "up: 9\ndown: 0\n"
    assert not folder.exists()


@pytest.mark.parametrize("name", ["../evil", "a/b", "..", ".hidden"])
def test_server_records_stay_in_the_servers_folder(tmp_path: Path, name: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PANEL_SERVERS_DIR", str(tmp_path / "servers"))
    with pytest.raises(InputError):
        record_path(name)
    assert record_path("qwen-0.5b") == tmp_path / "servers" / "qwen-0.5b.json"


# --- model names from models.yaml: drafts, panels, run manifests ----------------------------


@pytest.fixture
def evil_ws(tmp_path: Path) -> Workspace:
    """A project whose models.yaml names its (mock) model ``../../../../evil``."""
    root = copy_project(tmp_path / "project", models=False)
    models = {"default": "../../../../evil", "models": {"../../../../evil": {
        "backend": "mock", "sampling": {"seed": 0}}}}
    (root / "models.yaml").write_text(yaml.safe_dump(models), encoding="utf-8")
    return Workspace(output=tmp_path / "out" / "outputs", root=root)


def test_a_model_name_that_climbs_out_writes_no_panel_run_or_draft(tmp_path: Path,
                                                                    evil_ws: Workspace) -> None:
    cards = [c.card for c in load_cards([EXAMPLES / "patchpilot.yaml"])]
    with pytest.raises(InputError, match="cannot be used as a file name"):
        review_cards(evil_ws, cards, None, ["builder"])  # its panel file is refused
    summary = RunSummary(evil_ws.store.latest("patchpilot", "../../../../evil"))
    assert len(summary.records) == 1  # the review itself is in the store, keyed by content
    with pytest.raises(InputError, match="cannot be used as a file name"):
        write_panels(evil_ws, summary)
    with pytest.raises(InputError, match="cannot be used as a file name"):
        write_manifest(evil_ws, summary, None)
    with pytest.raises(InputError, match="cannot be used as a file name"):
        write_draft(evil_ws, "patchpilot")
    with pytest.raises(InputError, match="cannot be used as a file name"):
        evaluate(evil_ws, ROOT / "examples" / "reference.jsonl")
    written = {p.name for p in tmp_path.rglob("*") if p.is_file()}
    assert not any(n.endswith((".json", ".yaml")) and "evil" in n for n in written), written
