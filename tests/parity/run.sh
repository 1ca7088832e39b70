#!/usr/bin/env bash
# The live Hugging Face parity suite (make parity):
#   1. installs tests/parity/requirements.txt into the project venv beside its torch wheel (once:
#      a stamp file records what was installed);
#   2. runs reference.py, which builds random models with transformers and records what it
#      computes, into a temporary folder;
#   3. runs the Go tests of tests/parity against that folder.
# With --install-only it stops after step 1 (make bench-compare).
# Where Python, the venv or the pinned packages cannot be had, it says so loudly and exits 0:
# the suite is skipped, not passed.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=${VENV:-.venv}
req=tests/parity/requirements.txt
stamp="$venv/.spanqa-parity-requirements"
seeds=${SPANQA_PARITY_SEEDS:-20}

skip() {
  echo "=================================================================="
  echo "parity: SKIPPED: $1"
  echo "=================================================================="
  exit 0
}

[ -x "$venv/bin/python" ] || skip "no Python venv at $venv (make deps creates it with the torch wheel spanqa builds against)"
"$venv/bin/python" -c 'import torch' 2>/dev/null || skip "$venv has no torch (run make deps)"
if ! { [ -f "$stamp" ] && cmp -s "$stamp" "$req"; }; then
  echo "parity: installing $(grep -v '^#' "$req" | tr '\n' ' ')into $venv"
  if ! "$venv/bin/python" -m pip install --quiet -r "$req" >"$venv/.pip-parity.log" 2>&1; then
    tail -n 5 "$venv/.pip-parity.log" >&2
    skip "pip could not install $req into $venv (is the package index reachable? log: $venv/.pip-parity.log)"
  fi
  cp "$req" "$stamp"
fi
"$venv/bin/python" -c 'import transformers, tokenizers, sentencepiece, safetensors' 2>/dev/null ||
  skip "the pinned packages of $req do not import in $venv"
# make bench-compare needs only the reference packages.
[ "${1:-}" = "--install-only" ] && exit 0
req457=tests/parity/requirements-hf457.txt
hf457="$venv/hf457"
stamp457="$hf457/.spanqa-parity-requirements"
hf457_ok=1
if ! { [ -f "$stamp457" ] && cmp -s "$stamp457" "$req457"; }; then
  echo "parity: installing $(grep -v '^#' "$req457" | tr '\n' ' ')into $hf457 (--no-deps)"
  rm -rf "$hf457"
  if "$venv/bin/python" -m pip install --quiet --no-deps --target "$hf457" -r "$req457" >"$venv/.pip-parity-hf457.log" 2>&1; then
    cp "$req457" "$stamp457"
  else
    tail -n 5 "$venv/.pip-parity-hf457.log" >&2
    hf457_ok=0
  fi
fi
if [ "$hf457_ok" = 1 ] && ! PYTHONPATH="$hf457" "$venv/bin/python" -c 'import transformers; assert transformers.__version__ == "4.57.6"' 2>/dev/null; then
  hf457_ok=0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/spanqa-parity.XXXXXX")
trap 'rm -rf "$work"' EXIT
start=$(date +%s)
echo "parity: reference models ($seeds random configurations per architecture) with $("$venv/bin/python" -c 'import transformers, torch; print("transformers", transformers.__version__, "on torch", torch.__version__)')"
"$venv/bin/python" tests/parity/reference.py models "$work/models" --seeds "$seeds"
if [ "$hf457_ok" = 1 ]; then
  PYTHONPATH="$hf457" "$venv/bin/python" tests/parity/reference.py models "$work/models-relative" --relative --seeds "$seeds"
else
  echo "parity: SKIPPED relative-position models and the transformers squad_metrics reference: transformers 4.57.6 could not be installed into $hf457 (log: $venv/.pip-parity-hf457.log)" |
    tee "$work/models-relative.skipped"
fi
shared=${SPANQA_FIXTURES:-../shared/fixtures}/tokenizers
squad=${SPANQA_DATA:-../shared/data}/squad
if [ -f "$shared/pairs.jsonl" ]; then
  "$venv/bin/python" tests/parity/reference.py tokenizers "$work/tokenizers" --shared "$shared" --strings "${SPANQA_PARITY_STRINGS:-100000}"
  "$venv/bin/python" tests/parity/reference.py qa "$work/qa" --shared "$shared" --squad "$squad"
  if [ "$hf457_ok" = 1 ]; then
    PYTHONPATH="$hf457" "$venv/bin/python" tests/parity/reference.py squad-v2-metrics "$work/qa"
  fi
else
  echo "parity: SKIPPED tokenizers: no reference tokenizer files at $shared (set SPANQA_FIXTURES)" | tee "$work/tokenizers.skipped"
  echo "parity: SKIPPED data and evaluation: no reference tokenizer files at $shared (set SPANQA_FIXTURES)" | tee "$work/qa.skipped"
fi
echo "parity: reference done in $(($(date +%s) - start)) s; running the Go side"
set +e
# -v for the per-architecture summaries (largest differences); the passing subtests are dropped.
SPANQA_PARITY_DIR="$work" SPANQA_PARITY_PYTHON="$PWD/$venv/bin/python" SPANQA_PARITY_HF457="$PWD/$hf457" \
  ${GO:-go} test -count=1 -timeout 30m -v ./tests/parity/ 2>&1 |
  grep -v -E '^(=== RUN|=== PAUSE|=== CONT|=== NAME)|^\s+--- PASS'
status=${PIPESTATUS[0]}
set -e
echo "parity: finished in $(($(date +%s) - start)) s"
exit "$status"
