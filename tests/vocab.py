"""A registry model's real tokenizer, as vLLM's grammar backend sees it, for the bound tests.

vLLM builds xgrammar's ``TokenizerInfo`` from the Hugging Face tokenizer with the model's
vocabulary size (``backend_xgrammar``), padding ids included; so do these tests. Loading
takes seconds (Gemma's 262k vocabulary: ~30 s on 2 cores), so each model is loaded once.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from panel.backends.vllm.weights import resolve
from panel.config.registry import ModelSpec
from panel.errors import ModelNotAvailable

from conftest import need


@cache
def _load(folder: Path) -> tuple[Any, Any]:
    xgr = need("xgrammar")
    transformers = need("transformers")
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    size = config.get("vocab_size") or config.get("text_config", {}).get("vocab_size")
    return tokenizer, xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=size)


def load(spec: ModelSpec) -> tuple[Any, Any] | None:
    """The model's tokenizer and xgrammar's view of it; None for a hub model whose weights
    are not in the local cache (embedded models are converted on first use)."""
    try:
        folder = resolve(spec)
    except ModelNotAvailable:
        if spec.weights_source.embedded:
            raise
        return None
    return _load(folder)
