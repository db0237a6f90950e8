"""Error handling shared by all commands: one-line messages, documented exit codes."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

from smallest_cli.errors import EXIT_INTERRUPTED, EXIT_USAGE, Interrupted, SmallestError


def eprint(message: str) -> None:
    """A line for humans on stderr."""
    try:
        print(message, file=sys.stderr, flush=True)
    except (BrokenPipeError, ValueError):
        pass


#: Shorter secrets are not redacted: real keys are long, and a one-letter "key" would otherwise
#: turn every such letter of a message into the redaction marker.
MIN_SECRET_LEN = 8


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    for s in secrets:
        if len(s) >= MIN_SECRET_LEN:
            text = text.replace(s, "sk_…(redacted)")
    return text


@contextmanager
def guarded(debug: bool = False, secrets: tuple[str, ...] = ()) -> Iterator[None]:
    """Turn SmallestError, Ctrl-C and closed pipes into a one-line message and an exit code.

    With `debug`, the traceback is printed too, with every secret in `secrets` redacted.
    """
    # typer is imported only on the way out (an error): the synthesis commands' fast path runs
    # without it. typer.Exit is none of the exceptions caught here, so it passes through. The
    # exit is made (typer imported, ~100 ms) before the message is printed: a second Ctrl-C
    # meanwhile reaches an outer guard, which then prints the one message.
    try:
        yield
    except SmallestError as err:
        exit_ = _exit(err.exit_code)
        if debug:
            eprint(_scrub(traceback.format_exc(), secrets))
        # Ctrl-C is not an error: `smallest: interrupted`, with where the partial audio is kept.
        what = "" if isinstance(err, Interrupted) else "error: "
        eprint(_scrub(f"smallest: {what}{err}", secrets))
        raise exit_ from None
    except KeyboardInterrupt:
        exit_ = _exit(EXIT_INTERRUPTED)
        eprint("smallest: interrupted")
        raise exit_ from None
    except BrokenPipeError:
        # The reader went away (`| head -c 1000`): end quietly, without a flush error at exit.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except OSError:
            pass
        raise _exit(0) from None


def _exit(code: int) -> Exception:
    import typer

    return typer.Exit(code)


def usage_fail(message: str) -> None:
    eprint(f"smallest: error: {message}")
    raise _exit(EXIT_USAGE)
