"""Entry point for `smallest` and `python -m smallest_cli`."""

from __future__ import annotations


def main() -> None:
    import sys

    try:
        _main(sys.argv[1:])
    except KeyboardInterrupt:
        # Ctrl-C outside a command's own guard (while importing, say): no traceback either.
        from smallest_cli.errors import EXIT_INTERRUPTED

        print("smallest: interrupted", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)


def _main(argv: list[str]) -> None:
    import os
    import sys

    if argv == ["--version"]:
        # What the root callback prints, without building the Typer app (tests/test_startup.py).
        from smallest_cli import __version__

        print(f"smallest {__version__}")
        sys.exit(0)
    import gc

    # Setting up a synthesis command creates thousands of long-lived objects (modules, classes,
    # functions) and no garbage: the cyclic collector's ~30 passes over them cost ~4 ms before
    # the first audio byte. It is off until the audio starts streaming (commands/synth.py freezes
    # what set-up made and turns it back on then), and on again here whatever happens.
    gc.disable()
    try:
        from smallest_cli import fastpath

        fastpath.seed_websockets_version()
        # speak / stream-sse / stream-ws with plain arguments run without building the Typer app
        # (the first audio byte is what they are for); everything else goes through typer.
        code = fastpath.try_run(argv, os.environ)
    finally:
        gc.enable()
    if code is not None:
        sys.exit(code)
    from smallest_cli.cli import run

    run()


if __name__ == "__main__":
    main()
