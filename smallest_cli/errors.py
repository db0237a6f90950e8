"""One exception hierarchy for the CLI, each class mapped to a documented exit code.

`EXIT_CODES` is the one statement of what each code means: `--help` shows `EXIT_CODES_HELP`, made
from it, and tests/test_help.py checks the README's table against it.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (startup.py)
if TYPE_CHECKING:
    from collections.abc import Iterator
    from contextlib import AbstractContextManager
    from typing import IO

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_RATE_LIMIT = 4
EXIT_SERVER = 5
EXIT_NETWORK = 6
EXIT_ROWS_FAILED = 7
EXIT_HUNG_UP = 129
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143

#: Every exit code and what it means.
EXIT_CODES: tuple[tuple[int, str], ...] = (
    (EXIT_OK, "success"),
    (EXIT_USAGE, "usage or bad input"),
    (EXIT_AUTH, "authentication (401/403)"),
    (EXIT_RATE_LIMIT, "rate limited after retries"),
    (EXIT_SERVER, "server or protocol error (including truncated streams)"),
    (EXIT_NETWORK, "network (unreachable, timeout)"),
    (EXIT_ROWS_FAILED, "some rows of a batch failed (the others are done)"),
    (EXIT_HUNG_UP, "hung up (SIGHUP)"),
    (EXIT_INTERRUPTED, "interrupted"),
    (EXIT_TERMINATED, "terminated (SIGTERM)"),
)
EXIT_CODES_HELP = "Exit codes: " + ", ".join(f"{code} {meaning}" for code, meaning in EXIT_CODES) + "."


#: Control characters: the whitespace ones become spaces (then collapsed), the others (escape,
#: backspace, bell, C1) go, so that a server's text cannot move the cursor or recolour a terminal.
_CONTROLS = {c: " " if chr(c).isspace() else None for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))}


def flat_text(text: str) -> str:
    """`text` on one line and safe to print: control characters dropped, whitespace collapsed."""
    return " ".join(text.translate(_CONTROLS).split())


class SmallestError(Exception):
    """Base class. `str(err)` is the one-line message shown to the user."""

    exit_code: int = EXIT_SERVER
    #: True when trying the same request again may succeed.
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        request_id: str | None = None,
        retry_after: float | None = None,
        retryable: bool | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.request_id = request_id
        self.retry_after = retry_after
        if retryable is not None:  # this fault's own answer, where its kind's is not the right one
            self.retryable = retryable

    def __str__(self) -> str:
        rid = flat_text(str(self.request_id or ""))[:128]  # the server's: one line, no controls
        if rid and rid not in self.message:
            return f"{self.message} (request id {rid})"
        return self.message


class UsageError(SmallestError):
    """Bad options or bad input, detected before or by the server (400)."""

    exit_code = EXIT_USAGE


class AuthError(SmallestError):
    """401 or 403."""

    exit_code = EXIT_AUTH


class RateLimitError(SmallestError):
    """429, or an over-the-limit error frame."""

    exit_code = EXIT_RATE_LIMIT
    retryable = True


class ServerError(SmallestError):
    """5xx answers and error frames from the server."""

    exit_code = EXIT_SERVER
    retryable = True


class ProtocolError(ServerError):
    """Malformed frames, or a stream that ended before its terminator (truncation)."""


class NetworkError(SmallestError):
    """Unreachable host, refused connection, dropped connection, stall timeout."""

    exit_code = EXIT_NETWORK
    retryable = True


class InputError(UsageError):
    """`smallest batch` cannot read its input past some row: no row's fault, it stops the batch."""


class RowsFailed(SmallestError):
    """`smallest batch` finished, and some of its rows failed (each recorded in the manifest)."""

    exit_code = EXIT_ROWS_FAILED


class AudioDeviceError(SmallestError):
    """No audio device, or no PortAudio library, when playback was asked for."""

    exit_code = EXIT_USAGE


class Interrupted(SmallestError):
    """Ctrl-C, reported as `smallest: interrupted[; where the partial audio is]` (not an error)."""

    exit_code = EXIT_INTERRUPTED


class Terminated(Interrupted):
    """SIGTERM (`timeout`, a CI job cancelled), stopped as Ctrl-C is: `smallest: terminated[; ...]`."""

    exit_code = EXIT_TERMINATED


class HungUp(Interrupted):
    """SIGHUP (the terminal or SSH session closed), stopped as Ctrl-C is: `smallest: hung up[; ...]`."""

    exit_code = EXIT_HUNG_UP


class TerminateSignal(KeyboardInterrupt):
    """Raised by the SIGTERM and SIGHUP handlers, so that everything that keeps partial audio on
    Ctrl-C keeps it on them too."""

    def __init__(self, hung_up: bool = False) -> None:
        super().__init__()
        self.hung_up = hung_up


def stopped(stop: KeyboardInterrupt) -> Interrupted:
    """The error for a Ctrl-C, a SIGTERM or a SIGHUP."""
    if isinstance(stop, TerminateSignal):
        return HungUp("hung up") if stop.hung_up else Terminated("terminated")
    return Interrupted("interrupted")


# -- the one guard: errors → a one-line message and their exit code ---------------------------------


def eprint(message: str, stream: IO[str] | None = None) -> None:
    """A line for humans on stderr (or `stream`). A closed one is ignored: the run's own outcome,
    not where its messages go, sets the exit code."""
    try:
        print(message, file=stream if stream is not None else sys.stderr, flush=True)
    except (OSError, ValueError):  # a pipe gone, a terminal hung up (EIO), a closed file
        pass


#: Shorter secrets are not redacted: real keys are long, and a one-letter "key" would otherwise
#: turn every such letter of a message into the redaction marker.
MIN_SECRET_LEN = 8


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    for s in secrets:
        if len(s) >= MIN_SECRET_LEN:
            text = text.replace(s, "sk_…(redacted)")
    return text


def guarded(debug: bool = False, secrets: tuple[str, ...] = ()) -> AbstractContextManager[None]:
    """Turn SmallestError, Ctrl-C and closed pipes into a one-line message and an exit code; so
    also an output that cannot be written (stdout on a full disk): stdout is flushed inside the
    guard, so that its failure is reported here, not as a traceback when the interpreter exits.

    With `debug`, the traceback is printed too, with every secret in `secrets` redacted.
    """
    # contextlib here, not at the top: the early dial's path imports this module (startup.py).
    from contextlib import contextmanager

    return contextmanager(_guard)(debug, secrets)


def _guard(debug: bool, secrets: tuple[str, ...]) -> Iterator[None]:
    # typer is imported only on the way out (an error): the synthesis commands' fast path runs
    # without it. typer.Exit is none of the exceptions caught here, so it passes through. The
    # exit is made (typer imported, ~100 ms) before the message is printed: a second Ctrl-C
    # meanwhile reaches an outer guard, which then prints the one message.
    try:
        yield
        if sys.stdout is not None:
            sys.stdout.flush()
    except SmallestError as err:
        exit_ = _exit(err.exit_code)
        if debug:
            import traceback

            eprint(_scrub(traceback.format_exc(), secrets))
        # Ctrl-C is not an error: `smallest: interrupted`, with where the partial audio is kept.
        what = "" if isinstance(err, Interrupted) else "error: "
        eprint(_scrub(f"smallest: {what}{err}", secrets))
        raise exit_ from None
    except (KeyboardInterrupt, RuntimeError) as exc:
        stop_signal = stop_within(exc)
        if stop_signal is None:
            raise
        stop = _first_stop(stop_signal)
        exit_ = _exit(stop.exit_code)
        eprint(f"smallest: {stop}")
        raise exit_ from None
    except BrokenPipeError:
        # The reader went away (`| head -c 1000`): end quietly, without a flush error at exit.
        _discard_stdout()
        raise _exit(0) from None
    except OSError as exc:
        # Every file and socket of ours reports its own errors: what is left is writing to stdout.
        exit_ = _exit(EXIT_USAGE)
        _discard_stdout()
        eprint(f"smallest: error: cannot write to stdout: {exc.strerror or exc}")
        raise exit_ from None


def stop_within(exc: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C (or SIGTERM) `exc` is, or wraps: before 3.12, one that lands while a class is
    made (a dataclass, as a module imports) comes as a RuntimeError caused by it."""
    if isinstance(exc, KeyboardInterrupt):
        return exc
    cause = exc.__cause__ if isinstance(exc, RuntimeError) else None
    return cause if isinstance(cause, KeyboardInterrupt) else None


def _first_stop(stop_signal: KeyboardInterrupt) -> Interrupted:
    """The stop to report when a second one lands while the first is on its way out (GNU
    `timeout` signals the process, then its whole group: the run gets two): the first, whose
    message says where the audio received is kept."""
    first = stop_signal
    cur = stop_signal.__context__
    while cur is not None:
        if isinstance(cur, Interrupted):
            return cur
        if isinstance(cur, KeyboardInterrupt):
            first = cur
        cur = cur.__context__
    return stopped(first)


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so that what is still buffered for it cannot fail at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, AttributeError, ValueError):
        pass


def _exit(code: int) -> Exception:
    import typer

    return typer.Exit(code)


def usage_fail(message: str) -> None:
    eprint(f"smallest: error: {message}")
    raise _exit(EXIT_USAGE)
