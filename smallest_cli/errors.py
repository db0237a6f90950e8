"""One exception hierarchy for the CLI, each class mapped to a documented exit code.

Exit codes (documented in `smallest --help` and README):
  0 success, 2 usage or bad input, 3 authentication (401/403), 4 rate limited after retries,
  5 server or protocol error (including truncated streams), 6 network (unreachable, timeout),
  130 interrupted.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_RATE_LIMIT = 4
EXIT_SERVER = 5
EXIT_NETWORK = 6
EXIT_INTERRUPTED = 130


class SmallestError(Exception):
    """Base class. `str(err)` is the one-line message shown to the user."""

    exit_code: int = EXIT_SERVER
    #: True when trying the same request again may succeed.
    retryable: bool = False

    def __init__(self, message: str, *, request_id: str | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.request_id = request_id
        self.retry_after = retry_after

    def __str__(self) -> str:
        # The id comes from the server: keep the message one line whatever it holds.
        rid = " ".join(str(self.request_id or "").split())[:128]
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


class AudioDeviceError(SmallestError):
    """No audio device, or no PortAudio library, when playback was asked for."""

    exit_code = EXIT_USAGE


class Interrupted(SmallestError):
    """Ctrl-C, reported as `smallest: interrupted[; where the partial audio is]` (not an error)."""

    exit_code = EXIT_INTERRUPTED
