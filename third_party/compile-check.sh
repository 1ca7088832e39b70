#!/usr/bin/env bash
# Compiles and links cbridge against the oldest supported libtorch 2.x (CPU shims), in a build
# folder of its own, so that version guards for older APIs cannot rot. CI runs it; it changes
# neither build/ nor .venv.
#   third_party/compile-check.sh [REQUIREMENTS]
set -euo pipefail
cd "$(dirname "$0")/.."
req=${1:-third_party/libtorch-oldest-requirements.txt}
venv=.venv-oldest
wheels=${SPANQA_WHEELHOUSE:-$HOME/.cache/spanqa/wheels}
version=$(grep -m1 '^torch==' "$req")
stamp="$venv/.spanqa-requirements"
if ! { [ -f "$stamp" ] && cmp -s "$stamp" "$req"; }; then
  python3 -m venv "$venv"
  mkdir -p "$wheels"
  "$venv/bin/python" -m pip download --quiet --no-deps --dest "$wheels" -r "$req"
  "$venv/bin/python" -m pip install --quiet --no-deps --no-index --find-links "$wheels" -r "$req"
  cp "$req" "$stamp"
fi
dir=$(cd "$(ls -d "$venv"/lib/python3*/site-packages/torch | head -n1)" && pwd)
rm -rf build-oldest
cmake -S . -B build-oldest -DCMAKE_BUILD_TYPE=Release -DLIBTORCH="$dir" -DSPANQA_CUDA=OFF >build-oldest.log 2>&1 || {
  tail -n 30 build-oldest.log >&2
  exit 1
}
start=$(date +%s)
cmake --build build-oldest -j2 >>build-oldest.log 2>&1 || {
  grep -E -B2 -A6 "error" build-oldest.log | head -n 60 >&2
  exit 1
}
echo "compile-check: cbridge compiles and links against $version ($(( $(date +%s) - start )) s); log in build-oldest.log"
rm -rf build-oldest build-oldest.log
