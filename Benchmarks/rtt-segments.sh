#!/usr/bin/env bash
# Where the time of a round trip goes, one message in flight (`-c 1 -w 1 -s 64`): the client's send, the server's
# read and send, the client's wake-up, from system-call tracepoints recorded for both processes (`perf record -a`).
# Prints, per client (Wisp's load client, then wsload as the C ceiling), the mean of four segments:
#   client send -> server read | server read -> send | server send -> client wake | client wake -> send
# The server is wsload --serve, copied to another name so that the two wsload processes can be told apart.
# Run it on a quiet machine: other load lengthens the wake-ups and hides the difference.
#
#   ./Benchmarks/rtt-segments.sh            # wss:// (TLS)
#   PLAIN=1 ./Benchmarks/rtt-segments.sh    # ws://
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d /tmp/wisp-rtt-XXXXXX)
trap 'rm -rf "$work"; kill $(jobs -p) 2>/dev/null || true' EXIT
cc -O2 -march=native -pthread -o "$work/wsserver" ../../shared/tools/wsload.c -lssl -lcrypto
cp "$work/wsserver" "$work/wsclient"
swift build -c release --product wisp-load-client >&2
port=${PORT:-9660}
if [[ -n ${PLAIN:-} ]]; then
  scheme=ws
  taskset -c 1 "$work/wsserver" --serve "$port" --max-seconds 60 >/dev/null 2>&1 &
else
  scheme=wss
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
  taskset -c 1 "$work/wsserver" --serve "$port" --max-seconds 60 --tls-cert "$work/cert.pem" \
    --tls-key "$work/key.pem" >/dev/null 2>&1 &
fi
sleep 0.5
for client in .build/release/wisp-load-client "$work/wsclient"; do
  taskset -c 0 "$client" "$scheme://127.0.0.1:$port/" -c 1 -w 1 -s 64 -d 4 --warmup 0 >/dev/null 2>&1 &
  client_pid=$!
  sleep 1.5
  perf record -q -a -o "$work/trace.data" -e syscalls:sys_exit_read,syscalls:sys_enter_sendto,syscalls:sys_enter_write \
    -e syscalls:sys_enter_writev,syscalls:sys_enter_sendmsg,syscalls:sys_exit_epoll_wait -- sleep 1 2>/dev/null
  wait "$client_pid" 2>/dev/null || true
  name=$(basename "$client" | cut -c1-15)
  printf '%-16s ' "$(basename "$client")"
  perf script -i "$work/trace.data" -F comm,time,event 2>/dev/null | awk -v CLIENT="$name" -v SERVER=wsserver '
    { t = -1
      for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+\.[0-9]+:$/) { t = substr($i, 1, length($i) - 1) * 1e6; ev = $(i + 1) }
      if (t < 0) next }
    $1 == CLIENT && ev ~ /enter_(sendto|write|writev|sendmsg)/ { if (woke > 0) { d += t - woke; nd++ }; sent = t; woke = 0 }
    $1 == SERVER && ev ~ /exit_read/ && sent > 0 { a += t - sent; na++; read = t; sent = 0 }
    $1 == SERVER && ev ~ /enter_(sendto|write|writev|sendmsg)/ && read > 0 { b += t - read; nb++; answered = t; read = 0 }
    $1 == CLIENT && ev ~ /exit_epoll_wait/ && answered > 0 { c += t - answered; nc++; woke = t; answered = 0 }
    END { if (na && nb && nc && nd)
            printf "send->server read %.1f us | server read->send %.1f us | server send->client wake %.1f us | client wake->send %.1f us (%d round trips)\n", a / na, b / nb, c / nc, d / nd, nd
          else print "no round trips traced" }'
done
