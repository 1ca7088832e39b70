#!/usr/bin/env bash
# Configures build/ (CMake) for the libtorch that LIBTORCH names, and reconfigures from scratch
# when that choice changed since the last build.
#   third_party/configure.sh LIBTORCH VENV CUDA
# LIBTORCH: "" = the pinned pip torch in VENV (make deps provisions it); "debian" = Debian's
# libtorch-dev; anything else = the folder of a libtorch (pytorch.org archive or pip torch).
# CUDA: AUTO, ON or OFF (see CMakeLists.txt).
set -euo pipefail
want=${1:-}
venv=${2:-.venv}
cuda=${3:-AUTO}

case "$want" in
  "")
    dir=$(ls -d "$venv"/lib/python3*/site-packages/torch 2>/dev/null | head -n1 || true)
    if [ -z "$dir" ] || [ ! -f "$dir/share/cmake/Torch/TorchConfig.cmake" ]; then
      echo "build: no libtorch in $venv: run 'make deps' first (or make build LIBTORCH=/path/to/libtorch, or LIBTORCH=debian)" >&2
      exit 1
    fi
    dir=$(cd "$dir" && pwd)
    ;;
  debian | system)
    dir=""
    if [ ! -f /usr/share/cmake/Torch/TorchConfig.cmake ] && [ ! -f /usr/lib/x86_64-linux-gnu/cmake/Torch/TorchConfig.cmake ] &&
      ! ls /usr/lib/*/cmake/Torch/TorchConfig.cmake >/dev/null 2>&1; then
      echo "build: LIBTORCH=debian, but Debian's libtorch-dev is not installed: run 'make deps LIBTORCH=debian'" >&2
      exit 1
    fi
    ;;
  *)
    dir=$(cd "$want" 2>/dev/null && pwd) || { echo "build: LIBTORCH=$want does not exist" >&2; exit 1; }
    if [ ! -f "$dir/share/cmake/Torch/TorchConfig.cmake" ]; then
      echo "build: LIBTORCH=$want is not a libtorch: it has no share/cmake/Torch/TorchConfig.cmake" \
        "(give the folder of a pytorch.org libtorch archive, or a pip torch's site-packages/torch)" >&2
      exit 1
    fi
    ;;
esac

key="libtorch=${dir:-debian} cuda=$cuda"
if [ -f build/CMakeCache.txt ] && [ "$(cat build/.spanqa-config 2>/dev/null)" = "$key" ]; then
  exit 0
fi
rm -rf build
mkdir -p build
echo "build: configuring for ${dir:-the Debian libtorch} (CUDA $cuda)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DLIBTORCH="$dir" -DSPANQA_CUDA="$cuda" >build/configure.log 2>&1 || {
  grep -E -A3 "spanqa:|CMake Error" build/configure.log >&2 || tail -n 20 build/configure.log >&2
  rm -f build/CMakeCache.txt
  exit 1
}
grep -E "^-- spanqa:" build/configure.log | sed 's/^-- /build: /'
echo "$key" >build/.spanqa-config
