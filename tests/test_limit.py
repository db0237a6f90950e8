"""run/limit.AdaptiveLimit: how many requests may be in flight, learned from 429s, on a fake clock."""

from __future__ import annotations

import threading

import pytest

from smallest_cli.run.limit import AdaptiveLimit, Permit
from tests.helpers import wait_until


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def take(limit: AdaptiveLimit, order: int) -> Permit | None:
    """A permit if one is free for `order` now (never waits: stopped from the second look on)."""
    looks = iter((False,))
    return limit.acquire(order, stop=lambda: next(looks, True), poll=0)


def test_a_rejection_lowers_the_limit_to_the_others_in_flight_and_is_not_counted() -> None:
    limit = AdaptiveLimit(4, clock=Clock())
    permits = [take(limit, i) for i in range(4)]
    assert all(permits) and limit.in_flight == 4
    # The account allows one: three of the four are refused, one after another.
    assert limit.rejected(permits[0]) is True and limit.limit == 3
    assert limit.rejected(permits[1]) is True and limit.limit == 2
    assert limit.rejected(permits[3]) is True and limit.limit == 1
    assert limit.in_flight == 1
    # The rejected requests wait for their turn: no permit while the one accepted runs.
    assert take(limit, 0) is None
    limit.done(permits[2])
    again = take(limit, 0)
    assert again is not None and not again.crowded
    assert limit.settled() == 1
    assert limit.settled() is None  # said once


def test_a_request_refused_alone_at_a_limit_of_one_counts_as_a_retry() -> None:
    limit = AdaptiveLimit(1, clock=Clock())
    permit = take(limit, 0)
    assert permit is not None and not permit.crowded
    assert limit.rejected(permit) is False
    assert limit.limit == 1 and limit.in_flight == 0


def test_a_request_granted_first_is_crowded_by_those_granted_after_it() -> None:
    """The first request goes out alone, two more follow before its answer, and the account
    refuses all three, the first one last: its refusal may be the others' doing, so it goes
    again uncounted, although the limit (already 1) does not drop."""
    limit = AdaptiveLimit(3, clock=Clock())
    first = take(limit, 0)
    assert first is not None and not first.crowded
    later = [take(limit, 1), take(limit, 2)]
    assert all(later) and first.crowded
    assert limit.rejected(later[0]) is True and limit.rejected(later[1]) is True
    assert limit.limit == 1
    assert limit.rejected(first) is True


def test_a_request_refused_alone_above_a_limit_of_one_is_not_counted_once() -> None:
    """The last request of a run, alone, refused: the limit could still drop, so it goes again
    uncounted at a limit of 1; refused again, it counts."""
    limit = AdaptiveLimit(3, clock=Clock())
    permit = take(limit, 0)
    assert permit is not None
    assert limit.rejected(permit) is True and limit.limit == 1
    permit = take(limit, 0)
    assert permit is not None
    assert limit.rejected(permit) is False


def succeed(limit: AdaptiveLimit, orders: range) -> None:
    for order in orders:
        permit = take(limit, order)
        assert permit is not None
        limit.done(permit)


def test_successes_in_a_row_probe_one_higher_once_rested() -> None:
    clock = Clock()
    limit = AdaptiveLimit(3, probe_after=2, probe_interval=5.0, clock=clock)
    first, second = take(limit, 0), take(limit, 1)
    assert first and second
    limit.rejected(second)
    assert limit.limit == 1
    limit.release(first)
    succeed(limit, range(2, 6))
    assert limit.limit == 1  # successes in a row, but too soon after the rejection
    clock.now += 5.0
    succeed(limit, range(6, 7))
    assert limit.limit == 2
    succeed(limit, range(7, 8))
    assert limit.limit == 2  # the streak starts over after each raise
    succeed(limit, range(8, 9))
    assert limit.limit == 3
    succeed(limit, range(10, 14))
    assert limit.limit == 3  # never above the ceiling


def test_permits_go_in_order_and_a_later_request_gives_way() -> None:
    limit = AdaptiveLimit(2, clock=Clock())
    later, other = take(limit, 5), take(limit, 6)
    assert later and other
    assert limit.rejected(other) and limit.limit == 1
    assert take(limit, 6) is None  # order 5 holds the one permit
    assert not limit.give_way(later)  # nobody before it waits
    got: list[Permit | None] = []
    first = threading.Thread(target=lambda: got.append(limit.acquire(1, stop=lambda: False, poll=0.01)))
    first.start()
    # Order 1 (needed first) waits: the later request holding the permit gives way to it.
    wait_until(lambda: limit.give_way(later), message="order 1 to wait")
    first.join(timeout=10)
    assert got and got[0] is not None and got[0].order == 1
    assert take(limit, 6) is None  # order 1 has it now
    limit.done(got[0])
    assert take(limit, 6) is not None


def test_a_permit_is_given_back_once() -> None:
    limit = AdaptiveLimit(2, clock=Clock())
    permit = take(limit, 0)
    assert permit is not None
    limit.release(permit)
    limit.release(permit)
    limit.done(permit)
    assert limit.in_flight == 0


def test_the_ceiling_must_be_positive() -> None:
    with pytest.raises(ValueError):
        AdaptiveLimit(0)


def test_a_stopped_run_gets_no_permit_even_with_a_slot_free() -> None:
    """After a failure or Ctrl-C, waiting requests must not be sent (each would be billed)."""
    limit = AdaptiveLimit(4)
    assert limit.acquire(0, stop=lambda: True) is None
    assert limit.in_flight == 0
