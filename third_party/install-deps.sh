#!/usr/bin/env bash
# Installs spanqa's build and run-time dependencies with apt-get; a no-op when they are present.
set -euo pipefail
need=()
for pkg in libtorch-dev libopenblas0-openmp cmake g++ ccache; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -eq 0 ]; then
  echo "deps: all present (libtorch-dev libopenblas0-openmp cmake g++ ccache)"
  exit 0
fi
echo "deps: installing ${need[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "deps: done"
