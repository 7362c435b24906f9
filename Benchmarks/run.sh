#!/usr/bin/env bash
# Side-by-side benchmarks on this machine, as ratios in one run. Builds everything in release mode, compiles the
# neutral load generator (../shared/tools/wsload.c, or $WSLOAD_SOURCE), then for every scenario runs each
# implementation RUNS times (default 3) with the server pinned to core 0 and the load to core 1, one thread each,
# and prints a Markdown table: median, spread (min-max), and the ratio to Wisp.
#
#   ./Benchmarks/run.sh            # everything (about 10 minutes on 2 cores, after the first build)
#   RUNS=5 SECONDS_PER_RUN=5 ./Benchmarks/run.sh
#   IMPLS=wisp ./Benchmarks/run.sh  # Wisp and the C ceiling only (no peers to build; about 6 minutes)
set -euo pipefail
cd "$(dirname "$0")"
RUNS=${RUNS:-3}
SECS=${SECONDS_PER_RUN:-3}
WSLOAD_SOURCE=${WSLOAD_SOURCE:-../../shared/tools/wsload.c}
OUT=${OUT:-results.md}
BIN=.build/release

echo "building (release)..." >&2
# The root package is reached through a symlink, so SwiftPM does not notice files added there: re-plan every time.
rm -f .build/release.yaml
# SwiftPM has been seen not to recompile a dependent module after a struct of Wisp changed its layout (a stale
# object then crashed with a bad pointer): touch the executables so that they are always rebuilt (a few seconds).
touch Sources/*/main.swift ../Sources/ws/*.swift
IMPLS=${IMPLS:-all}
if [[ $IMPLS == wisp ]]; then
  SERVERS=(ceiling wisp); CLIENTS=(wsload wisp); DEFLATE_SERVERS=(wisp)
  swift build -c release --product wisp-echo-server >&2
  swift build -c release --product wisp-load-client >&2
else
  SERVERS=(ceiling wisp hummingbird); CLIENTS=(wsload wisp wsclient websocketkit); DEFLATE_SERVERS=(wisp hummingbird)
  swift build -c release >&2
fi
cc -O2 -march=native -pthread -o .build/wsload "$WSLOAD_SOURCE"
(cd .. && swift build -c release --product ws >&2)
WSLOAD=.build/wsload
WS=../.build/release/ws

PORT=9300
server_pid=""
start_server() {  # start_server NAME [ARGS...]: starts a server on core 0 at $PORT
  local name=$1; shift
  PORT=$((PORT + 1))
  case $name in
    ceiling) taskset -c 0 $WSLOAD --serve $PORT -t 1 >/dev/null 2>&1 & ;;
    wisp) taskset -c 0 $BIN/wisp-echo-server $PORT "$@" >/dev/null 2>&1 & ;;
    hummingbird) taskset -c 0 $BIN/hummingbird-echo-server $PORT "$@" >/dev/null 2>&1 & ;;
  esac
  server_pid=$!
  for _ in $(seq 1 50); do
    (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && return 0
    sleep 0.1
  done
  echo "server $name did not start" >&2
  return 1
}
stop_server() { kill -9 "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; }

# run_load CLIENT ARGS...: one measurement on core 1; prints the RESULT line.
run_load() {
  local client=$1; shift
  case $client in
    wsload) taskset -c 1 $WSLOAD "$@" -t 1 -d $SECS --warmup 1 "ws://127.0.0.1:$PORT/" 2>/dev/null | grep RESULT ;;
    wisp) taskset -c 1 $BIN/wisp-load-client "ws://127.0.0.1:$PORT/" "$@" -d $SECS --warmup 1 | grep RESULT ;;
    wsclient) taskset -c 1 $BIN/wsclient-load-client "ws://127.0.0.1:$PORT/" "$@" -d $SECS --warmup 1 | grep RESULT ;;
    websocketkit) taskset -c 1 $BIN/websocketkit-load-client "ws://127.0.0.1:$PORT/" "$@" -d $SECS --warmup 1 | grep RESULT ;;
  esac
}

# STAGES selects parts (throughput,deflate,idle; default all); RAW appends to an earlier run's raw results.
STAGES=${STAGES:-throughput,deflate,idle}
RAW=${RAW:-$(mktemp)}
record() { echo "$1|$2|$3|$4" >> "$RAW"; }  # scenario|role|implementation|RESULT line

SCENARIOS=("64 B, 64 conns x 16|-c 64 -w 16 -s 64" "4 KiB, 16 conns x 8|-c 16 -w 8 -s 4096"
  "1 MiB, 4 conns x 2|-c 4 -w 2 -s 1048576" "latency, 1 conn x 1|-c 1 -w 1 -s 64")
for scenario in "${SCENARIOS[@]}"; do
  [[ $STAGES == *throughput* ]] || break
  label=${scenario%%|*}; args=${scenario#*|}
  for server in "${SERVERS[@]}"; do
    for run in $(seq 1 "$RUNS"); do
      start_server $server
      # shellcheck disable=SC2086
      line=$(run_load wsload $args || true)
      stop_server
      record "$label" server $server "$line"
      echo "server $label $server run $run: $line" >&2
    done
  done
  for client in "${CLIENTS[@]}"; do
    for run in $(seq 1 "$RUNS"); do
      start_server ceiling
      # shellcheck disable=SC2086
      line=$(run_load $client $args || true)
      stop_server
      record "$label" client $client "$line"
      echo "client $label $client run $run: $line" >&2
    done
  done
done

# Compressed echo of a JSON stream: the same client (ws bench, deflate offered) against each server with deflate.
for server in "${DEFLATE_SERVERS[@]}"; do
  [[ $STAGES == *deflate* ]] || break
  for run in $(seq 1 "$RUNS"); do
    start_server $server --compress
    line=$(taskset -c 1 $WS bench "ws://127.0.0.1:$PORT/" --compress --text --size 1024 --connections 16 \
      --in-flight 8 --duration $SECS -q | sed -n -E '1s/.*: ([0-9]+) msg\/s, ([0-9.]+) MB\/s.*/RESULT msgs_per_s=\1 MB_per_s=\2/p' \
      || true)  # sed reads everything: `head -1` made ws bench die of SIGPIPE now and then
    stop_server
    record "deflate 1 KiB text, 16 x 8" server $server "$line"
    echo "deflate $server run $run: $line" >&2
  done
done

# Idle connections: resident memory per connection (server side).
for server in "${DEFLATE_SERVERS[@]}"; do
  [[ $STAGES == *idle* ]] || break
  start_server $server
  line=$(python3 idle.py $PORT 10000 "$server_pid" | grep IDLE || true)
  stop_server
  record "10,000 idle connections" server $server "$line"
  echo "idle $server: $line" >&2
done

python3 - "$RAW" "$RUNS" "$SECS" > "$OUT" <<'PY'
import re, statistics, sys, datetime, platform
raw, runs, secs = sys.argv[1], sys.argv[2], sys.argv[3]
rows = {}
for line in open(raw):
    scenario, role, impl, result = line.rstrip("\n").split("|", 3)
    fields = dict(re.findall(r"(\w+)=([0-9.]+)", result))
    rows.setdefault((scenario, role), {}).setdefault(impl, []).append(fields)
print(f"# Benchmarks ({datetime.date.today()}, {platform.node()}, runs={runs}, {secs} s each, one core per side)\n")
print("| scenario | role | implementation | msgs/s (median) | spread | MB/s | p50 us | p99 us | memory/conn | vs Wisp |")
print("| --- | --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
for (scenario, role), impls in rows.items():
    def median(impl, key):
        values = [float(f[key]) for f in impls.get(impl, []) if key in f]
        return statistics.median(values) if values else None
    wisp = median("wisp", "msgs_per_s")
    for impl, results in impls.items():
        rate = median(impl, "msgs_per_s")
        values = [float(f["msgs_per_s"]) for f in results if "msgs_per_s" in f]
        spread = f"{int(min(values))}-{int(max(values))}" if values else ""
        mb = median(impl, "MB_per_s"); p50 = median(impl, "p50_us"); p99 = median(impl, "p99_us")
        mem = median(impl, "per_connection_bytes")
        ratio = f"{rate / wisp:.2f}x" if rate and wisp else ""
        fmt = lambda v, d=0: "" if v is None else (f"{v:.{d}f}")
        print(f"| {scenario} | {role} | {impl} | {fmt(rate)} | {spread} | {fmt(mb, 1)} | {fmt(p50, 1)} | "
              f"{fmt(p99, 1)} | {'' if mem is None else f'{int(mem)} B'} | {ratio} |")
PY
rm -f "$RAW"
cat "$OUT"
