"""Entry point for `smallest` and `python -m smallest_cli`."""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (startup.py)
if TYPE_CHECKING:
    from collections.abc import Mapping


def main() -> None:
    import sys

    try:
        _main(sys.argv[1:])
    except (KeyboardInterrupt, RuntimeError) as exc:
        # Ctrl-C outside a command's own guard (while importing, say): no traceback either.
        from smallest_cli.errors import stop_within, stopped

        stop = stop_within(exc)
        if stop is None:
            raise
        error = stopped(stop)
        print(f"smallest: {error}", file=sys.stderr)
        sys.exit(error.exit_code)


def _main(argv: list[str]) -> None:
    import os
    import sys

    if argv == ["--version"]:
        # What the root callback prints, without building the Typer app (tests/test_startup.py).
        from smallest_cli import __version__

        print(f"smallest {__version__}")
        sys.exit(0)
    from smallest_cli import startup

    with startup.collector_paused():
        from smallest_cli.stopping import Stopper

        # SIGTERM (`timeout`, a cancelled CI job) stops a run as Ctrl-C does: one line, the
        # partial audio kept; neither leaves a lock taken (see stopping.py).
        Stopper().install()
        # speak / stream-sse / stream-ws with plain arguments run without building the Typer app
        # (the first audio byte is what they are for); everything else goes through typer.
        code = _run_fast(argv, os.environ)
    if code is not None:
        sys.exit(code)
    from smallest_cli.cli import run

    run()


def _run_fast(argv: list[str], environ: Mapping[str, str]) -> int | None:
    """Run a plain synthesis command without typer and return its exit code; None when typer must
    parse the arguments (see `options.parse`)."""
    import sys

    from smallest_cli import startup
    from smallest_cli.options.parse import parse

    call = parse(argv, environ)
    dial = None
    if call is not None:
        from smallest_cli.run.early import early_dial

        dial = early_dial(call.args, environ)
        # After the dial, as the seed below: its handshakes need not wait for these.
        if dial is not None and call.command == "stream-ws":
            startup.defer_urllib_request()
    startup.seed_websockets_version()
    if call is None:
        return None
    from smallest_cli.run.synth import run_synth

    try:
        run_synth(call.command, call.args, dial)
    except Exception as exc:  # typer.Exit, made by the command's guard
        typer = sys.modules.get("typer")
        if typer is not None and isinstance(exc, typer.Exit):
            return int(exc.exit_code)
        raise
    return 0


if __name__ == "__main__":
    main()
