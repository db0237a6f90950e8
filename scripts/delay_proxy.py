"""A TCP proxy that delays every byte by a fixed time in each direction: a far network on loopback.

    python scripts/delay_proxy.py TARGET_HOST:TARGET_PORT ONE_WAY_MS [LISTEN_PORT]

Prints `127.0.0.1:PORT` (the port it listens on; 0 or none picks a free one) and forwards each
connection to the target. Whatever it reads is written on `ONE_WAY_MS` later, in order, so a round
trip (TCP, TLS and WebSocket handshakes, a request and its first answer) costs twice that. The
TCP handshake with the proxy itself is instant, so a new connection's first bytes reach the
server a round trip later still, as if connect() had taken that round trip. It
forwards bytes and never looks inside them: TLS passes through end to end. Bandwidth is not
limited. `scripts/bench_network.py` runs it between the clients and `smallest serve`.
"""

from __future__ import annotations

import asyncio
import sys

READ_BYTES = 65536


async def _pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float, not_before: float = 0.0
) -> None:
    """Copy reader to writer, each piece `delay` seconds after it was read (and not before the
    loop time `not_before`), keeping the order."""
    loop = asyncio.get_running_loop()
    pending: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        while True:
            due, data = await pending.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()

    sender = asyncio.create_task(deliver())
    try:
        while True:
            data = await reader.read(READ_BYTES)
            pending.put_nowait((max(loop.time() + delay, not_before), data))
            if not data:
                break
        await sender
    except (ConnectionError, OSError):
        sender.cancel()
        writer.close()


async def _serve(target: tuple[str, int], delay: float, port: int) -> None:
    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        # The client's connect() returned at once, where a far server's takes a round trip:
        # what it sends reaches the server no sooner than had it waited that round trip.
        handshake_done = asyncio.get_running_loop().time() + 2 * delay
        try:
            server_r, server_w = await asyncio.open_connection(*target)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(
            _pipe(client_r, server_w, delay, not_before=handshake_done + delay),
            _pipe(server_r, client_w, delay),
            return_exceptions=True,
        )
        for writer in (client_w, server_w):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    print(f"127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> int:
    host, _, port = argv[0].rpartition(":")
    listen = int(argv[2]) if len(argv) > 2 else 0
    try:
        asyncio.run(_serve((host, int(port)), float(argv[1]) / 1000.0, listen))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
