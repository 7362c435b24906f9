#!/usr/bin/env bash
# Alternated A/B benchmark of two commits (or a commit and the working tree): builds Wisp's benchmark server and
# load client of each in a worktree of its own, then for every scenario runs, PAIRS times, the C ceiling, A and B one
# after the other (server role: wsload against each echo server; client role: each load client against `wsload
# --serve`), and prints each pair's ratios with their median and spread. Drift of the machine between runs (+-20 %
# here) hits both sides of a pair alike, so the ratio B/A is what to read.
#
#   ./Benchmarks/ab.sh 192d1c2 HEAD                 # 5 pairs, every scenario, both roles
#   PAIRS=7 SCENARIOS="64" ROLES=server ./Benchmarks/ab.sh main WORKTREE   # WORKTREE: uncommitted changes
#   B_PROGRAMS=ws ./Benchmarks/ab.sh HEAD HEAD       # B runs the commands users run: `ws serve --echo --threads 1`
#                                                    # and `ws bench --threads 1 --result-line` (issue 24)
#
# Scenarios (SCENARIOS, by payload size): 64 (64 connections x 16 in flight), 4096 (16 x 8), 1048576 (4 x 2),
# latency (1 x 1, 64 B); the same over TLS with a `tls-` prefix (tls-64, tls-4096, tls-1048576, tls-latency: wss://
# with a P-256 certificate made here, TLS 1.3, against wsload's TLS ceiling). The ratios printed are msgs/s; for
# latency also p99 (lower is better).
#
# Both sides run the benchmark programs of the working tree (Benchmarks/Sources), built against each revision's
# library (BENCH_PROGRAMS=own builds each revision's own programs): the engines differ, not the programs, and
# options added since A (TLS) work on both sides.
set -euo pipefail
cd "$(dirname "$0")"
A=${1:?usage: ab.sh REV_A REV_B}
B=${2:?usage: ab.sh REV_A REV_B}
export B_PROGRAMS=${B_PROGRAMS:-bench}
PAIRS=${PAIRS:-5}
SECS=${SECONDS_PER_RUN:-3}
SCENARIOS=${SCENARIOS:-64 4096 1048576 latency}
ROLES=${ROLES:-server client}
WSLOAD_SOURCE=${WSLOAD_SOURCE:-../../shared/tools/wsload.c}
root=$(git rev-parse --show-toplevel)
work=$root/.build-ab
mkdir -p "$work"
cc -O2 -march=native -pthread -o "$work/wsload" "$WSLOAD_SOURCE" -lssl -lcrypto
WSLOAD=$work/wsload
BENCH_PROGRAMS=${BENCH_PROGRAMS:-worktree}
# The TLS scenarios' certificate (P-256, for 127.0.0.1), made once.
if [[ ! -f $work/tls-key.pem ]]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$work/tls-key.pem" -out "$work/tls-cert.pem" 2>/dev/null
fi
TLS_ARGS=(--tls-cert "$work/tls-cert.pem" --tls-key "$work/tls-key.pem")

# build REV NAME: the benchmark executables of REV (WORKTREE: the working tree as it is) in $work/NAME.
build() {
  local rev=$1 name=$2 tree
  if [[ $rev == WORKTREE ]]; then
    tree=$root
  else
    tree=$work/tree-$name
    [[ -d $tree ]] || git -C "$root" worktree add --detach -f "$tree" "$rev" >/dev/null
    # -f: the benchmark programs copied in by an earlier run are local changes.
    git -C "$tree" checkout -q -f --detach "$(git -C "$root" rev-parse "$rev")"
    if [[ $BENCH_PROGRAMS == worktree ]]; then
      for program in LoadSupport WispEchoServer WispLoadClient; do
        rm -rf "$tree/Benchmarks/Sources/$program"
        cp -R "$root/Benchmarks/Sources/$program" "$tree/Benchmarks/Sources/$program"
      done
    fi
  fi
  # Always rebuilt: SwiftPM has been seen not to recompile them after Wisp's types changed layout (run.sh).
  touch "$tree"/Benchmarks/Sources/*/main.swift
  (cd "$tree/Benchmarks" && swift build -c release --product wisp-echo-server >&2 &&
    swift build -c release --product wisp-load-client >&2)
  mkdir -p "$work/$name"
  cp "$tree/Benchmarks/.build/release/wisp-echo-server" "$tree/Benchmarks/.build/release/wisp-load-client" \
    "$work/$name/"
  if [[ $name == b && $B_PROGRAMS == ws ]]; then
    touch "$tree"/Sources/ws/*.swift
    (cd "$tree" && swift build -c release --product ws >&2)
    cp "$tree/.build/release/ws" "$work/$name/"
  fi
}
echo "building A ($A) and B ($B)..." >&2
build "$A" a
build "$B" b

port=9500
server_pid=""
tls=""  # "1" while a tls- scenario runs
start_server() {  # start_server WHICH: ceiling, a or b, on core 0
  port=$((port + 1))
  local extra=()
  [[ -n $tls ]] && extra=("${TLS_ARGS[@]}")
  case $1 in
    ceiling) taskset -c 0 "$WSLOAD" --serve $port -t 1 "${extra[@]}" >/dev/null 2>&1 & ;;
    b) if [[ $B_PROGRAMS == ws ]]; then
         taskset -c 0 "$work/b/ws" serve --echo --threads 1 --port $port -q "${extra[@]}" >/dev/null 2>&1 &
       else
         taskset -c 0 "$work/b/wisp-echo-server" $port "${extra[@]}" >/dev/null 2>&1 &
       fi ;;
    *) taskset -c 0 "$work/$1/wisp-echo-server" $port "${extra[@]}" >/dev/null 2>&1 & ;;
  esac
  server_pid=$!
  for _ in $(seq 1 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && return 0; sleep 0.1; done
  echo "server $1 did not start" >&2
  return 1
}
stop_server() { kill -9 "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; }
load() {  # load WHICH ARGS...: wsload, a or b as the client, on core 1
  local which=$1; shift
  local url="ws://127.0.0.1:$port/"
  [[ -n $tls ]] && url="wss://127.0.0.1:$port/"
  case $which in
    wsload) taskset -c 1 "$WSLOAD" "$@" -t 1 -d "$SECS" --warmup 1 "$url" 2>/dev/null ;;
    b) if [[ $B_PROGRAMS == ws ]]; then
         # wsload's -c/-w/-s as ws bench's options.
         taskset -c 1 "$work/b/ws" bench "$url" --connections "$2" --in-flight "$4" --size "$6" \
           --threads 1 --duration "$SECS" --warmup 1 --result-line -q
       else
         taskset -c 1 "$work/b/wisp-load-client" "$url" "$@" -d "$SECS" --warmup 1
       fi ;;
    *) taskset -c 1 "$work/$which/wisp-load-client" "$url" "$@" -d "$SECS" --warmup 1 ;;
  esac | grep RESULT || true
}

raw=$(mktemp)
for scenario in $SCENARIOS; do
  tls=""
  [[ $scenario == tls-* ]] && tls=1
  case ${scenario#tls-} in
    64) args="-c 64 -w 16 -s 64" ;;
    4096) args="-c 16 -w 8 -s 4096" ;;
    1048576) args="-c 4 -w 2 -s 1048576" ;;
    latency) args="-c 1 -w 1 -s 64" ;;
    *) echo "unknown scenario $scenario" >&2; exit 2 ;;
  esac
  for role in $ROLES; do
    for pair in $(seq 1 "$PAIRS"); do
      for side in ceiling a b; do
        if [[ $role == server ]]; then
          start_server "$side"
          # shellcheck disable=SC2086
          line=$(load wsload $args)
        else
          start_server ceiling
          # shellcheck disable=SC2086
          line=$(load "$([[ $side == ceiling ]] && echo wsload || echo "$side")" $args)
        fi
        stop_server
        echo "$scenario|$role|$pair|$side|$line" >> "$raw"
        echo "$scenario $role pair $pair $side: $line" >&2
      done
    done
  done
done

python3 - "$raw" "$A" "$B" "$PAIRS" "$SECS" <<'PY'
import re, statistics, sys
raw, a, b, pairs, secs = sys.argv[1:]
runs = {}
for line in open(raw):
    scenario, role, pair, side, result = line.rstrip("\n").split("|", 4)
    fields = dict((k, float(v)) for k, v in re.findall(r"(\w+)=([0-9.]+)", result))
    runs.setdefault((scenario, role), {}).setdefault(pair, {})[side] = fields
import os
programs = " (B: ws serve --echo / ws bench)" if os.environ.get("B_PROGRAMS") == "ws" else ""
print(f"# A/B: A = {a}, B = {b}{programs}; {pairs} alternated pairs of {secs} s, one core each side\n")
print("| scenario | role | measure | B / A per pair | B / A median (spread) | A / ceiling | B / ceiling |")
print("| --- | --- | --- | --- | ---: | ---: | ---: |")
def row(scenario, role, measure, key, by_pair):
    ratios, a_c, b_c = [], [], []
    for sides in by_pair.values():
        try:
            va, vb, vc = sides["a"][key], sides["b"][key], sides["ceiling"][key]
        except KeyError:
            continue
        if va and vb and vc:
            ratios.append(vb / va); a_c.append(va / vc); b_c.append(vb / vc)
    if not ratios:
        return
    fmt = lambda v: f"{v:.2f}"
    print(f"| {scenario} | {role} | {measure} | {', '.join(map(fmt, ratios))} | "
          f"{statistics.median(ratios):.3f} ({min(ratios):.2f}-{max(ratios):.2f}) | "
          f"{statistics.median(a_c) * 100:.1f} % | {statistics.median(b_c) * 100:.1f} % |")
for (scenario, role), by_pair in runs.items():
    row(scenario, role, "msgs/s", "msgs_per_s", by_pair)
    if scenario.endswith("latency"):
        row(scenario, role, "p99 (lower is better)", "p99_us", by_pair)
PY
rm -f "$raw"
