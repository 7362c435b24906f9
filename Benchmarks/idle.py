"""Opens N idle WebSocket connections to a server and holds them, for the per-connection memory figure.

Usage: idle.py PORT N SERVER_PID [--tls] -- prints the server's resident memory before and after, and the
difference per connection (VmRSS from /proc/PID/status), then closes everything. With --tls the connections are
wss:// (TLS 1.3, the certificate not verified: a measurement on loopback).
"""
import asyncio
import base64
import os
import ssl
import sys

TLS = None


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def open_one(port):
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=TLS)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head[:40]
    return writer


async def main(port, count, pid):
    before = rss_kib(pid)
    writers = []
    for start in range(0, count, 500):
        writers += await asyncio.gather(*(open_one(port) for _ in range(start, min(count, start + 500))))
    await asyncio.sleep(2)
    after = rss_kib(pid)
    print(f"IDLE connections={count} rss_before_kib={before} rss_after_kib={after} "
          f"per_connection_bytes={(after - before) * 1024 // count}")
    for writer in writers:
        writer.close()


if "--tls" in sys.argv:
    TLS = ssl.create_default_context()
    TLS.check_hostname = False
    TLS.verify_mode = ssl.CERT_NONE
asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])))
