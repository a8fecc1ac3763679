#!/usr/bin/env bash
# `shipdeck status` reading APPS Fly apps of MACHINES machines each in one
# environment (issue 30's measure) against the Machines API stub
# (tests/support/fly_machines.py): three readings, each one's requests
# counted from the stub's log beside the floor (one GET /v1/apps/*/machines
# per app, nothing else), wall time, CPU and peak RSS, every cell checked.
# Usage: scripts/bench-fly.sh [APPS=100] [MACHINES=10]
# SHIPDECK_BIN=path measures another build (default target/debug/shipdeck,
# built here when it is the default; a release build is measured by passing
# its path).
set -euo pipefail
cd "$(dirname "$0")/.."
apps=${1:-100}
machines=${2:-10}
bin=${SHIPDECK_BIN:-target/debug/shipdeck}
command -v python3 >/dev/null 2>&1 || { echo "python3 is required" >&2; exit 2; }
command -v /usr/bin/time >/dev/null 2>&1 || {
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq && $sudo apt-get install -y -qq time >/dev/null
}
if [ -z "${SHIPDECK_BIN:-}" ]; then
  cargo build --quiet
fi
exec python3 scripts/bench_fly.py "$apps" "$machines" "$bin"
