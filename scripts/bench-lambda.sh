#!/usr/bin/env bash
# `shipdeck status` reading N Lambda functions in one environment (issue 29's
# measure): creates N zip functions with an alias in moto and an alarm each
# in LocalStack, runs `status --json` cold (empty cache dir) and warm, and
# prints requests per API operation (from the emulators' request logs) beside
# the physical floor of a reading
# (ceil(N/50) ListFunctions + N GetAlias), wall time and peak RSS.
# Usage: scripts/bench-lambda.sh [N=500]
# SHIPDECK_BIN=path measures another build (default target/release/shipdeck,
# built here when it is the default).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-500}
bin=${SHIPDECK_BIN:-target/release/shipdeck}
scripts/install-emulators
command -v /usr/bin/time >/dev/null 2>&1 || {
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq && $sudo apt-get install -y -qq time >/dev/null
}
if [ -z "${SHIPDECK_BIN:-}" ]; then
  cargo build --release --quiet
fi
exec .venv/bin/python scripts/bench_lambda.py "$n" "$bin"
