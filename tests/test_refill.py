"""When playback resumes after a gap (`Refill`, pure: the tests give the times)."""

from __future__ import annotations

from smallest_cli.output.player import (
    MAX_HOLD_SECONDS,
    RESUME_HORIZON_SECONDS,
    SOURCE_IDLE_SECONDS,
    Refill,
)

RATE = 24000
CHUNK = 480  # 20 ms, as the server streams it
THRESHOLD = 1520  # the start's: a host buffer of 1040 frames plus one chunk


def resumes_after(speed: float, chunks: int = 400) -> tuple[int, float]:
    """(frames queued, seconds since the gap) when a source at `speed` times real time, sending
    20 ms chunks, may resume."""
    refill, queued = Refill(RATE), 0
    refill.gap()
    for n in range(chunks):
        now = n * CHUNK / RATE / speed
        refill.arrived(CHUNK, now)
        queued += CHUNK
        if refill.ready(queued, THRESHOLD, now):
            return queued, now
    raise AssertionError("never resumed")


def test_a_source_faster_than_real_time_resumes_at_the_threshold() -> None:
    at_threshold = 4 * CHUNK  # the first chunk that brings the queue to the threshold
    assert resumes_after(3.3)[0] == at_threshold
    assert resumes_after(1.0)[0] == at_threshold


def test_a_source_slower_than_real_time_resumes_with_enough_to_play_the_horizon() -> None:
    """At 0.8x real time, 0.4 s queued plays for 2 s before the queue runs dry again: the
    source adds 0.8 s of audio per second played while the queue loses 1 s."""
    for speed in (0.8, 0.7):
        queued, waited = resumes_after(speed)
        need = (1 - speed) * RESUME_HORIZON_SECONDS * RATE
        assert need <= queued < need + CHUNK and waited < MAX_HOLD_SECONDS
        assert queued / RATE / (1 - speed) >= RESUME_HORIZON_SECONDS  # it lasts the horizon


def test_a_very_slow_source_pauses_at_most_the_longest_hold() -> None:
    """At 0.5x real time the horizon would take 2 s to queue; it resumes after one, with what
    has come (the chunk that arrives at 1 s is the first to see the hold that long)."""
    queued, waited = resumes_after(0.5)
    assert waited == MAX_HOLD_SECONDS
    assert queued == 26 * CHUNK  # 1 s at 0.5x: 25 chunks after the first


def test_nothing_resumes_before_audio_arrives_after_the_gap() -> None:
    refill = Refill(RATE)
    refill.arrived(CHUNK, 0.0)
    refill.gap()
    assert not refill.ready(THRESHOLD * 4, THRESHOLD, 5.0)  # what was queued before: nothing new


def test_one_burst_that_fills_the_threshold_resumes_at_once() -> None:
    refill = Refill(RATE)
    refill.gap()
    refill.arrived(THRESHOLD, 1.0)
    assert refill.ready(THRESHOLD, THRESHOLD, 1.0)


def test_a_source_that_went_quiet_resumes_with_what_there_is() -> None:
    """The end of a segment or live text between two sentences: holding gains nothing."""
    refill = Refill(RATE)
    refill.gap()
    refill.arrived(CHUNK, 1.75)
    refill.arrived(CHUNK, 2.0)
    assert not refill.ready(2 * CHUNK, THRESHOLD, 2.0 + SOURCE_IDLE_SECONDS / 2)
    assert refill.ready(2 * CHUNK, THRESHOLD, 2.0 + SOURCE_IDLE_SECONDS)
    assert not refill.ready(0, THRESHOLD, 9.0)  # nothing to play
