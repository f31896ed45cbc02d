#!/usr/bin/env bash
# Install prober into .venv and run the demo against the embedded simulated service.
# Extra arguments go to `prober demo` (e.g. --duration 60s).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q .
if [ "$(command -v prober)" != "$PWD/.venv/bin/prober" ]; then
  echo "prober is installed in .venv: run 'source .venv/bin/activate' to put it on PATH (or type .venv/bin/prober)"
fi
exec .venv/bin/prober demo "$@"
