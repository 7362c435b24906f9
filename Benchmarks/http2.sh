#!/usr/bin/env bash
# WebSockets over HTTP/2 (RFC 8441) against the same workload over HTTP/1.1 with TLS, alternated in one run: `ws
# serve --echo --threads 1` (TLS, HTTP/2 offered) on core 0, `ws bench --threads 1` on core 1, each scenario run
# over HTTP/1.1 (`--http2 never`) and over HTTP/2 (`--http2 required`), the order swapped every round. Prints, per
# scenario, the median msgs/s and p99 of each and the ratio HTTP/2 / HTTP/1.1 (the machine's drift hits both sides of
# a round alike). Then memory per idle session: N sessions held over HTTP/2 (Python h2, 128 streams per connection)
# and N over HTTP/1.1 (Benchmarks/wsmany.c), the server's RSS growth per session.
#
#   ./Benchmarks/http2.sh                      # 3 rounds of 4 s, every scenario below
#   ROUNDS=5 SECS=5 IDLE=5000 SCENARIOS="64x64 64x64x1" ./Benchmarks/http2.sh
#
# Scenario SIZExSESSIONS: SESSIONS sessions of 16 messages in flight (64 B) or 8 (4 KiB): over HTTP/1.1 one TLS
# connection each, over HTTP/2 all of them streams of one TLS connection. SIZExSESSIONSxPER: over HTTP/2 at most PER
# sessions per connection (`--http2-sessions-per-connection`; 1: a connection each, as over HTTP/1.1).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
SECS=${SECS:-4}
IDLE=${IDLE:-2000}
SCENARIOS=${SCENARIOS:-64x1 64x64 64x64x1 4096x1 4096x64 4096x64x1}
work=$(pwd)/.build-http2
mkdir -p "$work"
swift build -c release --product ws >/dev/null
ws=$(pwd)/.build/release/ws
if [[ ! -f $work/server.pem ]]; then
  Tests/LinuxPlatformTests/Fixtures/make-certs.sh "$work" >/dev/null
fi
taskset -c 0 "$ws" serve --echo --threads 1 --port 0 --port-file "$work/port" --tls-cert "$work/server.pem" \
  --tls-key "$work/server.key" >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do [[ -s $work/port ]] && break; sleep 0.1; done
port=$(cat "$work/port")
rm -f "$work/port"
url="wss://localhost:$port/echo"

run() {  # run MODE SIZE SESSIONS [PER] -> "msgs_per_s p99_us"
  local inflight=16 per=()
  [[ $2 -ge 4096 ]] && inflight=8
  [[ -n ${4:-} && $1 != never ]] && per=(--http2-sessions-per-connection "$4")
  taskset -c 1 "$ws" bench --threads 1 --http2 "$1" "${per[@]}" --connections "$3" --in-flight $inflight --size "$2" \
    --duration "$SECS" --warmup 1 --result-line --cacert "$work/ca.pem" "$url" 2>/dev/null |
    sed -E 's/.*msgs_per_s=([0-9.]+).*p99_us=([0-9.]+).*/\1 \2/'
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

printf '%-10s %14s %14s %9s %12s %12s %9s\n' scenario "h1 msgs/s" "h2 msgs/s" "h2/h1" "h1 p99 us" "h2 p99 us" "p99 h2/h1"
for scenario in $SCENARIOS; do
  IFS=x read -r size sessions per <<<"$scenario"
  : >"$work/h1" && : >"$work/h2" && : >"$work/ratio"
  for round in $(seq "$ROUNDS"); do
    if ((round % 2)); then
      one=$(run never "$size" "$sessions"); two=$(run required "$size" "$sessions" "$per")
    else
      two=$(run required "$size" "$sessions" "$per"); one=$(run never "$size" "$sessions")
    fi
    echo "$one" >>"$work/h1"
    echo "$two" >>"$work/h2"
    awk -v a="${one%% *}" -v b="${two%% *}" 'BEGIN {printf "%.3f\n", b / a}' >>"$work/ratio"
  done
  h1=$(cut -d' ' -f1 "$work/h1" | median)
  h2=$(cut -d' ' -f1 "$work/h2" | median)
  p1=$(cut -d' ' -f2 "$work/h1" | median)
  p2=$(cut -d' ' -f2 "$work/h2" | median)
  printf '%-10s %14.0f %14.0f %9.3f %12.0f %12.0f %9.2f\n' "$scenario" "$h1" "$h2" "$(median <"$work/ratio")" "$p1" "$p2" \
    "$(awk -v a="$p1" -v b="$p2" 'BEGIN {print b / a}')"
done

# Memory per idle session, each protocol on a fresh server (a server keeps what a first burst grew to).
idle() {  # idle [--http1] -> bytes of server RSS per session
  taskset -c 0 "$ws" serve --echo --threads 1 --port 0 --port-file "$work/idle-port" --tls-cert "$work/server.pem" \
    --tls-key "$work/server.key" >/dev/null 2>&1 &
  local idle_server=$!
  for _ in $(seq 100); do [[ -s $work/idle-port ]] && break; sleep 0.1; done
  local idle_port
  idle_port=$(cat "$work/idle-port")
  rm -f "$work/idle-port"
  sleep 0.5
  local before held
  before=$(awk '/VmRSS/ {print $2}' "/proc/$idle_server/status")
  .venv/bin/python Benchmarks/h2idle.py --port "$idle_port" --ca "$work/ca.pem" --sessions "$IDLE" --hold 8 "$@" \
    >"$work/idle.log" 2>&1 &
  local holder=$!
  for _ in $(seq 600); do grep -q open= "$work/idle.log" && break; sleep 0.1; done
  sleep 1
  held=$(awk '/VmRSS/ {print $2}' "/proc/$idle_server/status")
  wait $holder || true
  kill $idle_server 2>/dev/null || true
  wait $idle_server 2>/dev/null || true
  echo "$(((held - before) * 1024 / IDLE)) B per session ($(head -1 "$work/idle.log"))"
}
echo "idle sessions, $IDLE each, server RSS growth: HTTP/2 $(idle); HTTP/1.1 over TLS $(idle --http1)"
