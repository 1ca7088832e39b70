#!/usr/bin/env bash
# Provisions libtorch from the PyPI torch wheel into a project-local virtual environment.
#   third_party/provision-libtorch.sh VENV REQUIREMENTS
# A no-op when VENV already holds exactly REQUIREMENTS. Wheels are kept in a cache folder
# ($SPANQA_WHEELHOUSE, default ~/.cache/spanqa/wheels) so that a second fresh setup on the same
# machine downloads nothing; pip's own HTTP cache is not relied upon.
set -euo pipefail
venv=${1:?usage: provision-libtorch.sh VENV REQUIREMENTS}
req=${2:?usage: provision-libtorch.sh VENV REQUIREMENTS}
wheels=${SPANQA_WHEELHOUSE:-$HOME/.cache/spanqa/wheels}
python=${PYTHON:-python3}
stamp="$venv/.spanqa-requirements"

if [ -f "$stamp" ] && cmp -s "$stamp" "$req" && [ -x "$venv/bin/python" ]; then
  echo "deps: libtorch venv up to date ($(grep -m1 '^torch==' "$req"), $venv)"
  exit 0
fi

fail() {
  echo "deps: $1" >&2
  echo "deps: or build against a libtorch you have: make build LIBTORCH=/path/to/libtorch (a pytorch.org archive or a pip torch folder), or LIBTORCH=debian" >&2
  exit 1
}
command -v "$python" >/dev/null 2>&1 || fail "no $python: install Python 3.9+ (apt-get install python3 python3-venv)"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 9))' 2>/dev/null ||
  fail "$python is $("$python" -c 'import sys; print(sys.version.split()[0])' 2>/dev/null || echo '?'); the torch wheel needs Python 3.9+"
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv" 2>/dev/null || fail "$python cannot create a virtual environment: install its venv module (apt-get install python3-venv)"
fi
"$venv/bin/python" -m pip --version >/dev/null 2>&1 || fail "no pip in $venv: install python3-pip / python3-venv"

mkdir -p "$wheels"
echo "deps: downloading $(grep -m1 '^torch==' "$req") and its CUDA wheels into $wheels (about 3 GB the first time)"
start=$(date +%s)
if ! "$venv/bin/python" -m pip download --quiet --dest "$wheels" -r "$req" 2>"$venv/.pip-download.log"; then
  tail -n 5 "$venv/.pip-download.log" >&2
  fail "pip could not download $(grep -m1 '^torch==' "$req") (is the package index reachable? pip honours PIP_INDEX_URL and a proxy in HTTPS_PROXY; the log is $venv/.pip-download.log)"
fi
"$venv/bin/python" -m pip install --quiet --no-index --find-links "$wheels" -r "$req" ||
  fail "pip could not install the downloaded wheels from $wheels into $venv"
cp "$req" "$stamp"
echo "deps: libtorch $("$venv/bin/python" -c 'import torch; print(torch.__version__)') in $venv ($(( $(date +%s) - start )) s)"
