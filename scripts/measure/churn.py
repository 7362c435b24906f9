"""Connection churn against a server (issue 23): rounds of connect / upgrade / echo / close cycles, 32 at a time,
with a mix of endings, and the server's open descriptors and resident memory after each round.

Usage: churn.py PORT PID [CYCLES=20000] [ROUNDS=2]

Endings, in turn: a clean close (Close frame, wait for the server's Close, then FIN); a reset (RST) right after the
handshake; a reset after the echo; a reset in the middle of a frame (header and half the payload sent); FIN without
a Close frame after the echo. Prints one line per round:

  CHURN round=1 cycles=20000 seconds=21.3 fds=12 (baseline 12) rss_kib=9120 (+2048 since start, +2048 this round)

and exits 1 when descriptors did not return to the baseline (after a settling wait of up to 5 s).
"""
import asyncio
import os
import socket
import struct
import sys
import time

REQUEST = (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
ENDINGS = ["clean", "reset_after_handshake", "reset_after_echo", "reset_mid_frame", "fin_without_close"]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def frame(opcode, payload):
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    else:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    return header + mask + masked


def reset(writer):
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def cycle(port, ending):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(REQUEST)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 101"), head[:60]
        if ending == "reset_after_handshake":
            reset(writer)
            return
        if ending == "reset_mid_frame":
            whole = frame(0x2, os.urandom(200))
            writer.write(whole[: len(whole) // 2])
            await writer.drain()
            reset(writer)
            return
        writer.write(frame(0x2, b"churn-payload-64-bytes".ljust(64, b".")))
        echo = await asyncio.wait_for(reader.readexactly(2 + 64), 10)
        assert echo[0] == 0x82, echo[:2]
        if ending == "reset_after_echo":
            reset(writer)
            return
        if ending == "fin_without_close":
            writer.write_eof()
            await asyncio.wait_for(reader.read(), 10)
            writer.close()
            return
        writer.write(frame(0x8, struct.pack("!H", 1000)))
        await asyncio.wait_for(reader.read(), 10)  # the server's Close, then its FIN
        writer.close()
    except Exception:
        writer.transport.abort()
        raise


async def round_of(port, cycles, concurrency=32):
    next_index = 0
    failures = 0

    async def worker():
        nonlocal next_index, failures
        while next_index < cycles:
            index = next_index
            next_index += 1
            try:
                await cycle(port, ENDINGS[index % len(ENDINGS)])
            except Exception as error:  # noqa: BLE001 - counted and reported
                failures += 1
                if failures <= 3:
                    print(f"cycle {index} ({ENDINGS[index % len(ENDINGS)]}) failed: {error!r}", file=sys.stderr)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return failures


async def main(port, pid, cycles, rounds):
    baseline_fds = fd_count(pid)
    start_rss = rss_kib(pid)
    previous_rss = start_rss
    status = 0
    for number in range(1, rounds + 1):
        started = time.monotonic()
        failures = await round_of(port, cycles)
        seconds = time.monotonic() - started
        settle = time.monotonic()
        while fd_count(pid) > baseline_fds and time.monotonic() - settle < 5:
            await asyncio.sleep(0.1)
        await asyncio.sleep(1)
        fds = fd_count(pid)
        rss = rss_kib(pid)
        print(f"CHURN round={number} cycles={cycles} failures={failures} seconds={seconds:.1f} fds={fds} "
              f"(baseline {baseline_fds}) rss_kib={rss} (+{rss - start_rss} since start, "
              f"+{rss - previous_rss} this round)", flush=True)
        previous_rss = rss
        if fds > baseline_fds or failures:
            status = 1
    return status


if __name__ == "__main__":
    arguments = sys.argv[1:]
    sys.exit(asyncio.run(main(int(arguments[0]), int(arguments[1]),
                              int(arguments[2]) if len(arguments) > 2 else 20000,
                              int(arguments[3]) if len(arguments) > 3 else 2)))
