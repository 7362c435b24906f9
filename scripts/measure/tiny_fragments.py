#!/usr/bin/env python3
"""Resident memory of a server while one client sends a message as 1-byte fragments (issue 23).

    python3 scripts/measure/tiny_fragments.py PORT SERVER_PID [MIB]      # TEXT=1 for a text message

Connects to ws://127.0.0.1:PORT/, sends a binary message of MIB MiB (default 16) as 1-byte fragments (7-byte
frames: 2 header bytes, a zero masking key, 1 payload byte) and then one more byte, samples the server's VmRSS while
it sends, and prints the peak growth, the frames per second the server took, and the close code it answered
(1009 expected once the message passes maxMessageSize, 16 MiB by default)."""
import os
import select
import socket
import struct
import sys
import time

port, pid = int(sys.argv[1]), int(sys.argv[2])
mib = float(sys.argv[3]) if len(sys.argv) > 3 else 16
OPCODE = 0x01 if os.environ.get("TEXT") else 0x02


def rss(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


sock = socket.create_connection(("127.0.0.1", port))
sock.sendall(b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
head = b""
while b"\r\n\r\n" not in head:
    head += sock.recv(4096)
assert head.startswith(b"HTTP/1.1 101"), head[:40]
time.sleep(0.2)
base = rss(pid)
first = bytes([OPCODE, 0x81, 0, 0, 0, 0, 0x61])
middle = bytes([0x00, 0x81, 0, 0, 0, 0, 0x61])
total = int(mib * 1024 * 1024) + 1
chunk_frames = 256 * 1024
chunk = middle * chunk_frames
sock.sendall(first)
sent, peak = 1, base
started = time.time()
sock.settimeout(30)
closed = None
answer = b""


def read_answer():
    global answer, closed
    while select.select([sock], [], [], 0)[0]:
        data = sock.recv(65536)
        if not data:
            break
        answer += data
    if closed is None and len(answer) >= 4 and answer[0] == 0x88:
        closed = struct.unpack(">H", answer[2:4])[0]


try:
    while sent < total and closed is None:
        n = min(chunk_frames, total - sent)
        sock.sendall(chunk if n == chunk_frames else middle * n)
        sent += n
        peak = max(peak, rss(pid))
        read_answer()
except (BrokenPipeError, ConnectionResetError):
    pass
elapsed = time.time() - started
try:
    sock.settimeout(2)
    read_answer()
    if closed is None:
        answer += sock.recv(64)
        if len(answer) >= 4 and answer[0] == 0x88:
            closed = struct.unpack(">H", answer[2:4])[0]
except OSError:
    pass
time.sleep(0.3)
peak = max(peak, rss(pid))
print(f"TINY payload_bytes={sent} frames={sent} secs={elapsed:.2f} frames_per_s={sent / elapsed:.0f} "
      f"rss_base_mib={base / 2**20:.1f} rss_peak_growth_mib={(peak - base) / 2**20:.1f} close={closed}")
