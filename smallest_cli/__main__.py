"""Entry point for `smallest` and `python -m smallest_cli`."""

from __future__ import annotations


def main() -> None:
    import os
    import sys

    if sys.argv[1:] == ["--version"]:
        # What the root callback prints, without building the Typer app (tests/test_startup.py).
        from smallest_cli import __version__

        print(f"smallest {__version__}")
        sys.exit(0)
    from smallest_cli import fastpath

    fastpath.seed_websockets_version()
    # speak / stream-sse / stream-ws with plain arguments run without building the Typer app
    # (the first audio byte is what they are for); everything else goes through typer.
    code = fastpath.try_run(sys.argv[1:], os.environ)
    if code is not None:
        sys.exit(code)
    from smallest_cli.cli import run

    run()


if __name__ == "__main__":
    main()
