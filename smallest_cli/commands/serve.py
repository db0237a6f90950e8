"""`smallest serve`: run the offline, protocol-faithful local Waves server (see docs/serve.md)."""

from __future__ import annotations

import typer

from smallest_cli.commands.common import guarded, usage_fail


def register(app: typer.Typer) -> None:
    @app.command(
        "serve",
        short_help="Run a local Waves-compatible server (offline; prints its base URL, logs to stderr).",
    )
    def serve(
        host: str = typer.Option("127.0.0.1", "--host", help="Address to bind."),
        port: int = typer.Option(8123, "--port", help="Port to bind; 0 picks a free one."),
        api_key: str = typer.Option(
            None,
            "--api-key",
            help="Accept only this key (default: any non-empty Bearer token).",
            show_default=False,
        ),
        engine: str = typer.Option("tones", "--engine", help="Speech engine: tones (default) or espeak."),
        first_chunk_ms: float = typer.Option(0.0, "--first-chunk-ms", help="Latency before the first chunk."),
        rtf: float = typer.Option(0.0, "--rtf", help="Real-time factor of audio generation; 0 = unlimited."),
        chunk_ms: float = typer.Option(20.0, "--chunk-ms", help="Milliseconds of audio per streamed chunk."),
        max_concurrency: int = typer.Option(
            0, "--max-concurrency", help="Active TTS requests allowed at once (429 beyond); 0 = unlimited."
        ),
        idle_timeout: float = typer.Option(
            60.0,
            "--idle-timeout",
            help="WebSocket idle timeout in seconds (a client's ?timeout=N overrides).",
        ),
        access_log: bool = typer.Option(False, "--access-log", help="Log every HTTP request to stderr."),
    ) -> None:
        """Run a local Waves-compatible server (offline; prints its base URL, logs to stderr).

        Speaks the Waves contract on loopback (sync, SSE, WebSocket, voices, health) with a
        deterministic tone engine or real offline speech (--engine espeak), pacing knobs that
        imitate the real service, and per-request fault injection (see docs/serve.md).

        Examples:

          smallest serve --port 8123 --engine espeak &

          export SMALLEST_BASE_URL=http://127.0.0.1:8123 SMALLEST_API_KEY=sk_local

          smallest speak "Spoken by the local server"

          smallest serve --port 0 --first-chunk-ms 100 --rtf 3.3
        """
        if not 0 <= port <= 65535:
            usage_fail("--port must be from 0 to 65535")
        if first_chunk_ms < 0 or rtf < 0 or max_concurrency < 0:
            usage_fail("--first-chunk-ms, --rtf and --max-concurrency must not be negative")
        if not 1 <= chunk_ms <= 10000:
            usage_fail("--chunk-ms must be from 1 to 10000")
        if idle_timeout <= 0:
            usage_fail("--idle-timeout must be greater than 0")
        if api_key is not None and not api_key.strip():
            usage_fail("--api-key must not be empty")
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
                pacing=Pacing(first_chunk_ms=first_chunk_ms, rtf=rtf, chunk_ms=chunk_ms),
                max_concurrency=max_concurrency,
                idle_timeout=idle_timeout,
                access_log=access_log,
            )
            try:
                run(config, load_engine(engine))
            except OSError as err:
                usage_fail(f"cannot listen on {host}:{port}: {err.strerror or err}")
