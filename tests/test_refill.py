"""When playback resumes after a gap (`Refill`, pure: the tests give the times)."""

from __future__ import annotations

from smallest_cli.output.player import (
    MAX_HOLD_SECONDS,
    RATE_WINDOW_SECONDS,
    RESUME_HORIZON_SECONDS,
    SOURCE_IDLE_SECONDS,
    Refill,
)

RATE = 24000
CHUNK = 480  # 20 ms, as the server streams it
THRESHOLD = 1520  # the start's: a host buffer of 1040 frames plus one chunk
TICK = 0.005  # how often the test asks, as a device's callbacks would


def resumes_after(speed: float, paused: float = 0.0, burst: int = 1) -> tuple[int, float]:
    """(frames queued, seconds since the first arrival) when a source at `speed` times real time
    may resume. It sends 20 ms chunks, `burst` of them at a time; its first audio comes `paused`
    seconds after the gap."""
    refill, queued = Refill(RATE), 0
    refill.gap(-paused)
    every = burst * CHUNK / RATE / speed
    for step in range(round(10 / TICK)):
        now = step * TICK
        while queued < CHUNK * burst * (now // every + 1):
            refill.arrived(CHUNK, now)
            queued += CHUNK
        if refill.ready(queued, THRESHOLD, now):
            return queued, now
    raise AssertionError("never resumed")


def test_a_source_that_had_paused_resumes_with_its_first_audio() -> None:
    """The next live sentence, or a source after a stall: its pause made the gap, not its speed."""
    assert resumes_after(3.3, paused=SOURCE_IDLE_SECONDS) == (CHUNK, 0.0)
    assert resumes_after(0.8, paused=SOURCE_IDLE_SECONDS) == (CHUNK, 0.0)


def test_a_source_that_kept_coming_is_measured_before_it_resumes() -> None:
    queued, waited = resumes_after(3.3)
    assert waited == RATE_WINDOW_SECONDS and queued >= THRESHOLD


def test_a_source_slower_than_real_time_resumes_with_enough_to_play_the_horizon() -> None:
    """At 0.8x real time, 0.4 s queued plays for 2 s before the queue runs dry again: the
    source adds 0.8 s of audio per second played while the queue loses 1 s."""
    for speed in (0.8, 0.7):
        queued, waited = resumes_after(speed)
        need = (1 - speed) * RESUME_HORIZON_SECONDS * RATE
        assert need <= queued < need + CHUNK and waited < MAX_HOLD_SECONDS
        assert queued / RATE / (1 - speed) >= RESUME_HORIZON_SECONDS  # it lasts the horizon


def test_a_source_in_bursts_is_measured_over_more_than_one() -> None:
    """Five chunks every 125 ms (0.8x real time, as a slow link delivers): within a burst the
    rate looks far faster than real time; over the window it does not."""
    queued, waited = resumes_after(0.8, burst=5)
    assert waited >= RATE_WINDOW_SECONDS
    assert queued >= 3 * 5 * CHUNK  # three bursts: it plays 1.5 s before it runs dry again


def test_a_very_slow_source_pauses_at_most_the_longest_hold() -> None:
    """At 0.5x real time the horizon would take 2 s to queue; it resumes after one with what
    has come."""
    queued, waited = resumes_after(0.5)
    assert waited == MAX_HOLD_SECONDS
    assert abs(queued - 0.5 * MAX_HOLD_SECONDS * RATE) <= CHUNK  # what came in that second


def test_nothing_resumes_before_audio_arrives_after_the_gap() -> None:
    refill = Refill(RATE)
    refill.arrived(CHUNK, 0.0)
    refill.gap(0.0)
    assert not refill.ready(THRESHOLD * 4, THRESHOLD, 5.0)  # what was queued before: nothing new


def test_a_source_that_went_quiet_resumes_with_what_there_is() -> None:
    """The end of a segment or live text between two sentences: holding gains nothing."""
    refill = Refill(RATE)
    refill.gap(1.75)
    refill.arrived(CHUNK, 1.75)
    refill.arrived(CHUNK, 2.0)
    assert not refill.ready(2 * CHUNK, THRESHOLD, 2.0 + SOURCE_IDLE_SECONDS / 2)
    assert refill.ready(2 * CHUNK, THRESHOLD, 2.0 + SOURCE_IDLE_SECONDS)
    assert not refill.ready(0, THRESHOLD, 9.0)  # nothing to play
