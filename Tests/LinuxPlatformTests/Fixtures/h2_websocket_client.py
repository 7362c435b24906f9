#!/usr/bin/env python3
"""WebSockets over HTTP/2 (RFC 8441) with Python's h2 (PyPI), an HTTP/2 client that is not a proxy.

Opens one connection (TLS with ALPN h2 verified against --ca for "localhost", or h2c with prior knowledge), checks
that the server's SETTINGS enable extended CONNECT, then opens --streams WebSockets as extended CONNECT streams on
it. On each stream: a masked text message, its echo, a masked binary message, its echo, and the closing handshake
(1000), after which both sides end the stream. With --stalled, one more stream sends --stalled-bytes of binary
messages and never reads (its window is never opened again), while the others echo on.

Prints one line: "ok <streams> streams, stalled=<state>" or "fail <why>", and exits 0 or 1.

--expect-status N opens one stream (with --origin, --subprotocol) and only checks the response's status.
--until-shutdown opens one stream, echoes once, then waits for the server's GOAWAY and close frame (1001).
--protocol-error opens one stream, sends an unmasked frame (RFC 6455 section 5.1: the server must fail), and reports
the close code and how the stream ended ("ok close 1002 reset 8": RST_STREAM CANCEL after the close frame).
"""
import argparse
import os
import socket
import ssl
import struct
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.settings


def frame(opcode, payload, fin=True):
    """A masked client frame (RFC 6455 section 5.3: masking is kept over HTTP/2, RFC 8441 section 5)."""
    mask = os.urandom(4)
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


def parse(buffer):
    """Server frames (unmasked) out of buffer: a list of (opcode, payload) and the rest."""
    frames = []
    while len(buffer) >= 2:
        opcode = buffer[0] & 0x0F
        masked = buffer[1] & 0x80
        if masked:
            raise ValueError("the server masked a frame")
        n = buffer[1] & 0x7F
        offset = 2
        if n == 126:
            if len(buffer) < 4:
                break
            n = struct.unpack("!H", buffer[2:4])[0]
            offset = 4
        elif n == 127:
            if len(buffer) < 10:
                break
            n = struct.unpack("!Q", buffer[2:10])[0]
            offset = 10
        if len(buffer) < offset + n:
            break
        frames.append((opcode, bytes(buffer[offset:offset + n])))
        buffer = buffer[offset + n:]
    return frames, buffer


class Client:
    def __init__(self, args):
        self.args = args
        raw = socket.create_connection(("127.0.0.1", args.port), timeout=10)
        if args.tls:
            context = ssl.create_default_context(cafile=args.ca)
            context.set_alpn_protocols(["h2"])
            self.sock = context.wrap_socket(raw, server_hostname="localhost")
            if self.sock.selected_alpn_protocol() != "h2":
                raise SystemExit(f"fail ALPN selected {self.sock.selected_alpn_protocol()!r}, not h2")
        else:
            self.sock = raw
        self.sock.settimeout(0.5)
        config = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        self.conn = h2.connection.H2Connection(config=config)
        self.conn.initiate_connection()
        self.flush()
        self.buffers = {}
        self.responses = {}
        self.ended = set()
        self.reset = {}
        self.settings_seen = False
        self.goaway = None
        self.remote_settings = {}

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def pump(self, deadline, until):
        while not until():
            if time.monotonic() > deadline:
                raise TimeoutError("timed out")
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not data:
                raise ConnectionError("the server closed the connection")
            for event in self.conn.receive_data(data):
                if isinstance(event, h2.events.RemoteSettingsChanged):
                    self.settings_seen = True
                    for key, value in event.changed_settings.items():
                        self.remote_settings[int(key)] = value.new_value
                elif isinstance(event, h2.events.ResponseReceived):
                    self.responses[event.stream_id] = dict(event.headers)
                elif isinstance(event, h2.events.DataReceived):
                    self.buffers[event.stream_id] = self.buffers.get(event.stream_id, b"") + event.data
                    if event.stream_id not in self.stalled_streams:
                        self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                    elif event.flow_controlled_length:
                        # The connection's window opens (the other streams go on); the stream's never does.
                        self.conn.increment_flow_control_window(event.flow_controlled_length)
                elif isinstance(event, h2.events.StreamEnded):
                    self.ended.add(event.stream_id)
                elif isinstance(event, h2.events.StreamReset):
                    self.reset[event.stream_id] = event.error_code
                elif isinstance(event, h2.events.ConnectionTerminated):
                    self.goaway = event.error_code
            self.flush()

    stalled_streams = set()

    def open(self, path, extra=()):
        stream = self.conn.get_next_available_stream_id()
        headers = [
            (":method", "CONNECT"),
            (":protocol", "websocket"),
            (":scheme", "https" if self.args.tls else "http"),
            (":path", path),
            (":authority", f"localhost:{self.args.port}"),
            ("sec-websocket-version", "13"),
        ] + list(extra)
        self.conn.send_headers(stream, headers)
        self.flush()
        return stream

    def send(self, stream, data):
        # Respect the stream's window: send what fits, pump until more fits.
        view = memoryview(data)
        deadline = time.monotonic() + 20
        while view:
            window = min(self.conn.local_flow_control_window(stream), self.conn.max_outbound_frame_size)
            if window <= 0:
                self.pump(deadline, lambda: self.conn.local_flow_control_window(stream) > 0)
                continue
            self.conn.send_data(stream, bytes(view[:window]))
            view = view[window:]
            self.flush()

    def messages(self, stream):
        frames, rest = parse(self.buffers.get(stream, b""))
        return frames, rest


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tls", action="store_true")
    parser.add_argument("--ca")
    parser.add_argument("--path", default="/echo")
    parser.add_argument("--streams", type=int, default=1)
    parser.add_argument("--stalled", action="store_true")
    parser.add_argument("--stalled-bytes", type=int, default=4 << 20)
    parser.add_argument("--expect-status")
    parser.add_argument("--origin")
    parser.add_argument("--subprotocol")
    parser.add_argument("--until-shutdown", action="store_true")
    parser.add_argument("--protocol-error", action="store_true")
    args = parser.parse_args()
    client = Client(args)
    deadline = time.monotonic() + 30
    client.pump(deadline, lambda: client.settings_seen)
    if client.remote_settings.get(0x8) != 1:
        print(f"fail SETTINGS_ENABLE_CONNECT_PROTOCOL is {client.remote_settings.get(0x8)}")
        return 1

    if args.expect_status:
        extra = []
        if args.origin:
            extra.append(("origin", args.origin))
        if args.subprotocol:
            extra.append(("sec-websocket-protocol", args.subprotocol))
        s = client.open(args.path, extra)
        client.pump(deadline, lambda: s in client.responses or s in client.reset)
        status = client.responses.get(s, {}).get(":status")
        if status != args.expect_status:
            print(f"fail status {status} (reset {client.reset.get(s)}), expected {args.expect_status}")
            return 1
        if not status.startswith("2"):
            # A refusal ends the stream (and resets the request side, RFC 9113 section 8.1).
            client.pump(deadline, lambda: s in client.ended or s in client.reset)
        print(f"ok status {status}")
        return 0

    if args.protocol_error:
        s = client.open(args.path)
        client.pump(deadline, lambda: s in client.responses)
        client.send(s, b"\x81\x05hello")  # unmasked
        client.pump(deadline, lambda: s in client.reset or s in client.ended)
        frames = client.messages(s)[0]
        code = struct.unpack("!H", frames[0][1][:2])[0] if frames and frames[0][0] == 0x8 else None
        ending = f"reset {int(client.reset[s])}" if s in client.reset else "ended"
        print(f"ok close {code} {ending}")
        return 0

    if args.until_shutdown:
        s = client.open(args.path)
        client.pump(deadline, lambda: s in client.responses)
        client.send(s, frame(0x1, b"before the stop"))
        client.pump(deadline, lambda: len(client.messages(s)[0]) >= 1)
        if client.messages(s)[0][0] != (0x1, b"before the stop"):
            print(f"fail the echo before the stop: {client.messages(s)[0][0]!r}")
            return 1
        print("ready", flush=True)
        long_deadline = time.monotonic() + 60
        client.pump(long_deadline, lambda: len(client.messages(s)[0]) >= 2)
        opcode, payload = client.messages(s)[0][1]
        code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
        client.send(s, frame(0x8, payload[:2]))
        client.conn.end_stream(s)
        client.flush()
        try:
            client.pump(long_deadline, lambda: client.goaway is not None and (s in client.ended or s in client.reset))
        except ConnectionError:
            pass
        print(f"ok close {code} goaway {None if client.goaway is None else int(client.goaway)}")
        return 0

    stalled = None
    stalled_state = "none"
    if args.stalled:
        stalled = client.open(args.path)
        client.stalled_streams.add(stalled)
        client.pump(deadline, lambda: stalled in client.responses)
        # Send binary messages until the server stops opening the window (its session stopped reading because
        # its output to us is blocked by our window, which we never open), bounded by --stalled-bytes.
        chunk = frame(0x2, b"s" * 16000)
        sent = 0
        stall_deadline = time.monotonic() + 10
        while sent < args.stalled_bytes and time.monotonic() < stall_deadline:
            if client.conn.local_flow_control_window(stalled) < len(chunk):
                try:
                    client.pump(time.monotonic() + 1.0,
                                lambda: client.conn.local_flow_control_window(stalled) >= len(chunk))
                except TimeoutError:
                    break
                continue
            client.conn.send_data(stalled, chunk)
            client.flush()
            sent += len(chunk)
        stalled_state = f"sent {sent}" if sent < args.stalled_bytes else f"unbounded {sent}"

    streams = [client.open(args.path) for _ in range(args.streams)]
    client.pump(deadline, lambda: all(s in client.responses or s in client.reset for s in streams))
    for s in streams:
        status = client.responses.get(s, {}).get(":status")
        if status != "200":
            print(f"fail stream {s} answered {status} (reset {client.reset.get(s)})")
            return 1
    for i, s in enumerate(streams):
        client.send(s, frame(0x1, f"hello {i}".encode()))
        client.send(s, frame(0x2, bytes(range(256)) * 8))
    for i, s in enumerate(streams):
        client.pump(deadline, lambda: len(client.messages(s)[0]) >= 2)
        frames = client.messages(s)[0]
        if frames[0] != (0x1, f"hello {i}".encode()) or frames[1] != (0x2, bytes(range(256)) * 8):
            print(f"fail stream {s} echoed {frames[:2]!r}")
            return 1
    for s in streams:
        client.send(s, frame(0x8, struct.pack("!H", 1000) + b"bye"))
    for s in streams:
        client.pump(deadline, lambda: len(client.messages(s)[0]) >= 3)
        opcode, payload = client.messages(s)[0][2]
        if opcode != 0x8 or struct.unpack("!H", payload[:2])[0] != 1000:
            print(f"fail stream {s} close {opcode} {payload!r}")
            return 1
        # RFC 8441 section 5: the closing handshake, then END_STREAM from both sides.
        client.conn.end_stream(s)
        client.flush()
    client.pump(deadline, lambda: all(s in client.ended or s in client.reset for s in streams))
    resets = {s: client.reset[s] for s in streams if s in client.reset}
    if resets:
        print(f"fail streams reset after a clean close: {resets}")
        return 1
    if stalled is not None and stalled not in client.reset and stalled not in client.ended:
        stalled_state += " open"
    print(f"ok {len(streams)} streams, stalled={stalled_state}")
    client.conn.close_connection()
    client.flush()
    client.sock.close()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as error:  # one line for the test's message
        print(f"fail {type(error).__name__}: {error}")
        sys.exit(1)
