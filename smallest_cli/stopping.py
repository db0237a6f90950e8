"""Ctrl-C, SIGTERM and SIGHUP stop a run by raising in the main thread, never in a lock's set-up.

Python runs a signal handler in the main thread between two bytecodes. One that raises (Ctrl-C's
KeyboardInterrupt, and SIGTERM's and SIGHUP's TerminateSignal so that a cancelled job or a closed
terminal keeps its partial audio as Ctrl-C does) can land just after a lock was taken and before
the `with` or `try` that gives it back: on Python 3.11 `with condition:`, `Event.set()`,
`Queue.get()`, `Thread.start()` and logging's handlers are all open to it (a `with` on a plain
lock is not). The lock then stays taken, and whoever needs it next waits for ever: a worker,
PortAudio's callback, or the main thread's own clean-up, so that a run hangs or dies with a
traceback instead of stopping. A raise
can also be lost: one that lands in a weak reference's callback (threading runs them as threads
come and go) is printed as "Exception ignored" and the run goes on.

So the handlers raise at once unless the main thread is inside one of `UNSAFE_MODULES`. There
they raise only where the main thread waits for a condition or a thread (the `acquire` inside
`Condition.wait`'s `try`, and `Thread.join`'s wait, which Python makes to be interrupted and
which leave no lock taken; not the wait of `Thread.start`), and elsewhere look again every few
milliseconds (SIGALRM) until it has left those modules or reached such a wait. A second stop
while one waits raises at once, whatever the place.
"""

from __future__ import annotations

# `_signal`, not `signal`: the same functions, without the enums (and enum) that `signal` builds
# around them; this module is read before the early dial's SYN (startup.py).
import _signal as signal
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (startup.py)
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import CodeType, FrameType

#: The modules where a raise may leave a lock taken or be lost (see above).
UNSAFE_MODULES = frozenset(
    {"threading", "queue", "weakref", "_weakrefset", "logging", "importlib._bootstrap"}
)
#: How soon the handler looks again.
RETRY_S = 0.002


def _interrupt() -> BaseException:
    return KeyboardInterrupt()


def _terminate() -> BaseException:
    from smallest_cli.errors import TerminateSignal

    return TerminateSignal()


def _hang_up() -> BaseException:
    from smallest_cli.errors import TerminateSignal

    return TerminateSignal(hung_up=True)


class Stopper:
    """The handlers of SIGINT and SIGTERM; `arm(seconds)` has the handler look again then."""

    def __init__(self, arm: Callable[[float], object] | None = None) -> None:
        # Without SIGALRM (Windows) there is no looking again: a stop raises at once.
        self._arm = arm if arm is not None or not hasattr(signal, "SIGALRM") else _alarm
        #: The stop waiting to be raised.
        self._pending: Callable[[], BaseException] | None = None
        self._waits: frozenset[tuple[CodeType, int]] | None = None

    def install(self) -> None:
        """Handle SIGINT and SIGTERM unless the parent had them ignored (a background job of a
        script ignores Ctrl-C), as Python itself does for SIGINT."""
        if self._arm is _alarm:
            if signal.getsignal(signal.SIGALRM) == signal.SIG_DFL:
                signal.signal(signal.SIGALRM, self.on_retry)
                # A mask inherited from the parent would hold the second look back for good.
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGALRM})
            else:
                self._arm = None  # SIGALRM is someone else's: raise at once
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, self.on_interrupt)
        if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
            signal.signal(signal.SIGTERM, self.on_terminate)
        # Not under `nohup`, which has SIGHUP ignored; Windows has no SIGHUP.
        if hasattr(signal, "SIGHUP") and signal.getsignal(signal.SIGHUP) == signal.SIG_DFL:
            signal.signal(signal.SIGHUP, self.on_hang_up)

    def on_interrupt(self, signum: int, frame: FrameType | None) -> None:
        self._stop(_interrupt, frame, again=self._pending is not None)

    def on_terminate(self, signum: int, frame: FrameType | None) -> None:
        self._stop(_terminate, frame, again=self._pending is not None)

    def on_hang_up(self, signum: int, frame: FrameType | None) -> None:
        self._stop(_hang_up, frame, again=self._pending is not None)

    def on_retry(self, signum: int, frame: FrameType | None) -> None:
        if self._pending is not None:
            self._stop(self._pending, frame, again=False)

    def _stop(self, make: Callable[[], BaseException], frame: FrameType | None, again: bool) -> None:
        if self._arm is not None and not again and self._unsafe(_caller(frame)):
            self._pending = make
            self._arm(RETRY_S)
            return
        self._pending = None
        raise make()

    def _unsafe(self, frame: FrameType | None) -> bool:
        if frame is None:
            return False
        module = frame.f_globals.get("__name__")
        if module not in UNSAFE_MODULES:
            return False
        if module != "threading":  # no wait to raise in (nor `dis` to import mid-import)
            return True
        if self._waits is None:
            self._waits = _waits()
        return (frame.f_code, frame.f_lasti) not in self._waits or _starting_a_thread(frame)


def _caller(frame: FrameType | None) -> FrameType | None:
    """The frame the signal interrupted: a handler that runs inside this module's own (a retry
    landing while a handler runs) is given that handler's frame."""
    while frame is not None and frame.f_globals.get("__name__") == __name__:
        frame = frame.f_back
    return frame


def _starting_a_thread(frame: FrameType) -> bool:
    """Whether the wait is `Thread.start()`'s for its thread to run: a moment, and a start cut
    there leaves a thread that runs but cannot be joined yet."""
    start = sys.modules["threading"].Thread.start.__code__
    caller = frame.f_back
    while caller is not None and caller.f_globals.get("__name__") == "threading":
        if caller.f_code is start:
            return True
        caller = caller.f_back
    return False


def _waits() -> frozenset[tuple[CodeType, int]]:
    """The calls that wait in `Condition.wait` (its `acquire`) and `Thread.join` (before Python
    3.13 the `acquire` of `_wait_for_tstate_lock`, since then the C `join` of the thread's handle),
    as (code, instruction)."""
    import dis
    import threading

    thread = threading.Thread
    found = set()
    for function in (threading.Condition.wait, getattr(thread, "_wait_for_tstate_lock", None), thread.join):
        if function is None:
            continue
        code, waiting = function.__code__, False
        for instruction in dis.get_instructions(code):
            if instruction.argval in ("acquire", "join"):
                waiting = True
            elif waiting and instruction.opname.startswith("CALL"):
                found.add((code, instruction.offset))
                waiting = False
    return frozenset(found)


def _alarm(seconds: float) -> object:
    return signal.setitimer(signal.ITIMER_REAL, seconds)
