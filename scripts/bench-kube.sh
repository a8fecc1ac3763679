#!/usr/bin/env bash
# The Kubernetes platform's three figures (issue 31) against the API stub
# with its Argo controller (tests/support/kube_api.py; no API server is in
# the registries): N Rollouts in one namespace, one service each, then
#   1. the first full board: `status --json` start to exit (every cell's
#      digest checked) and the console's first board in tmux (launch until
#      the environment's reading is on screen), RUNS times each;
#   2. idle: the console open IDLE seconds after its first board, the
#      stub's logged requests that are not watches, and the open watches;
#   3. a Rollout's status change (an InvalidSpec condition: Degraded, which
#      the stub's controller keeps) until its row shows it, TRIALS times.
# Prints the figures as lines to paste; exits 0 only when every check
# (cells, watches) and every target (2 s, 0 requests, 1 s) held.
# Usage: scripts/bench-kube.sh [N=2000]
# SHIPDECK_BIN=path measures that build (default target/release/shipdeck,
# built here when it is the default). BENCH_RUNS=5 BENCH_IDLE=60
# BENCH_TRIALS=10 change the repeats; BENCH_KEEP=1 keeps the work directory.
# Everything runs on 127.0.0.1; the stub, the tmux servers (their sockets
# are in the work directory) and the consoles are stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-2000}
case "$n" in '' | *[!0-9]* | 0) echo "N must be a positive number: $n" >&2; exit 2 ;; esac
for tool in python3 tmux timeout; do
  command -v "$tool" >/dev/null 2>&1 || { echo "$tool is required" >&2; exit 2; }
done
if [ -z "${SHIPDECK_BIN:-}" ]; then
  cargo build --release --quiet
fi
bin=${SHIPDECK_BIN:-target/release/shipdeck}
[ -x "$bin" ] || { echo "no shipdeck binary at $bin (build it, or set SHIPDECK_BIN)" >&2; exit 2; }
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")

work=$(mktemp -d /tmp/shipdeck-bench-kube-XXXXXX)
stub=""
driver=""
cleanup() {
  local code=$?
  trap - EXIT INT TERM
  # The driver first: it stops its consoles and says what it measured.
  if [ -n "$driver" ] && kill -0 "$driver" 2>/dev/null; then
    kill -TERM "$driver" 2>/dev/null || true
    wait "$driver" 2>/dev/null || true
  fi
  # Every tmux server of the run has its socket here (TMUX_TMPDIR below).
  for sock in "$work"/tmux-*/*; do
    [ -S "$sock" ] && tmux -S "$sock" kill-server 2>/dev/null || true
  done
  if [ -n "$stub" ]; then
    kill "$stub" 2>/dev/null || true
    wait "$stub" 2>/dev/null || true
  fi
  if [ -n "${BENCH_KEEP:-}" ]; then
    echo "kept: $work"
  else
    rm -rf "$work"
  fi
  exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

token="kube-bench-token"
python3 tests/support/kube_api.py --port 0 --token "$token" \
  >"$work/stub.out" 2>"$work/stub.err" </dev/null &
stub=$!
port=""
for _ in $(seq 1 100); do
  port=$(awk '$1 == "PORT" {print $2; exit}' "$work/stub.out" 2>/dev/null || true)
  [ -n "$port" ] && break
  kill -0 "$stub" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$port" ]; then
  echo "the stub did not start:" >&2
  cat "$work/stub.err" >&2
  exit 1
fi

# Bounded: 30 min covers 2,000 Rollouts on a debug build with room to spare.
# In the background and waited for, so that a signal reaches the traps at
# once (bash runs them only after a foreground command ends).
TMUX_TMPDIR="$work" timeout --signal=TERM --kill-after=20 1800 \
  python3 scripts/bench_kube.py "$n" "$bin" "http://127.0.0.1:$port" "$token" "$work" &
driver=$!
wait "$driver"
