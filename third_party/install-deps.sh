#!/usr/bin/env bash
# Installs what spanqa needs to build and run; a no-op for what is already there.
#   third_party/install-deps.sh [LIBTORCH]
# Always: a C++ toolchain, cmake, ccache and chromium (the server's web-page test) from apt.
# LIBTORCH "" (the default): the pinned PyPI torch wheel into .venv (third_party/provision-libtorch.sh).
# LIBTORCH "debian": Debian's libtorch-dev 1.13 with Gloo's headers and the OpenMP OpenBLAS.
# Any other LIBTORCH is a libtorch the user brings: nothing to install for it.
set -euo pipefail
cd "$(dirname "$0")/.."
libtorch=${1:-}
venv=${VENV:-.venv}

pkgs=(cmake g++ ccache chromium)
case "$libtorch" in
  "") command -v python3 >/dev/null 2>&1 || pkgs+=(python3 python3-venv) ;;
  debian | system) pkgs+=(libtorch-dev libgloo-dev libopenblas0-openmp) ;;
esac
need=()
for pkg in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -eq 0 ]; then
  echo "deps: apt packages present (${pkgs[*]})"
else
  echo "deps: installing ${need[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  echo "deps: apt done"
fi

if [ -z "$libtorch" ]; then
  third_party/provision-libtorch.sh "$venv" third_party/libtorch-requirements.txt
fi
