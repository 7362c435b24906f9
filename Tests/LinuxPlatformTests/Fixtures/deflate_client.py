"""Python's `websockets` as a permessage-deflate client of an echo server, for interop tests.

Usage: deflate_client.py URL [server_no_context_takeover] [client_no_context_takeover] [server_max_window_bits=N]
       [client_max_window_bits=N]
Sends text, binary, a message fragmented across many frames, and repeated messages (context takeover), checks the
echoes, closes with 1000, and prints "ok EXTENSIONS-HEADER" (or the failure) on standard output.
"""
import asyncio
import sys

from websockets.asyncio.client import connect
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory


def factory(arguments):
    options = {}
    for argument in arguments:
        name, _, value = argument.partition("=")
        options[name] = int(value) if value else True
    return ClientPerMessageDeflateFactory(**options)


async def main(url, arguments):
    async with connect(url, extensions=[factory(arguments)], compression=None, max_size=2**25) as websocket:
        header = websocket.response.headers.get("Sec-WebSocket-Extensions")
        text = "The quick brown fox jumps over the lazy dog. κόσμε " * 500
        for _ in range(3):
            await websocket.send(text)
            assert await websocket.recv() == text
        payload = bytes(range(256)) * 2048
        await websocket.send(payload)
        assert await websocket.recv() == payload
        fragments = [text[i:i + 300] for i in range(0, len(text), 300)]
        await websocket.send(fragments)
        assert await websocket.recv() == text
        await websocket.send("")
        assert await websocket.recv() == ""
        await websocket.close(1000, "done")
        print("ok", header, flush=True)


try:
    asyncio.run(main(sys.argv[1], sys.argv[2:]))
except Exception as error:  # report, do not hide
    print("failed", repr(error), flush=True)
