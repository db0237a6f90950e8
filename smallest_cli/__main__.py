"""Entry point for `smallest` and `python -m smallest_cli`."""

from __future__ import annotations


def main() -> None:
    from smallest_cli.cli import run

    run()


if __name__ == "__main__":
    main()
