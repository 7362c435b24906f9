#!/usr/bin/env bash
# The fan-out benchmark (issue 19): 64 B messages published to 1,000 subscribers, delivered messages per second and
# delivery latency, side by side in one run, implementations alternated run by run (A B C A B C ...) so that the
# machine's drift cancels. Servers on core 0, one thread each; the load (fanout/fanload.c) on core 1.
#
#   ./Benchmarks/fanout.sh                 # RUNS=3 rounds, 3 s each (about 4 minutes after the build)
#   RUNS=5 SECONDS_PER_RUN=5 ./Benchmarks/fanout.sh
#   IMPLS="redis redis-base" BASELINE_BIN=/tmp/old/Benchmarks/.build/release ./Benchmarks/fanout.sh
#                                          # before/after: an implementation named NAME-base runs NAME with the
#                                          # wisp-fanout-server of another checkout, alternated with this one
#
# Rows: Wisp's Topics (`wisp-fanout-server PORT topics`), a loop of plain `send` calls in Wisp
# (`wisp-fanout-server PORT loop`), `ws serve --threads 1` chat rooms (the command users run), Node's ws (Debian's
# node-ws, the loop its documentation shows), and Topics through Redis with two server processes (publisher on one,
# half the subscribers on each; Redis and both servers share core 0), the same on the Redis Streams backend (history
# of 10,000 messages: every message, local ones too, goes through Redis with its offset), and Redis Streams on a
# three-master Redis Cluster (the topic lives on one shard).
set -euo pipefail
cd "$(dirname "$0")"
. ../scripts/lib/common.sh
install_node_interop
install_redis
RUNS=${RUNS:-3}
SECS=${SECONDS_PER_RUN:-3}
SUBSCRIBERS=${SUBSCRIBERS:-1000}
BIN=.build/release
echo "building (release)..." >&2
rm -f .build/release.yaml
touch Sources/*/main.swift ../Sources/ws/*.swift
swift build -c release --product wisp-fanout-server >&2
(cd .. && swift build -c release --product ws >&2)
cc -O2 -o .build/fanload fanout/fanload.c
WS=../.build/release/ws

PORT=9600
CLUSTER_PORT=17600
pids=()
wait_port() {
  for _ in $(seq 1 100); do
    (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "nothing listens on $1" >&2
  return 1
}
start() {  # start COMMAND...: on core 0, remembered for stop_all
  taskset -c 0 "$@" >/dev/null 2>&1 &
  pids+=($!)
}
stop_all() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  pids=()
}
trap stop_all EXIT

# run_impl NAME WINDOW: one measurement; prints the RESULT line.
run_impl() {
  local name=$1 window=$2 pub sub BIN=$BIN
  if [[ $name == *-base ]]; then
    BIN=${BASELINE_BIN:?BASELINE_BIN names the baseline checkout\'s .build/release}
    name=${name%-base}
  fi
  PORT=$((PORT + 3))
  case $name in
    topics|loop)
      start $BIN/wisp-fanout-server $PORT "$name"; wait_port $PORT
      pub=ws://127.0.0.1:$PORT/pub; sub=(ws://127.0.0.1:$PORT/sub) ;;
    ws-serve)
      start $WS serve --port $PORT --threads 1 --quiet; wait_port $PORT
      pub=ws://127.0.0.1:$PORT/bench; sub=(ws://127.0.0.1:$PORT/bench) ;;
    node)
      NODE_PATH=/usr/share/nodejs start node fanout/node-broadcast.js $PORT; wait_port $PORT
      pub=ws://127.0.0.1:$PORT/pub; sub=(ws://127.0.0.1:$PORT/sub) ;;
    redis)
      start redis-server --port $((PORT + 2)) --bind 127.0.0.1 --save '' --appendonly no; wait_port $((PORT + 2))
      start $BIN/wisp-fanout-server $PORT topics redis://127.0.0.1:$((PORT + 2))
      start $BIN/wisp-fanout-server $((PORT + 1)) topics redis://127.0.0.1:$((PORT + 2))
      wait_port $PORT; wait_port $((PORT + 1))
      pub=ws://127.0.0.1:$PORT/pub; sub=(ws://127.0.0.1:$PORT/sub ws://127.0.0.1:$((PORT + 1))/sub) ;;
    streams)
      start redis-server --port $((PORT + 2)) --bind 127.0.0.1 --save '' --appendonly no; wait_port $((PORT + 2))
      start $BIN/wisp-fanout-server $PORT topics redis://127.0.0.1:$((PORT + 2)) streams
      start $BIN/wisp-fanout-server $((PORT + 1)) topics redis://127.0.0.1:$((PORT + 2)) streams
      wait_port $PORT; wait_port $((PORT + 1))
      pub=ws://127.0.0.1:$PORT/pub; sub=(ws://127.0.0.1:$PORT/sub ws://127.0.0.1:$((PORT + 1))/sub) ;;
    cluster)
      local nodes=() dir
      dir=$(mktemp -d)
      for n in 0 1 2; do
        mkdir -p "$dir/$n"
        start redis-server --port $((CLUSTER_PORT + n)) --bind 127.0.0.1 --cluster-enabled yes --save '' \
          --appendonly no --dir "$dir/$n" --cluster-config-file nodes.conf
        nodes+=("127.0.0.1:$((CLUSTER_PORT + n))")
      done
      for n in 0 1 2; do wait_port $((CLUSTER_PORT + n)); done
      redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >/dev/null 2>&1
      for _ in $(seq 1 100); do
        redis-cli -p "$CLUSTER_PORT" cluster info 2>/dev/null | grep -q cluster_state:ok && break
        sleep 0.1
      done
      local url="redis+cluster://$(IFS=,; echo "${nodes[*]}")"
      start $BIN/wisp-fanout-server $PORT topics "$url" streams
      start $BIN/wisp-fanout-server $((PORT + 1)) topics "$url" streams
      wait_port $PORT; wait_port $((PORT + 1))
      pub=ws://127.0.0.1:$PORT/pub; sub=(ws://127.0.0.1:$PORT/sub ws://127.0.0.1:$((PORT + 1))/sub) ;;
  esac
  taskset -c 1 .build/fanload -n "$SUBSCRIBERS" -w "$window" -s 64 -d "$SECS" --warmup 1 "$pub" "${sub[@]}" |
    grep RESULT || echo "RESULT failed"
  stop_all
}

IMPLS=(${IMPLS:-topics loop ws-serve node redis streams cluster})
RAW=$(mktemp)
for window in 16 1; do
  for run in $(seq 1 "$RUNS"); do
    for impl in "${IMPLS[@]}"; do
      line=$(run_impl "$impl" "$window")
      echo "window $window, run $run, $impl: $line" >&2
      echo "$window|$impl|$line" >>"$RAW"
    done
  done
done
python3 - "$RAW" "$RUNS" "$SECS" "$SUBSCRIBERS" "${IMPLS[*]}" <<'PY'
import re, statistics, sys
raw, runs, secs, subs, impls = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5].split()
rows = {}
for line in open(raw):
    window, impl, result = line.rstrip("\n").split("|", 2)
    fields = dict(re.findall(r"(\w+)=([\d.]+)", result))
    if "delivered_per_s" in fields:
        rows.setdefault((window, impl), []).append(fields)
names = {"topics": "Wisp Topics", "loop": "Wisp, a loop of send", "ws-serve": "ws serve --threads 1 (rooms)",
         "node": "Node ws (node-ws)", "redis": "Wisp Topics through Redis, 2 processes",
         "streams": "Wisp Topics on Redis Streams, 2 processes", "cluster": "Redis Streams on a 3-master cluster, 2 processes"}
print(f"\n64 B messages to {subs} subscribers, {runs} alternated runs of {secs} s; median (min-max); ratio to Node's ws\n")
for window in ["16", "1"]:
    print(f"window {window} (messages in flight)\n")
    print("| implementation | delivered msgs/s | ratio to Node | p50 µs | p99 µs |")
    print("| --- | ---: | ---: | ---: | ---: |")
    node = rows.get((window, "node"))
    node_median = statistics.median(float(r["delivered_per_s"]) for r in node) if node else None
    for impl in impls:
        base = impl.endswith("-base")
        name = names.get(impl.removesuffix("-base"), impl) + (" (baseline)" if base else "")
        results = rows.get((window, impl))
        if not results:
            print(f"| {name} | failed | | | |")
            continue
        rates = [float(r["delivered_per_s"]) for r in results]
        median = statistics.median(rates)
        ratio = f"{median / node_median:.1f}x" if node_median else "-"
        p50 = statistics.median(float(r["p50_us"]) for r in results)
        p99 = statistics.median(float(r["p99_us"]) for r in results)
        print(f"| {name} | {median:,.0f} ({min(rates):,.0f}-{max(rates):,.0f}) | {ratio} | {p50:,.0f} | {p99:,.0f} |")
    print()
PY
rm -f "$RAW"
