"""With N idle WebSocket connections open to a server, how fast is a fresh client served (issue 23)?

Usage: idle_then_fresh.py PORT N

Opens N idle connections (upgraded, silent), then times a fresh client: connect, upgrade, echo of one 64-byte
message. When the server answers the fresh client 503 (it is at its connection limit), times that answer instead.
Prints one line:

  FRESH idle=10000 status=101 upgrade_ms=0.9 echo_ms=1.1
  FRESH idle=10000 status=503 answer_ms=0.7 retry_after=5
"""
import asyncio
import os
import struct
import sys
import time

REQUEST = (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")


async def open_idle(port):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(REQUEST)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    assert head.startswith(b"HTTP/1.1 101"), head[:60]
    return writer


async def fresh(port):
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(REQUEST)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    upgraded = time.monotonic()
    status = int(head.split(b" ")[1])
    if status != 101:
        retry = [line.split(b":")[1].strip().decode() for line in head.split(b"\r\n")
                 if line.lower().startswith(b"retry-after:")]
        writer.close()
        return f"status={status} answer_ms={(upgraded - started) * 1000:.1f} retry_after={retry[0] if retry else '-'}"
    mask = os.urandom(4)
    payload = b"x" * 64
    writer.write(struct.pack("!BB", 0x82, 0x80 | 64) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
    echo = await asyncio.wait_for(reader.readexactly(66), 10)
    assert echo[2:] == payload
    done = time.monotonic()
    writer.close()
    return f"status=101 upgrade_ms={(upgraded - started) * 1000:.1f} echo_ms={(done - started) * 1000:.1f}"


async def main(port, count):
    writers = []
    for start in range(0, count, 500):
        writers += await asyncio.gather(*(open_idle(port) for _ in range(start, min(count, start + 500))))
    await asyncio.sleep(1)
    print(f"FRESH idle={count} {await fresh(port)}", flush=True)
    for writer in writers:
        writer.close()


asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
