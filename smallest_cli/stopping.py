"""Ctrl-C and SIGTERM stop a run by raising in the main thread, but never inside a lock's set-up.

Python runs a signal handler in the main thread between two bytecodes. One that raises (Ctrl-C's
KeyboardInterrupt, and SIGTERM's TerminateSignal so that a cancelled job keeps its partial audio
as Ctrl-C does) can land just after a lock was taken and before the `with` or `try` that gives it
back: on Python 3.11 `with condition:`, `Event.set()`, `Queue.get()` and `Thread.start()` are all
open to it (a `with` on a plain lock is not). The lock then stays taken, and whoever needs it next
waits for ever: a worker, PortAudio's callback, or the main thread's own clean-up, so that a run
hangs or dies with a traceback instead of stopping. A raise can also be lost: one that lands in
a weak reference's callback (threading runs them as threads come and go) is printed as
"Exception ignored" and the run goes on.

So the handlers raise at once unless the main thread is inside `threading`, `queue` or the weak
references' modules. There they look again every few milliseconds (SIGALRM), and raise when it
has left them, or when it has stayed at the very same instruction for `BLOCKED_S`: then it is
blocked in a wait, which gives its lock back when interrupted. (A lock merely taken by another
thread for a moment, which a raise would also interrupt, is not held that long.)
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from types import FrameType  # loaded with signal already

#: The modules where a raise may leave a lock taken or be lost (see above).
UNSAFE_MODULES = frozenset({"threading", "queue", "weakref", "_weakrefset"})
#: How soon the handler looks again, and how long the main thread must stay at one instruction
#: to be taken as blocked.
RETRY_S = 0.002
BLOCKED_S = 0.02


def _interrupt() -> BaseException:
    return KeyboardInterrupt()


def _terminate() -> BaseException:
    from smallest_cli.errors import TerminateSignal

    return TerminateSignal()


class Stopper:
    """The handlers of SIGINT and SIGTERM; `arm(seconds)` has the handler look again then."""

    def __init__(
        self, arm: Callable[[float], object] | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        # Without SIGALRM (Windows) there is no looking again: a stop raises at once.
        self._arm = arm if arm is not None or not hasattr(signal, "SIGALRM") else _alarm
        #: The stop waiting to be raised; where the main thread was at the last look, and since when.
        self._pending: Callable[[], BaseException] | None = None
        self._last: tuple[FrameType, int] | None = None
        self._since = 0.0
        self._clock = clock

    def install(self) -> None:
        """Handle SIGINT and SIGTERM unless the parent had them ignored (`nohup`, a background
        job in a script), as Python itself does for SIGINT."""
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, self.on_interrupt)
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, self.on_terminate)
        if self._arm is not None:
            signal.signal(signal.SIGALRM, self.on_retry)

    def on_interrupt(self, signum: int, frame: FrameType | None) -> None:
        self._stop(_interrupt, frame)

    def on_terminate(self, signum: int, frame: FrameType | None) -> None:
        self._stop(_terminate, frame)

    def on_retry(self, signum: int, frame: FrameType | None) -> None:
        if self._pending is not None:
            self._stop(self._pending, frame)

    def _stop(self, make: Callable[[], BaseException], frame: FrameType | None) -> None:
        if self._arm is not None and frame is not None and frame.f_globals.get("__name__") in UNSAFE_MODULES:
            now, last = self._clock(), self._last
            if last is None or last[0] is not frame or last[1] != frame.f_lasti:
                self._last, self._since = (frame, frame.f_lasti), now
            if now - self._since < BLOCKED_S:
                self._pending = make
                self._arm(RETRY_S)
                return
        self._pending = self._last = None
        raise make()


def _alarm(seconds: float) -> object:
    return signal.setitimer(signal.ITIMER_REAL, seconds)
