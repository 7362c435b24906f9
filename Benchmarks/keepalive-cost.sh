#!/usr/bin/env bash
# What one keepalive ping costs (issue 34): one `ws serve --echo --ping PING` holding N sessions of `wsmany` (which
# answers every ping), the CPU of both processes over WINDOW s of holding, divided by the pings sent in that time.
#
#   ./Benchmarks/keepalive-cost.sh [WS_BINARY] [SESSIONS] [PING_SECONDS]   # defaults: .build/release/ws 18000 1
#   RATE=600 WINDOW=30 ./Benchmarks/keepalive-cost.sh .build/release/ws 18000 30
#
# RATE (new sessions a second, default 9000) spreads the pings over the interval as a long ramp does (a rate of
# SESSIONS / PING_SECONDS spreads them evenly: the server then wakes for pings that are not due together, as each
# of a million sessions' processes does); WINDOW is the measured time in seconds (default 10).
#
# Prints the server's and the load tool's CPU microseconds per ping, and the load tool's RESULT line (failures by
# kind: every ping must be answered, none may close with 1011).
set -euo pipefail
cd "$(dirname "$0")/.."
ws=${1:-.build/release/ws}
sessions=${2:-18000}
ping=${3:-1}
rate=${RATE:-9000}
window=${WINDOW:-10}
threads=()
if [ -n "${THREADS:-}" ]; then threads=(--threads "$THREADS"); fi  # the server's event loops (default: one per core)
OUT=.build/scale
mkdir -p "$OUT"
if [ ! -x "$ws" ]; then swift build -c release --product ws >/dev/null; fi
cc -O2 -o "$OUT/wsmany" Benchmarks/wsmany.c -lcrypto
rm -f "$OUT/keepalive.port"
"$ws" serve --echo --port 0 --port-file "$OUT/keepalive.port" --ping "$ping" "${threads[@]}" -q >/dev/null &
server=$!
for _ in $(seq 1 100); do [ -s "$OUT/keepalive.port" ] && break; sleep 0.05; done
"$OUT/wsmany" --port "$(cat "$OUT/keepalive.port")" --connections "$sessions" --rate "$rate" --sources 200 --hold $(( window + 6 )) \
  --echo-samples 10 >"$OUT/keepalive-load.txt" 2>&1 &
load=$!
for _ in $(seq 1 $(( (sessions / rate + 60) * 10 ))); do grep -q CONNECTED "$OUT/keepalive-load.txt" && break; sleep 0.1; done
sleep 3
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
server_before=$(ticks $server)
load_before=$(ticks $load)
start=$(date +%s%N)
sleep "$window"
server_after=$(ticks $server)
load_after=$(ticks $load)
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
wait $load || true
kill $server 2>/dev/null || true
wait $server 2>/dev/null || true
awk -v s=$(( server_after - server_before )) -v l=$(( load_after - load_before )) -v n="$sessions" -v p="$ping" \
  -v ms="$elapsed_ms" -v hz="$(getconf CLK_TCK)" 'BEGIN {
    pings = n / p * ms / 1000
    printf "server %.1f us per ping (%.0f %% of a core), load %.1f us per ping\n", s / hz * 1e6 / pings,
      100 * s / hz / (ms / 1000), l / hz * 1e6 / pings }'
grep '^RESULT' "$OUT/keepalive-load.txt" || true
