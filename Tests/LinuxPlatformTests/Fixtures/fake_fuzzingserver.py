"""A stand-in for a conformance fuzzing server (the Autobahn testsuite's protocol), for testing `ws autobahn-client`.

Usage: fake_fuzzingserver.py PORT_FILE RESULTS_FILE
/getCaseCount answers "4"; /runCase?case=N&agent=A runs case N (text, binary, a fragmented message with a ping,
an invalid UTF-8 message that the client must refuse with 1007) and records "N:A:OK" or "N:A:FAILED ..." in
RESULTS_FILE; /updateReports?agent=A records "report:A".
"""
import asyncio
import os
import sys
from urllib.parse import parse_qs, urlparse

from websockets.asyncio.server import serve

results_file = sys.argv[2]


def record(line):
    with open(results_file, "a") as file:
        file.write(line + "\n")


async def run_case(websocket, number, agent):
    try:
        if number == 1:
            await websocket.send("Hello, κόσμε")
            assert await websocket.recv() == "Hello, κόσμε"
        elif number == 2:
            payload = bytes(range(256)) * 64
            await websocket.send(payload)
            assert await websocket.recv() == payload
        elif number == 3:
            await websocket.send(["frag", "mented"])
            pong = await websocket.ping(b"case3")
            assert await websocket.recv() == "fragmented"
            await asyncio.wait_for(pong, 5)
        elif number == 4:
            # Invalid UTF-8 in a text frame: the client must fail the connection with 1007.
            websocket.protocol.send_text(b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80")
            websocket.send_data()
            try:
                await asyncio.wait_for(websocket.recv(), 5)
            except Exception:
                pass
            code = websocket.close_code
            record(f"{number}:{agent}:{'OK' if code == 1007 else f'FAILED close {code}'}")
            return
        await websocket.close(1000)
        record(f"{number}:{agent}:OK")
    except Exception as error:
        record(f"{number}:{agent}:FAILED {error!r}")


async def handler(websocket):
    url = urlparse(websocket.request.path)
    query = {name: values[0] for name, values in parse_qs(url.query).items()}
    if url.path == "/getCaseCount":
        await websocket.send("4")
        await websocket.close(1000)
    elif url.path == "/runCase":
        await run_case(websocket, int(query["case"]), query.get("agent", "?"))
    elif url.path == "/updateReports":
        record(f"report:{query.get('agent', '?')}")
        await websocket.close(1000)


async def main(port_file):
    async with serve(handler, "127.0.0.1", 0, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        with open(port_file + ".tmp", "w") as file:
            file.write(str(port))
        os.rename(port_file + ".tmp", port_file)
        await asyncio.Future()


asyncio.run(main(sys.argv[1]))
