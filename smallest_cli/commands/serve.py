"""`smallest serve`: run the offline, protocol-faithful local Waves server (see docs/serve.md)."""

from __future__ import annotations

import typer

from smallest_cli.commands.common import with_options
from smallest_cli.errors import guarded, usage_fail
from smallest_cli.options.parse import Args

HELP = """Run a local Waves-compatible server (offline; prints its base URL, logs to stderr).

Speaks the Waves contract on loopback (sync, SSE, WebSocket, voices, health) with a
deterministic tone engine or real offline speech (--engine espeak), pacing knobs that
imitate the real service, and per-request fault injection (see docs/serve.md).

Examples:

  smallest serve --port 8123 --engine espeak &

  export SMALLEST_BASE_URL=http://127.0.0.1:8123 SMALLEST_API_KEY=sk_local

  smallest speak "Spoken by the local server"

  smallest serve --port 0 --first-chunk-ms 100 --rtf 3.3

  smallest serve --port 0 --keep-open --varied-takes

  smallest serve --port 8443 --tls-cert cert.pem --tls-key key.pem
"""


def register(app: typer.Typer) -> None:
    app.command("serve", help=HELP, short_help=HELP.split("\n", 1)[0])(with_options("serve", serve))


def serve(args: Args) -> None:
    host, port, api_key, engine = args.host, args.port, args.api_key, args.engine
    if not 0 <= port <= 65535:
        usage_fail("--port must be from 0 to 65535")
    if args.first_chunk_ms < 0 or args.rtf < 0 or args.max_concurrency < 0:
        usage_fail("--first-chunk-ms, --rtf and --max-concurrency must not be negative")
    if not 1 <= args.chunk_ms <= 10000:
        usage_fail("--chunk-ms must be from 1 to 10000")
    if args.idle_timeout <= 0:
        usage_fail("--idle-timeout must be greater than 0")
    if api_key is not None and not api_key.strip():
        usage_fail("--api-key must not be empty")
    if (args.tls_cert is None) != (args.tls_key is None):
        usage_fail("--tls-cert and --tls-key go together")
    with guarded():
        from smallest_cli.server.engines.registry import load_engine
        from smallest_cli.server.pacing import Pacing
        from smallest_cli.server.runner import run
        from smallest_cli.server.state import ServerConfig

        config = ServerConfig(
            host=host,
            port=port,
            api_key=api_key,
            engine=engine,
            pacing=Pacing(first_chunk_ms=args.first_chunk_ms, rtf=args.rtf, chunk_ms=args.chunk_ms),
            max_concurrency=args.max_concurrency,
            idle_timeout=args.idle_timeout,
            access_log=args.access_log,
            keep_open=args.keep_open,
            varied_takes=args.varied_takes,
            pcm_as_wav=args.pcm_as_wav,
            voices_by_pool=args.voices_by_pool,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
        )
        try:
            run(config, load_engine(engine))
        except OSError as err:
            usage_fail(f"cannot listen on {host}:{port}: {err.strerror or err}")
