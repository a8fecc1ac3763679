#!/usr/bin/env bash
# `shipdeck status` at fleet scale on local emulators: seeds 3 environments x N
# services into moto (ECS) and LocalStack (CloudWatch), runs `status --json`
# cold (empty task-definition cache) and warm, prints wall time, requests per
# operation and peak RSS, and checks every cell against the seeded truth.
# Usage: scripts/bench-status.sh [N=50]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-50}
scripts/install-emulators
command -v /usr/bin/time >/dev/null 2>&1 || {
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq && $sudo apt-get install -y -qq time >/dev/null
}
cargo build --release --quiet
exec .venv/bin/python scripts/bench_status.py "$n" target/release/shipdeck
