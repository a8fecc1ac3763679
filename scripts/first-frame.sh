#!/usr/bin/env bash
# Time from starting `shipdeck demo --services N` in tmux until its board is on
# screen (the first frame), polled every 5 ms with tmux capture-pane.
# Usage: scripts/first-frame.sh [SERVICES=2000] [RUNS=5]
set -euo pipefail
cd "$(dirname "$0")/.."
services=${1:-2000}
runs=${2:-5}
cargo build --release --quiet
bin=$PWD/target/release/shipdeck
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
for run in $(seq 1 "$runs"); do
  # A server of its own per run: a new one started just as the last one
  # exits can find it going away.
  sock="shipdeck-frame-$$-$run"
  start=$(date +%s%N)
  tmux -L "$sock" -f /dev/null new-session -d -s f -x 120 -y 40 \
    "XDG_DATA_HOME=$data SHIPDECK_LOG_FILE=$data/log $bin demo --services $services"
  shown=""
  for _ in $(seq 1 2000); do
    if tmux -L "$sock" capture-pane -p -t f 2>/dev/null | grep -q "svc-0000"; then
      shown=$(date +%s%N)
      break
    fi
    sleep 0.005
  done
  tmux -L "$sock" kill-server 2>/dev/null || true
  if [ -z "$shown" ]; then echo "run $run: no board within 10 s" >&2; exit 1; fi
  echo "run $run: first frame after $(( (shown - start) / 1000000 )) ms (services=$services)"
done
