#!/usr/bin/env bash
# Installs spanqa's build and run-time dependencies with apt-get; a no-op when they are present.
set -euo pipefail
# chromium runs the web page test of the server; libgloo-dev completes libtorch's c10d headers.
pkgs=(libtorch-dev libgloo-dev libopenblas0-openmp cmake g++ ccache chromium)
need=()
for pkg in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -eq 0 ]; then
  echo "deps: all present (${pkgs[*]})"
  exit 0
fi
echo "deps: installing ${need[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "deps: done"
