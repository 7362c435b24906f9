"""An independent WebSocket peer for interop tests: Python's `websockets` as a client of an echo server.

Usage: echo_client.py URL  -- sends text, binary, a fragmented message and a ping, checks the echoes, closes
with 1000, and prints "ok" (or the failure) on standard output.
"""
import asyncio
import sys

from websockets.asyncio.client import connect


async def main(url):
    async with connect(url, max_size=2**25, compression=None) as websocket:
        await websocket.send("hello from python")
        assert await websocket.recv() == "hello from python"
        payload = bytes(range(256)) * 4096
        await websocket.send(payload)
        assert await websocket.recv() == payload
        await websocket.send(["frag", "mented ", "κόσμε"])
        assert await websocket.recv() == "fragmented κόσμε"
        pong = await websocket.ping(b"ping!")
        await asyncio.wait_for(pong, 5)
        await websocket.close(1000, "done")
        print("ok close", websocket.close_code, flush=True)


try:
    asyncio.run(main(sys.argv[1]))
except Exception as error:  # report, do not hide
    print("failed", repr(error), flush=True)
    sys.exit(1)
