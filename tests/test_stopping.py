"""Ctrl-C, SIGTERM and SIGHUP raise in the main thread, but never where a lock would stay taken."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from types import FrameType, SimpleNamespace
from typing import cast

import pytest

from smallest_cli import stopping
from smallest_cli.errors import TerminateSignal, stopped
from smallest_cli.stopping import Stopper


def frame_in(module: str, instruction: int = 0, back: FrameType | None = None) -> FrameType:
    code = threading.Condition.__enter__.__code__
    return cast(FrameType, SimpleNamespace(
        f_globals={"__name__": module}, f_code=code, f_lasti=instruction, f_back=back
    ))


def waiting_frame() -> FrameType:
    """A frame blocked in the `acquire` of `Condition.wait`."""
    code, instruction = min(stopping._waits(), key=lambda point: point[0].co_name)
    return cast(FrameType, SimpleNamespace(
        f_globals={"__name__": "threading"}, f_code=code, f_lasti=instruction, f_back=None
    ))


def test_a_stop_outside_the_lock_modules_raises_at_once() -> None:
    armed: list[float] = []
    stopper = Stopper(armed.append)
    with pytest.raises(KeyboardInterrupt):
        stopper.on_interrupt(signal.SIGINT, frame_in("smallest_cli.run.scheduler"))
    with pytest.raises(TerminateSignal) as terminated:
        stopper.on_terminate(signal.SIGTERM, frame_in("smallest_cli.run.scheduler"))
    with pytest.raises(TerminateSignal) as hung_up:
        stopper.on_hang_up(signal.SIGHUP, frame_in("smallest_cli.run.scheduler"))
    assert armed == []
    assert (stopped(terminated.value).exit_code, str(stopped(terminated.value))) == (143, "terminated")
    assert (stopped(hung_up.value).exit_code, str(stopped(hung_up.value))) == (129, "hung up")


def test_a_stop_inside_the_lock_modules_waits_until_the_main_thread_is_out() -> None:
    armed: list[float] = []
    stopper = Stopper(armed.append)
    stopper.on_terminate(signal.SIGTERM, frame_in("threading", 10))
    for module in ("queue", "_weakrefset", "logging", "importlib._bootstrap"):
        stopper.on_retry(signal.SIGALRM, frame_in(module, 10))
    assert armed == [stopping.RETRY_S] * 5
    with pytest.raises(TerminateSignal):
        stopper.on_retry(signal.SIGALRM, frame_in("smallest_cli.run.scheduler"))
    stopper.on_retry(signal.SIGALRM, frame_in("smallest_cli.run.scheduler"))  # nothing left to raise
    assert len(armed) == 5


def test_a_stop_raises_at_once_in_a_wait_for_a_condition_or_a_thread() -> None:
    armed: list[float] = []
    stopper = Stopper(armed.append)
    with pytest.raises(KeyboardInterrupt):
        stopper.on_interrupt(signal.SIGINT, waiting_frame())
    assert armed == []
    names = {code.co_name for code, _ in stopping._waits()}
    assert "wait" in names
    assert sys.version_info >= (3, 13) or "_wait_for_tstate_lock" in names


def test_a_stop_waits_while_a_thread_starts() -> None:
    armed: list[float] = []
    stopper = Stopper(armed.append)
    waiting = waiting_frame()
    starting = frame_in("threading", back=frame_in("smallest_cli.run.scheduler"))
    starting.f_code = threading.Thread.start.__code__  # type: ignore[misc]
    waiting.f_back = frame_in("threading", back=starting)  # type: ignore[misc]
    stopper.on_interrupt(signal.SIGINT, waiting)
    assert armed == [stopping.RETRY_S]
    with pytest.raises(KeyboardInterrupt):
        stopper.on_retry(signal.SIGALRM, frame_in("smallest_cli.run.scheduler"))


def test_a_second_signal_raises_at_once_wherever_the_main_thread_is() -> None:
    armed: list[float] = []
    stopper = Stopper(armed.append)
    stopper.on_interrupt(signal.SIGINT, frame_in("threading", 10))
    with pytest.raises(TerminateSignal):
        stopper.on_terminate(signal.SIGTERM, frame_in("threading", 10))
    stopper.on_interrupt(signal.SIGINT, frame_in("threading", 10))
    with pytest.raises(KeyboardInterrupt):
        stopper.on_interrupt(signal.SIGINT, frame_in("threading", 12))
    assert len(armed) == 2


def test_a_retry_landing_in_a_handler_looks_at_the_frame_the_handler_interrupted() -> None:
    armed: list[float] = []
    stopper = Stopper(armed.append)
    stopper.on_interrupt(signal.SIGINT, frame_in("threading", 10))
    stopper.on_retry(signal.SIGALRM, frame_in("smallest_cli.stopping", 4, back=frame_in("threading", 10)))
    assert len(armed) == 2
    with pytest.raises(KeyboardInterrupt):
        stopper.on_retry(signal.SIGALRM, frame_in("smallest_cli.stopping", 4, back=frame_in("json")))


#: Ctrl-C's handler run at random moments (by a CPU-time timer's signal, handled wherever the main
#: thread is then) while the main thread takes and gives back the locks of a condition, an event, a
#: queue and a new thread, over and over; prints how many stops left one of them taken, and how many
#: were lost (the loop still ran two seconds later).
PROBE = """
import itertools, random, signal, sys, threading, queue, time
if sys.argv[1] == "stopper":
    from smallest_cli.stopping import Stopper
    Stopper().install()
signal.signal(signal.SIGPROF, signal.getsignal(signal.SIGINT))
left_taken = lost = 0
for trial in range(int(sys.argv[2])):
    cond, event, q = threading.Condition(threading.Lock()), threading.Event(), queue.Queue()
    worker = None
    try:
        give_up = time.monotonic() + 2
        signal.setitimer(signal.ITIMER_PROF, random.uniform(0.0002, 0.003))
        for n in itertools.count():
            with cond:
                pass
            event.set()
            q.put(0)
            q.get()
            for _ in range(20):  # the main thread's own work, between two lock operations
                pass
            if n % 64 == 0:  # a thread's start takes far longer than the rest
                worker = threading.Thread(target=event.clear)
                worker.start()
                if time.monotonic() > give_up:
                    lost += 1
                    break
    except KeyboardInterrupt:
        pass
    try:  # a start() cut short leaves a thread that cannot be joined yet, or ever
        stuck = worker is not None and (worker.join(1) or worker.is_alive())
    except RuntimeError:
        stuck = True
    if cond._lock.locked() or event._cond._lock.locked() or q.mutex.locked() or stuck:
        left_taken += 1
print(left_taken, lost)
"""


def probe(handler: str, trials: int, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROBE, handler, str(trials)], capture_output=True, text=True, timeout=timeout
    )


def test_no_stop_leaves_a_lock_taken_or_is_lost() -> None:
    result = probe("stopper", 50)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0", "0"]


@pytest.mark.skipif(sys.version_info >= (3, 14), reason="the hazard as seen on Python 3.11 to 3.13")
def test_python_s_own_handler_leaves_locks_taken_or_loses_the_stop() -> None:
    """What the test above guards against."""
    try:
        result = probe("default", 50, timeout=10)  # it takes a second unless it hangs
    except subprocess.TimeoutExpired:
        return  # a lock left taken that the main thread needed again
    assert result.returncode != 0 or result.stdout.split() != ["0", "0"]


INSTALL = """
import signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN if "int" in sys.argv[1] else signal.default_int_handler)
signal.signal(signal.SIGTERM, signal.SIG_IGN if "term" in sys.argv[1] else signal.SIG_DFL)
from smallest_cli.stopping import Stopper
Stopper().install()
print(signal.getsignal(signal.SIGINT) is signal.SIG_IGN, signal.getsignal(signal.SIGTERM) is signal.SIG_IGN)
"""


@pytest.mark.parametrize(
    ("ignored", "stays"), [("", "False False"), ("int", "True False"), ("int term", "True True")]
)
def test_a_signal_the_parent_ignores_stays_ignored(ignored: str, stays: str) -> None:
    """`nohup smallest ...`, or a background job in a script, is not stopped by Ctrl-C."""
    result = subprocess.run(
        [sys.executable, "-c", INSTALL, ignored], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == stays


#: The start of a probe: the Stopper installed, counting in `looks[0]` the times a stop is put off.
COUNTING = """
import signal, threading, time
from smallest_cli import stopping
looks = [0]
real_alarm = stopping._alarm
def counted(seconds):
    looks[0] += 1
    return real_alarm(seconds)
stopping._alarm = counted
stopping.Stopper().install()
"""


#: Ctrl-C sent to the process while the main thread waits on a condition that another thread
#: notifies every few milliseconds ("notified", as the player waits for its callback), or waits to
#: take a condition that another thread holds for 50 ms at a time and then, having let it go,
#: keeps the interpreter busy for a few milliseconds ("contended": the main thread has taken the
#: lock by the time it runs again). Prints how many stops left the condition's lock taken, and the
#: most times one stop was put off.
BUSY_PROBE = COUNTING + """
import os, random, sys
mode, trials = sys.argv[1], int(sys.argv[2])
contended = mode == "contended"
left_taken = most_looks = 0
for trial in range(trials):
    cond, done, holding = threading.Condition(threading.Lock()), [False], [False]
    def other():
        while not done[0]:
            with cond:
                holding[0] = True
                time.sleep(0.05 if contended else 0)
                cond.notify_all()
            end = time.perf_counter() + (0.008 if contended else 0)
            while time.perf_counter() < end:
                pass
            time.sleep(0 if contended else 0.005)
    def send():
        while not holding[0]:
            time.sleep(0.0005)
        time.sleep(0.05 - random.uniform(0.012, 0.024) if contended else random.uniform(0.005, 0.03))
        os.kill(os.getpid(), signal.SIGINT)  # to the process: any of its threads may take it
    helper = threading.Thread(target=other)
    helper.start()
    looks[0] = 0
    try:
        threading.Thread(target=send).start()
        while True:
            with cond:
                if not contended:
                    cond.wait(1)
    except KeyboardInterrupt:
        pass
    most_looks = max(most_looks, looks[0])
    done[0] = True
    helper.join(1)
    if helper.is_alive() or cond._lock.locked():
        left_taken += 1
        break
print(left_taken, most_looks)
"""


def busy_probe(mode: str, trials: int) -> tuple[int, int]:
    result = subprocess.run(
        [sys.executable, "-c", BUSY_PROBE, mode, str(trials)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    left_taken, most_looks = map(int, result.stdout.split())
    return left_taken, most_looks


def test_a_stop_in_a_wait_another_thread_keeps_waking_comes_at_once() -> None:
    left_taken, most_looks = busy_probe("notified", 40)
    assert left_taken == 0
    assert most_looks <= 10  # 2 ms apart: the stop came within about 20 ms of the signal


def test_a_stop_while_another_thread_holds_the_lock_leaves_it_free() -> None:
    assert busy_probe("contended", 30)[0] == 0


#: Ctrl-C while the main thread waits, with nothing to wake it for a second, in each of the ways
#: the CLI's main thread waits: prints how many times each stop was put off.
WAITS_PROBE = COUNTING + """
import queue
main = threading.get_ident()
def interrupt_soon():
    time.sleep(0.05)
    signal.pthread_kill(main, signal.SIGINT)
cond, event, items = threading.Condition(), threading.Event(), queue.Queue()
waits = {
    "condition": lambda: cond.wait(),
    "event": lambda: event.wait(),
    "event with a timeout": lambda: event.wait(5),
    "queue": lambda: items.get(timeout=5),
}
for name, wait in waits.items():
    looks[0] = 0
    threading.Thread(target=interrupt_soon).start()
    try:
        with cond if name == "condition" else threading.Lock():
            wait()
    except KeyboardInterrupt:
        print(name, looks[0])
looks[0] = 0
worker = threading.Thread(target=time.sleep, args=(1,))
worker.start()
threading.Thread(target=interrupt_soon).start()
try:
    worker.join()
except KeyboardInterrupt:
    print("thread", looks[0])
"""


def test_a_stop_in_every_kind_of_wait_comes_at_once() -> None:
    result = subprocess.run(
        [sys.executable, "-c", WAITS_PROBE], capture_output=True, text=True, timeout=60, check=True
    )
    looks = dict(line.rsplit(" ", 1) for line in result.stdout.splitlines())
    assert set(looks) == {"condition", "event", "event with a timeout", "queue", "thread"}
    assert all(int(n) <= 2 for n in looks.values()), looks
