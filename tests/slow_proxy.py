#!/usr/bin/env python3
# slow_proxy.py: a TCP proxy that passes requests through at once and answers back slowly (CHUNK bytes
# every DELAY seconds), so that a test can act in the middle of a streamed answer however fast the
# server behind it generates: the answer is still arriving when the test kills the server and this
# proxy (to the client, the connection breaks as when the server dies).
# Usage: slow_proxy.py TARGET_PORT  (prints "listening on http://127.0.0.1:PORT" on stderr)
import asyncio
import sys

CHUNK = 96
DELAY = 0.02


async def pipe(reader, writer, slow):
    try:
        while True:
            data = await reader.read(CHUNK if slow else 65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
            if slow:
                await asyncio.sleep(DELAY)
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


async def handle(client_r, client_w, target):
    try:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", target)
    except OSError:
        client_w.close()
        return
    await asyncio.gather(pipe(client_r, server_w, False), pipe(server_r, client_w, True))


async def main():
    target = int(sys.argv[1])
    srv = await asyncio.start_server(lambda r, w: handle(r, w, target), "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    print("listening on http://127.0.0.1:%d" % port, file=sys.stderr, flush=True)
    async with srv:
        await srv.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
