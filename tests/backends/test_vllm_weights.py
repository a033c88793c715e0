"""The second local backbone, Gemma 3 270M, on the real CPU engine: 1 card x 2 personas.

Gemma needs its own engine (the session ``engine`` fixture is SmolLM2): the session's
``gemma`` fixture, shared with the export test, runs one small batch here (two personas: the
other two add time, not proof). It proves what the mock cannot: vLLM loads
the converted Gemma3ForCausalLM folder on CPU, our chat template for the base model renders,
and the generation grammar compiles against Gemma's 262k-token vocabulary.
"""

from __future__ import annotations

import json

from panel.backends.base import Backend
from panel.backends.vllm.weights import resolve
from panel.config.workspace import Workspace
from panel.inputs.cards import load_cards
from panel.pipeline.run import review_cards

from conftest import EMBEDDED, EXAMPLES, GEMMA

PERSONAS = ["builder", "skeptic"]


def test_gemma_reviews_are_schema_valid(ws: Workspace, engine: Backend, gemma: Backend) -> None:
    """Runs beside the session's SmolLM2 engine, which must still work afterwards: on CPU
    the first engine lives in this process and a second gets its own (_vllm_compat)."""
    spec = ws.registry.get(GEMMA)
    folder = resolve(spec)
    assert json.loads((folder / "config.json").read_text())["architectures"] == [
        "Gemma3ForCausalLM"]
    card = load_cards([EXAMPLES / "vectorloom.yaml"])[0].card
    summary = review_cards(ws, [card], GEMMA, personas=PERSONAS, backend=gemma)
    assert [r.persona for r in summary.records] == PERSONAS
    rubric = ws.config.rubric
    for rec in summary.records:
        assert rec.model == GEMMA and rec.attempts
        assert rec.provenance["model"]["chat_template_sha"]
        assert rec.provenance["versions"]["transformers"]
        assert rec.ok and rec.output is not None, rec.failure
        assert [a.finish_reason for a in rec.attempts] == ["stop"], rec.attempts
        assert rec.output.review.startswith("VectorLoom")
        assert rubric.allows(rec.output.score, rec.output.verdict)
    [after] = review_cards(ws, [card], EMBEDDED, personas=["builder"], backend=engine).records
    assert after.model == EMBEDDED and after.attempts[0].output_tokens > 0
