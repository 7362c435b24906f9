#!/usr/bin/env bash
# What one opening handshake costs a server (issue 34): one `ws serve --echo` accepting SESSIONS sessions from
# `wsmany` at RATE a second; the CPU of both processes during the connect phase, divided by the sessions.
#
#   ./Benchmarks/handshake-cost.sh [WS_BINARY] [SESSIONS] [RATE]   # defaults: .build/release/ws 18000 6000
#   THREADS=1 ./Benchmarks/handshake-cost.sh                        # the server with one event loop
#
# Prints the server's and the load tool's CPU microseconds per handshake and how many sessions opened.
set -euo pipefail
cd "$(dirname "$0")/.."
ws=${1:-.build/release/ws}
sessions=${2:-18000}
rate=${3:-6000}
threads=()
if [ -n "${THREADS:-}" ]; then threads=(--threads "$THREADS"); fi
OUT=.build/scale
mkdir -p "$OUT"
if [ ! -x "$ws" ]; then swift build -c release --product ws >/dev/null; fi
cc -O2 -o "$OUT/wsmany" Benchmarks/wsmany.c -lcrypto
rm -f "$OUT/handshake.port"
"$ws" serve --echo --port 0 --port-file "$OUT/handshake.port" --ping 30 "${threads[@]}" -q >/dev/null &
server=$!
for _ in $(seq 1 100); do [ -s "$OUT/handshake.port" ] && break; sleep 0.05; done
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
server_before=$(ticks $server)
"$OUT/wsmany" --port "$(cat "$OUT/handshake.port")" --connections "$sessions" --rate "$rate" --sources 200 --hold 5 \
  --echo-samples 0 >"$OUT/handshake-load.txt" 2>&1 &
load=$!
for _ in $(seq 1 $(( (sessions / rate + 60) * 50 ))); do grep -q CONNECTED "$OUT/handshake-load.txt" && break; sleep 0.02; done
server_after=$(ticks $server)
load_ticks=$(ticks $load)
kill $load 2>/dev/null || true
wait $load 2>/dev/null || true
kill $server 2>/dev/null || true
wait $server 2>/dev/null || true
awk -v s=$(( server_after - server_before )) -v l="$load_ticks" -v n="$sessions" -v hz="$(getconf CLK_TCK)" 'BEGIN {
  printf "server %.0f us per handshake, load %.0f us per handshake\n", s / hz * 1e6 / n, l / hz * 1e6 / n }'
grep '^CONNECTED' "$OUT/handshake-load.txt" || true
