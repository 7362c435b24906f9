"""An independent WebSocket peer for interop tests: Python's `websockets` as an echo server.

Usage: echo_server.py PORT_FILE  (listens on an ephemeral port of 127.0.0.1, writes the port number to PORT_FILE,
echoes every message as the same type). Binding port 0 avoids races between tests that each start a server.
"""
import asyncio
import os
import sys

from websockets.asyncio.server import serve


async def echo(websocket):
    async for message in websocket:
        await websocket.send(message)


async def main(port_file):
    async with serve(echo, "127.0.0.1", 0, max_size=2**25, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        with open(port_file + ".tmp", "w") as file:
            file.write(str(port))
        os.rename(port_file + ".tmp", port_file)
        await asyncio.Future()


asyncio.run(main(sys.argv[1]))
