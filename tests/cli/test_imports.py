"""`import panel` and `panel --help` stay light: neither torch nor vLLM is loaded.

The heavy engines are imported inside the functions that use them (backends/vllm/), so a
user without the GPU extra can list models, read help and build a site. Each check runs
in a fresh interpreter: this test process may have imported anything by now.
"""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "vllm")


def _loaded_after(code: str) -> list[str]:
    probe = code + f"\nimport sys\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, timeout=120)
    return [m for m in out.stdout.strip().split(",") if m]


def test_import_panel_loads_neither_torch_nor_vllm() -> None:
    assert _loaded_after("import panel, panel.cli") == []


def test_help_of_every_command_loads_neither_torch_nor_vllm() -> None:
    code = """
import panel.cli
from click.testing import CliRunner
runner = CliRunner()
def walk(group, path):
    yield path
    for name, cmd in getattr(group, "commands", {}).items():
        yield from walk(cmd, path + [name])
paths = list(walk(panel.cli.main, []))
assert len(paths) > 10, paths
for path in paths:
    result = runner.invoke(panel.cli.main, path + ["--help"])
    assert result.exit_code == 0, (path, result.output)
"""
    assert _loaded_after(code) == []


def test_library_modules_outside_the_vllm_adapter_load_neither() -> None:
    # walk_packages imports every package; __main__ would run the CLI
    code = """
import importlib, pkgutil, panel
for info in pkgutil.walk_packages(panel.__path__, "panel."):
    if not info.name.startswith("panel.backends.vllm") and not info.name.endswith("__main__"):
        importlib.import_module(info.name)
"""
    assert _loaded_after(code) == []
