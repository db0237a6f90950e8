"""Running the server: bind, print the base URL (the only stdout line), stop cleanly on SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import threading
from collections.abc import Callable

from aiohttp import web

from smallest_cli.server.app import build_app
from smallest_cli.server.engines.base import Engine
from smallest_cli.server.state import ServerConfig, ServerState
from smallest_cli.server.tls import server_ssl_context

log = logging.getLogger("smallest.serve")

#: Seconds given to open HTTP streams to finish when stopping.
SHUTDOWN_GRACE = 2.0


def base_url(host: str, port: int, tls: bool = False) -> str:
    if host in ("0.0.0.0", "", "::"):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"{'https' if tls else 'http'}://{host}:{port}"


def print_url(url: str) -> None:
    sys.stdout.write(url + "\n")
    sys.stdout.flush()


async def serve(config: ServerConfig, engine: Engine, ready: Callable[[str], None] = print_url) -> None:
    ssl_context = None
    if config.tls_cert is not None and config.tls_key is not None:
        ssl_context = server_ssl_context(config.tls_cert, config.tls_key)
    state = ServerState(config=config, engine=engine)
    app = build_app(state)
    runner = web.AppRunner(app, handle_signals=False, access_log=log if config.access_log else None)
    await runner.setup()
    try:
        site = web.TCPSite(
            runner, config.host, config.port, shutdown_timeout=SHUTDOWN_GRACE, ssl_context=ssl_context
        )
        await site.start()
        host, port = runner.addresses[0][:2]
        url = base_url(str(host), int(port), tls=ssl_context is not None)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (RuntimeError, NotImplementedError):  # not the main thread (embedded use)
                break
        log.info(
            "serving %s (engine %s, max concurrency %s, first chunk %g ms, rtf %g, chunk %g ms%s%s%s%s)",
            url,
            engine.name,
            config.max_concurrency or "unlimited",
            config.pacing.first_chunk_ms,
            config.pacing.rtf,
            config.pacing.chunk_ms,
            ", WebSockets kept open" if config.keep_open else "",
            ", varied takes" if config.varied_takes else "",
            ", sync pcm as WAV" if config.pcm_as_wav else "",
            ", voices by pool" if config.voices_by_pool else "",
        )
        ready(url)
        await stop.wait()
        log.info("stopping")
        state.stopping = True
    finally:
        await runner.cleanup()


def run(config: ServerConfig, engine: Engine) -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="smallest serve: %(message)s")
    # The CLI's Ctrl-C handler (stopping.py) is for its runs: asyncio.run installs its own (which
    # cancels the server's task) only over Python's.
    if threading.current_thread() is threading.main_thread() and callable(signal.getsignal(signal.SIGINT)):
        signal.signal(signal.SIGINT, signal.default_int_handler)
    asyncio.run(serve(config, engine))
