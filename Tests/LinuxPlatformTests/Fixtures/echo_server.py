"""An independent WebSocket peer for interop tests: Python's `websockets` as an echo server.

Usage: echo_server.py PORT  (listens on 127.0.0.1:PORT; echoes every message as the same type)
"""
import asyncio
import sys

from websockets.asyncio.server import serve


async def echo(websocket):
    async for message in websocket:
        await websocket.send(message)


async def main(port):
    async with serve(echo, "127.0.0.1", port, max_size=2**25, compression=None):
        await asyncio.Future()


asyncio.run(main(int(sys.argv[1])))
