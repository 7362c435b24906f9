#!/usr/bin/env bash
# Many idle sessions on one machine (issue 34): for each step, starts enough `ws serve --echo --reuse-port` processes
# on one port (each holds at most PER_PROCESS sessions: RLIMIT_NOFILE is 20,000 here) and as many `wsmany` load
# processes, holds the sessions, and records per step: the servers' resident memory per session (summed), the
# kernel's slab memory per session, the connect rate, the servers' CPU while the sessions are held (keepalive pings
# only), a fresh session's echo p50/p99, and the graceful shutdown (SIGTERM to every server; each session gets 1001).
#
#   STEPS="18000 100000" PING=30 HOLD=20 ./Benchmarks/scale.sh
#   STEPS="1000000" HOLD=40 RATE=2000 PING=30 THREADS=1 ./Benchmarks/scale.sh   # a million with keepalive (~11 min)
#
# Prints a table and writes the raw RESULT lines to .build/scale/results.txt. It raises no limit it cannot; a step
# the machine cannot hold stops with the reason (a load process's failures, a server that did not start).
set -euo pipefail
cd "$(dirname "$0")/.."

STEPS=${STEPS:-18000 100000}
PER_PROCESS=${PER_PROCESS:-18000}
PING=${PING:-30}
HOLD=${HOLD:-20}
RATE=${RATE:-6000}  # new connections a second, over all load processes: the servers must keep up on this machine's cores
# THREADS: each server's event loops (`ws serve --threads`; default: one per core). With many processes per core,
# THREADS=1 spares each process a loop and a connection's hand-over from the accepting loop to another.
THREADS=${THREADS:-}
threads=()
if [ -n "$THREADS" ]; then threads=(--threads "$THREADS"); fi
OUT=.build/scale
mkdir -p "$OUT"
: > "$OUT/results.txt"

# WS: the server binary (default: this tree's release build), for before/after runs of another revision's `ws`.
WS=${WS:-.build/release/ws}
if [ ! -x "$WS" ]; then swift build -c release --product ws >/dev/null; fi
cc -O2 -o "$OUT/wsmany" Benchmarks/wsmany.c -lcrypto

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
slab_kib() { awk '/^Slab:/ { print $2 }' /proc/meminfo; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

printf '| sessions | servers | held | failed | 1001 at shutdown | server RSS / session | slab / session | connect rate | server CPU at rest | echo p50 / p99 (fresh session) | shutdown |\n'
printf '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n'
for step in $STEPS; do
  processes=$(( (step + PER_PROCESS - 1) / PER_PROCESS ))
  per=$(( (step + processes - 1) / processes ))
  pids=()
  rm -f "$OUT/port" "$OUT"/load-*.txt
  "$WS" serve --echo --reuse-port --port 0 --port-file "$OUT/port" --ping "$PING" "${threads[@]}" -q &
  pids+=($!)
  for _ in $(seq 1 200); do [ -s "$OUT/port" ] && break; sleep 0.05; done
  port=$(cat "$OUT/port")
  for _ in $(seq 2 "$processes"); do
    "$WS" serve --echo --reuse-port --port "$port" --ping "$PING" "${threads[@]}" -q &
    pids+=($!)
  done
  sleep 1
  rss_before=0
  for pid in "${pids[@]}"; do rss_before=$(( rss_before + $(rss_kib "$pid") )); done
  slab_before=$(slab_kib)
  loads=()
  for i in $(seq 1 "$processes"); do
    # Held until the servers close them (bounded: an hour). The first load process measures the fresh session's echo
    # (the table's figure) a quarter of the hold after its connect phase, when every process has connected (they
    # connect at the same rate) and only keepalive runs; the others only hold (their 1,000 round trips each were
    # load of their own).
    samples=0
    [ "$i" -eq 1 ] && samples=1000
    "$OUT/wsmany" --port "$port" --connections "$per" --rate $(( (RATE + processes - 1) / processes )) --sources 200 \
      --hold 3600 --echo-samples "$samples" --echo-after $(( HOLD / 4 )) > "$OUT/load-$i.txt" 2>&1 &
    loads+=($!)
  done
  # Every load process has connected (bounded: the connect phase's own bound plus a minute).
  for _ in $(seq 1 $(( (step / RATE + 120) * 10 ))); do
    connected=$(cat "$OUT"/load-*.txt 2>/dev/null | grep -c '^CONNECTED' || true)
    [ "$connected" -ge "$processes" ] && break
    sleep 0.1
  done
  # Measure in the middle of the hold: every session is open, only keepalive pings run.
  sleep $(( HOLD / 4 ))
  cpu_before=0
  for pid in "${pids[@]}"; do cpu_before=$(( cpu_before + $(cpu_ticks "$pid") )); done
  sleep $(( HOLD / 2 ))
  cpu_after=0
  rss_after=0
  for pid in "${pids[@]}"; do
    cpu_after=$(( cpu_after + $(cpu_ticks "$pid") ))
    rss_after=$(( rss_after + $(rss_kib "$pid") ))
  done
  slab_after=$(slab_kib)
  # Graceful shutdown with every session held: SIGTERM to every server, each session gets 1001.
  start_ns=$(date +%s%N)
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  shutdown_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
  for pid in "${loads[@]}"; do wait "$pid" || true; done
  held=0; failed=0; going=0; rate_sum=0; p50=""; p99=""
  for i in $(seq 1 "$processes"); do
    line=$(grep '^RESULT' "$OUT/load-$i.txt" || echo "RESULT open=0 held=0 failed=$per going_away=0 connect_rate=0")
    echo "step=$step load=$i $line" >> "$OUT/results.txt"
    held=$(( held + $(sed -E 's/.* open=([0-9]+).*/\1/' <<<"$line") ))
    failed=$(( failed + $(sed -E 's/.* failed=([0-9]+).*/\1/' <<<"$line") ))
    going=$(( going + $(sed -E 's/.* going_away=([0-9]+).*/\1/' <<<"$line") ))
    rate_sum=$(( rate_sum + $(sed -E 's/.* connect_rate=([0-9]+).*/\1/' <<<"$line") ))
    if [ -z "$p50" ]; then
      p50=$(sed -E 's/.* echo_p50_us=([-0-9.]+).*/\1/' <<<"$line")
      p99=$(sed -E 's/.* echo_p99_us=([-0-9.]+).*/\1/' <<<"$line")
    fi
  done
  ticks=$(getconf CLK_TCK)
  cpu_pct=$(awk -v t=$(( cpu_after - cpu_before )) -v s=$(( HOLD / 2 )) -v h="$ticks" 'BEGIN { printf "%.1f %%", 100 * t / h / s }')
  per_session=$(awk -v a="$rss_after" -v b="$rss_before" -v n="$step" 'BEGIN { printf "%.2f KiB", (a - b) / n }')
  slab_session=$(awk -v a="$slab_after" -v b="$slab_before" -v n="$step" 'BEGIN { printf "%.2f KiB", (a - b) / n }')
  echo "step=$step servers=$processes rss_before_kib=$rss_before rss_after_kib=$rss_after slab_before_kib=$slab_before slab_after_kib=$slab_after cpu_ticks=$(( cpu_after - cpu_before )) shutdown_ms=$shutdown_ms" >> "$OUT/results.txt"
  printf '| %d | %d | %d | %d | %d | %s | %s | %d/s | %s | %s / %s us | %d ms |\n' "$step" "$processes" "$held" \
    "$failed" "$going" "$per_session" "$slab_session" "$rate_sum" "$cpu_pct" "$p50" "$p99" "$shutdown_ms"
  if [ "$failed" -gt 0 ]; then
    echo "step $step: $failed sessions failed (see $OUT/load-*.txt); stopping here" >&2
    break
  fi
done
