"""A workspace: the project's data files and an output folder, loaded once per command.

Commands take a Workspace rather than a dozen arguments, so the CLI, the web app, the
benchmarks and the tests all build reviews the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from panel.config.dtype import check_dtype
from panel.config.project import project_root
from panel.config.registry import ModelSpec, Registry, load_registry
from panel.config.settings import Config, ReviewSettings, load_config
from panel.contract.prompts import PromptSet
from panel.inputs.personas import Persona, load_personas
from panel.store.sqlite import Store


@dataclass
class Workspace:
    """Data files under ``root`` and results under ``output``."""

    output: Path = Path("outputs")
    root: Path = field(default_factory=project_root)
    dtype: str | None = None
    """Overrides the registry entry's dtype (``--dtype``); None keeps models.yaml's."""

    @cached_property
    def config(self) -> Config:
        return load_config(self.root / "panel.yaml")

    @cached_property
    def registry(self) -> Registry:
        return load_registry(self.root / "models.yaml")

    @cached_property
    def prompts(self) -> PromptSet:
        return PromptSet(self.root / "prompts")

    @cached_property
    def store(self) -> Store:
        return Store(self.output)

    def __post_init__(self) -> None:
        if self.dtype is not None:  # refused before any work, not when the engine starts
            check_dtype(self.dtype)

    _personas: dict[tuple[str, ...], list[Persona]] = field(
        default_factory=dict, init=False, repr=False, compare=False)
    """Persona lists already read, by the subset asked for: a run reads each file once
    (a batch asks for the panel's order once per tool; re-parsing the YAML each time was
    most of an unchanged re-run)."""

    def personas(self, only: list[str] | None = None) -> list[Persona]:
        """The panel's personas, or the named subset, in panel order (read once)."""
        wanted = tuple(only or ())
        if wanted not in self._personas:
            self._personas[wanted] = load_personas(self.root / "personas", only)
        return list(self._personas[wanted])

    def persona_order(self) -> list[str]:
        return [p.key for p in self.personas()]

    def settings(self, model: str | None = None) -> ReviewSettings:
        """Review settings for a registry model (default: $PANEL_MODEL or models.yaml's)."""
        spec: ModelSpec = self.registry.get(model)
        if self.dtype is not None:
            spec = spec.with_dtype(self.dtype)
        return ReviewSettings(spec=spec, prompts=self.prompts, rubric=self.config.rubric,
                              max_attempts=self.config.generation.max_attempts,
                              lengths=self.config.review)
