#!/usr/bin/env python3
"""Holds N idle WebSocket sessions on a wss:// echo server, for memory per idle session (Benchmarks/http2.sh).

  h2idle.py --port P --ca CA --sessions N [--hold SECONDS] [--http1]

Over HTTP/2 (the default): N extended CONNECT streams (RFC 8441), 100 per TLS connection, with Python's h2.
With --http1: N TLS connections with an HTTP/1.1 upgrade each, with Python's websockets.
Prints "open=K" once the sessions are up, then holds them for --hold seconds and closes everything.
"""
import argparse
import asyncio
import socket
import ssl
import sys
import time

import h2.config
import h2.connection
import h2.events


def context(ca, alpn):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.set_alpn_protocols(alpn)
    return ctx


def hold_http2(args):
    ctx = context(args.ca, ["h2"])
    connections = []
    remaining = args.sessions
    opened = 0
    while remaining > 0:
        count = min(100, remaining)
        remaining -= count
        sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", args.port)), server_hostname="localhost")
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        conn.initiate_connection()
        sock.sendall(conn.data_to_send())
        settings = False
        while not settings:
            for event in conn.receive_data(sock.recv(65536)):
                if isinstance(event, h2.events.RemoteSettingsChanged):
                    settings = True
            sock.sendall(conn.data_to_send())
        streams = []
        for _ in range(count):
            stream = conn.get_next_available_stream_id()
            conn.send_headers(stream, [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "https"),
                                       (":path", "/echo"), (":authority", f"localhost:{args.port}"),
                                       ("sec-websocket-version", "13")])
            streams.append(stream)
        sock.sendall(conn.data_to_send())
        answered = set()
        deadline = time.monotonic() + 30
        while len(answered) < count and time.monotonic() < deadline:
            for event in conn.receive_data(sock.recv(65536)):
                if isinstance(event, h2.events.ResponseReceived) and dict(event.headers).get(":status") == "200":
                    answered.add(event.stream_id)
            data = conn.data_to_send()
            if data:
                sock.sendall(data)
        opened += len(answered)
        connections.append((sock, conn))
    print(f"open={opened}", flush=True)
    time.sleep(args.hold)
    for sock, _ in connections:
        sock.close()


async def hold_http1(args):
    from websockets.asyncio.client import connect
    ctx = context(args.ca, ["http/1.1"])
    sessions = []
    for _ in range(args.sessions):
        sessions.append(await connect(f"wss://localhost:{args.port}/echo", ssl=ctx, compression=None,
                                      ping_interval=None))
    print(f"open={len(sessions)}", flush=True)
    await asyncio.sleep(args.hold)
    for session in sessions:
        session.transport.abort()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--hold", type=float, default=5)
    parser.add_argument("--http1", action="store_true")
    args = parser.parse_args()
    if args.http1:
        asyncio.run(hold_http1(args))
    else:
        hold_http2(args)


if __name__ == "__main__":
    sys.exit(main())
