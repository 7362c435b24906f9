"""Python's `websockets` as a permessage-deflate echo server, for interop tests.

Usage: deflate_server.py PORT_FILE [server_no_context_takeover] [client_no_context_takeover]
       [server_max_window_bits=N] [client_max_window_bits=N]
Binds an ephemeral port on 127.0.0.1, writes it to PORT_FILE, echoes every message as the same type, and answers
the path /header with the negotiated Sec-WebSocket-Extensions value as one text message.
"""
import asyncio
import sys

from websockets.asyncio.server import serve
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory


def factory(arguments):
    options = {}
    for argument in arguments:
        name, _, value = argument.partition("=")
        options[name] = int(value) if value else True
    return ServerPerMessageDeflateFactory(**options)


async def handler(websocket):
    if websocket.request.path == "/header":
        await websocket.send(websocket.response.headers.get("Sec-WebSocket-Extensions", "none"))
    async for message in websocket:
        await websocket.send(message)


async def main(port_file, arguments):
    async with serve(handler, "127.0.0.1", 0, extensions=[factory(arguments)], compression=None,
                     max_size=2**25) as server:
        port = server.sockets[0].getsockname()[1]
        with open(port_file + ".tmp", "w") as file:
            file.write(str(port))
        import os
        os.rename(port_file + ".tmp", port_file)
        await asyncio.Future()


asyncio.run(main(sys.argv[1], sys.argv[2:]))
