#!/usr/bin/env bash
# Measures the console's idle CPU (share of one core over a window) and peak RSS,
# running `shipdeck demo --services N` in a private tmux server.
# Usage: scripts/measure-idle.sh [SERVICES=500] [SECONDS=30]
# SHIPDECK_BIN=path measures that binary instead (an A/B of two builds).
set -euo pipefail
cd "$(dirname "$0")/.."
services=${1:-500}
seconds=${2:-30}
if [ -n "${SHIPDECK_BIN:-}" ]; then
  bin=$SHIPDECK_BIN
else
  cargo build --release --quiet
  bin=target/release/shipdeck
fi
sock="shipdeck-measure-$$"
trap 'tmux -L "$sock" kill-server 2>/dev/null || true' EXIT
tmux -L "$sock" -f /dev/null new-session -d -s m -x 120 -y 40 \
  "SHIPDECK_LOG_FILE=/tmp/shipdeck-measure.log $bin demo --services $services"
pid=""
for _ in $(seq 1 50); do
  pid=$(pgrep -f "^$bin demo --services $services" | head -n1 || true)
  [ -n "$pid" ] && break
  sleep 0.2
done
[ -n "$pid" ] || { echo "shipdeck did not start" >&2; exit 1; }
sleep 5 # let the first readings land
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
t0=$(ticks); s0=$(date +%s.%N)
sleep "$seconds"
t1=$(ticks); s1=$(date +%s.%N)
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
awk -v t0="$t0" -v t1="$t1" -v s0="$s0" -v s1="$s1" -v hz="$hz" -v hwm="$hwm" -v rss="$rss" -v n="$services" 'BEGIN {
  cpu = (t1 - t0) / hz / (s1 - s0) * 100;
  printf "services=%d window=%.1fs cpu=%.2f%% of one core  peak_rss=%.1f MiB  rss=%.1f MiB\n", n, s1 - s0, cpu, hwm / 1024, rss / 1024
}'
