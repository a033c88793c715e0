"""The layout docs/architecture.md promises, checked on an AST import graph of src/panel.

Every ``import panel...`` and ``from panel... import`` is read with ``ast`` (nothing is
imported), wherever it stands: at module level, inside a function (a lazy import still
couples the two modules), or under ``if TYPE_CHECKING:``. Four rules, each failure one
line naming the file and line:

1. Layers: a module imports only from its own package or from a lower layer (``LAYERS``,
   lowest first). Two packages of one layer (``research``, ``publish``) never import each
   other. Type-checking imports obey this too: a type hint is a dependency a reader has
   to follow.
2. No cycle between modules, function-level imports included. Type-checking imports are
   exempt here (they never run, so they cannot make a half-initialised module), but not
   from rule 1.
3. No function or method over ``MAX_FUNCTION_LINES`` lines, counted from its ``def`` line
   to its last line (``end_lineno - lineno + 1``: decorators excluded, docstring, blank
   lines and nested functions included).
4. At most ``MAX_TOP_LEVEL`` entries at the top of src/panel (files and folders, not
   counting ``__init__.py`` and caches).
5. Only ``cli/`` talks to the terminal or picks an exit code: elsewhere no ``print()``,
   ``sys.exit()``/``exit()``/``quit()``/``os._exit()``, ``raise SystemExit``,
   ``sys.stdout``/``sys.stderr``, nor ``import click``. Library code returns results or
   raises ``PanelError``.

An import of a ``panel`` module that does not exist also fails (a stale lazy import after
a move would only fail when its function first runs).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"panel", "errors", "hashing"}),
    frozenset({"inputs"}),
    frozenset({"contract"}),
    frozenset({"store"}),
    frozenset({"config"}),
    frozenset({"backends"}),
    frozenset({"verdict"}),
    frozenset({"pipeline"}),
    frozenset({"research", "publish"}),
    frozenset({"cli"}),
)
"""Packages (top-level modules count as their own package; ``panel`` is the root
``__init__``), lowest layer first."""
ORDER = " < ".join("|".join(sorted(layer)) for layer in LAYERS)

MAX_FUNCTION_LINES = 60
MAX_TOP_LEVEL = 12
NOT_ENTRIES = frozenset({"__init__.py", "__pycache__"})


@dataclass(frozen=True)
class Import:
    """One import of a panel module, where it is and how it runs."""

    importer: str
    target: str
    path: Path
    line: int
    kind: str
    """``module`` (runs at import), ``function`` (runs when called) or ``type-checking``."""

    def where(self, src: Path) -> str:
        return f"{self.path.relative_to(src.parent)}:{self.line}"


def modules(src: Path) -> dict[str, Path]:
    """Every module under ``src/panel`` by dotted name (a package by its ``__init__``)."""
    found = {}
    for path in sorted((src / "panel").rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def package(module: str) -> str:
    """``panel.config.registry`` -> ``config``; ``panel.errors`` -> ``errors``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def layer_of(pkg: str) -> int | None:
    return next((i for i, layer in enumerate(LAYERS) if pkg in layer), None)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return ((isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
            or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _kinds(tree: ast.Module) -> Iterator[tuple[ast.Import | ast.ImportFrom, str]]:
    """Each import statement with its kind; the innermost enclosing construct decides
    (a function-level import under TYPE_CHECKING inside a function is function-level)."""
    def walk(node: ast.AST, kind: str) -> Iterator[tuple[ast.Import | ast.ImportFrom, str]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                yield child, kind
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                yield from walk(child, "function")
            elif isinstance(child, ast.If) and _is_type_checking(child) and kind == "module":
                for stmt in child.body:
                    yield from walk(ast.Module(body=[stmt], type_ignores=[]), "type-checking")
                for stmt in child.orelse:
                    yield from walk(ast.Module(body=[stmt], type_ignores=[]), kind)
            else:
                yield from walk(child, kind)

    yield from walk(tree, "module")


def _targets(node: ast.Import | ast.ImportFrom, importer: str, is_package: bool,
             known: dict[str, Path]) -> list[str]:
    """The panel modules one statement imports: ``from a import b`` names ``a.b`` where
    that is a module, else ``a``."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        parts = importer.split(".") if is_package else importer.split(".")[:-1]
        parts = parts[:len(parts) - node.level + 1]
        base = ".".join(parts + ([node.module] if node.module else []))
    subs = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in known]
    rest = [alias for alias in node.names if f"{base}.{alias.name}" not in known]
    return subs + ([base] if rest else [])


def imports(src: Path) -> list[Import]:
    """Every import of a panel module in ``src/panel``."""
    known = modules(src)
    found = []
    for name, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node, kind in _kinds(tree):
            for target in _targets(node, name, path.name == "__init__.py", known):
                if target == "panel" or target.startswith("panel."):
                    found.append(Import(name, target, path, node.lineno, kind))
    return found


def order_violations(src: Path) -> list[str]:
    """Rule 1, and imports of modules that do not exist."""
    known = modules(src)
    problems = [f"{pkg}: a package in no layer; add it to LAYERS in {Path(__file__).name}"
                for pkg in sorted({package(m) for m in known}) if layer_of(pkg) is None]
    for imp in imports(src):
        if imp.target not in known:
            problems.append(f"{imp.where(src)} -> {imp.target} ({imp.kind}): no such module")
            continue
        low, high = package(imp.target), package(imp.importer)
        lo, hi = layer_of(low), layer_of(high)
        if low == high or lo is None or hi is None or lo < hi:
            continue
        why = "a higher layer" if lo > hi else "a package of the same layer"
        problems.append(f"{imp.where(src)} -> {imp.target} ({imp.kind}): {high} imports "
                        f"{why}, {low} (layers, lowest first: {ORDER})")
    return problems


def cycles(src: Path) -> list[str]:
    """Rule 2: one line per strongly connected set of modules, with one cycle through it
    and the file:line of each of its imports."""
    edges: dict[str, dict[str, Import]] = {}
    for imp in imports(src):
        if imp.kind != "type-checking" and imp.target != imp.importer:
            edges.setdefault(imp.importer, {}).setdefault(imp.target, imp)
    problems = []
    for component in _strongly_connected(edges):
        loop = _cycle_in(component, edges)
        steps = [edges[a][b] for a, b in zip(loop, loop[1:], strict=False)]
        problems.append("import cycle: " + " -> ".join(loop) + " ("
                        + ", ".join(f"{s.where(src)} {s.kind}" for s in steps) + ")")
    return problems


def _strongly_connected(edges: dict[str, dict[str, Import]]) -> list[list[str]]:
    """Tarjan's algorithm; components of more than one module, each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(found)


def _cycle_in(component: list[str], edges: dict[str, dict[str, Import]]) -> list[str]:
    """A shortest cycle through the component's first module (breadth-first)."""
    start, members = component[0], set(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(edges.get(node, {})):
            if nxt == start:
                return [*paths[node], start]
            if nxt in members and nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                queue.append(nxt)
    raise AssertionError(f"no cycle through {start}")  # a component always has one


def long_functions(src: Path) -> list[str]:
    """Rule 3."""
    problems = []
    for path in modules(src).values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    problems.append(f"{path.relative_to(src.parent)}:{node.lineno} "
                                    f"{node.name}() is {length} lines (at most "
                                    f"{MAX_FUNCTION_LINES})")
    return problems


TERMINAL_CALLS = frozenset({"print", "exit", "quit", "sys.exit", "os._exit"})
TERMINAL_NAMES = frozenset({"sys.stdout", "sys.stderr", "SystemExit"})


def terminal_use(src: Path) -> list[str]:
    """Rule 5: each place outside cli/ that prints, exits or imports click."""
    problems = []
    for name, path in modules(src).items():
        if package(name) == "cli":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            what = _terminal(node)
            if what:
                problems.append(f"{path.relative_to(src.parent)}:{node.lineno} {what}: only "
                                "cli/ prints or exits (return a result or raise PanelError)")
    return problems


def _terminal(node: ast.AST) -> str | None:
    """What in ``node`` talks to the terminal, if anything."""
    if isinstance(node, ast.Call) and ast.unparse(node.func) in TERMINAL_CALLS:
        return f"{ast.unparse(node.func)}()"
    if isinstance(node, ast.Name | ast.Attribute) and ast.unparse(node) in TERMINAL_NAMES:
        return ast.unparse(node)
    if isinstance(node, ast.Import | ast.ImportFrom):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
        if any(n and (n == "click" or n.startswith("click.")) for n in names):
            return "import click"
    return None


def top_level(src: Path) -> list[str]:
    """Rule 4's entries."""
    return sorted(p.name for p in (src / "panel").iterdir()
                  if p.name not in NOT_ENTRIES and not p.name.startswith("."))


def _none(problems: list[str]) -> None:
    """Fail with one line per problem (no diff of lists to decode)."""
    if problems:
        pytest.fail(f"{len(problems)} problem(s):\n" + "\n".join(problems), pytrace=False)


def test_every_import_follows_the_layers() -> None:
    _none(order_violations(SRC))


def test_no_import_cycle_between_modules() -> None:
    _none(cycles(SRC))


def test_no_function_over_60_lines() -> None:
    _none(long_functions(SRC))


def test_at_most_12_entries_at_the_top_of_src_panel() -> None:
    entries = top_level(SRC)
    assert len(entries) <= MAX_TOP_LEVEL, entries


def test_only_cli_prints_or_exits() -> None:
    _none(terminal_use(SRC))


def test_every_package_has_a_layer() -> None:
    """Each folder and top-level module is in ``LAYERS`` exactly once (a new package must
    be placed, not skipped)."""
    packages = {package(m) for m in modules(SRC)}
    placed = [pkg for layer in LAYERS for pkg in layer]
    assert sorted(placed) == sorted(packages)


# The checker itself, on small planted trees: each rule fails when it should.

def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    src = tmp_path / "src"
    for name, text in {"panel/__init__.py": "", **files}.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text)
    return src


def test_checker_finds_an_upward_import_in_a_function(tmp_path: Path) -> None:
    src = _tree(tmp_path, {
        "panel/contract/__init__.py": "",
        "panel/contract/output.py": "def f():\n    from panel.cli import main\n",
        "panel/cli/__init__.py": "from panel.contract import output\n",
    })
    assert order_violations(src) == [
        f"src/panel/contract/output.py:2 -> panel.cli (function): contract imports a higher "
        f"layer, cli (layers, lowest first: {ORDER})"]
    assert cycles(src) == ["import cycle: panel.cli -> panel.contract.output -> panel.cli "
                           "(src/panel/cli/__init__.py:1 module, "
                           "src/panel/contract/output.py:2 function)"]


def test_checker_holds_type_checking_imports_to_the_order_but_not_to_cycles(
        tmp_path: Path) -> None:
    src = _tree(tmp_path, {
        "panel/store/__init__.py": "",
        "panel/store/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                            "    from panel.config.b import X\n",
        "panel/config/__init__.py": "",
        "panel/config/b.py": "from panel.store.a import Y\n",
    })
    assert order_violations(src) == [
        f"src/panel/store/a.py:3 -> panel.config.b (type-checking): store imports a higher "
        f"layer, config (layers, lowest first: {ORDER})"]
    assert cycles(src) == []


def test_checker_finds_a_same_layer_import_and_a_missing_module(tmp_path: Path) -> None:
    src = _tree(tmp_path, {
        "panel/research/__init__.py": "from panel.publish import site\n",
        "panel/publish/__init__.py": "",
        "panel/publish/site.py": "from .gone import x\n",
    })
    lines = order_violations(src)
    assert lines[0] == "src/panel/publish/site.py:1 -> panel.publish.gone (module): no such module"
    assert lines[1].startswith("src/panel/research/__init__.py:1 -> panel.publish.site (module): "
                               "research imports a package of the same layer, publish")
    assert len(lines) == 2


def test_checker_counts_function_lines_from_def_to_last_line(tmp_path: Path) -> None:
    body = "    x = 1\n" * 58
    src = _tree(tmp_path, {"panel/errors.py": (
        f"@decorator\n@another\ndef fits():\n    '''Doc.'''\n{body}"
        f"def long():\n    '''Doc.'''\n{body}    return x\n")})
    assert long_functions(src) == ["src/panel/errors.py:63 long() is 61 lines (at most 60)"]


def test_checker_finds_printing_and_exiting_outside_cli(tmp_path: Path) -> None:
    src = _tree(tmp_path, {
        "panel/store/__init__.py": "import sys\nimport click.testing\n"
                                   "def f():\n    print('x')\n    sys.exit(2)\n"
                                   "    sys.stderr.write('y')\n    raise SystemExit(1)\n",
        "panel/cli/__init__.py": "import click\nimport sys\nprint('ok')\nsys.exit(0)\n",
    })
    why = "only cli/ prints or exits (return a result or raise PanelError)"
    assert sorted(terminal_use(src)) == [
        f"src/panel/store/__init__.py:2 import click: {why}",
        f"src/panel/store/__init__.py:4 print(): {why}",
        f"src/panel/store/__init__.py:5 sys.exit(): {why}",
        f"src/panel/store/__init__.py:6 sys.stderr: {why}",
        f"src/panel/store/__init__.py:7 SystemExit: {why}"]


@pytest.mark.parametrize("count", [12, 13])
def test_checker_counts_top_level_entries(tmp_path: Path, count: int) -> None:
    src = _tree(tmp_path, {f"panel/m{i}.py": "" for i in range(count)})
    (src / "panel" / "__pycache__").mkdir()
    assert len(top_level(src)) == count
