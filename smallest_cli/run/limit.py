"""How many requests may be in flight at once, learned from the server's rejections (AIMD-like).

The account's concurrency is not known in advance: `--concurrency` is what the user asks for, and
the account may allow fewer (other clients of the account use it too). `AdaptiveLimit` starts at
that ceiling. A rejection (429 before any audio) lowers the limit to the number of other requests
still in flight, at least 1; the rejected request then waits for its turn again, and does not count
as a retry while its rejection may be the run's own doing (others were in flight with it, or the
limit could still drop). `probe_after` successes in a row, `probe_interval` seconds or more after
the last rejection, raise the limit by one, up to the ceiling: the account's limit may have grown.

Permits go to the lowest `order` waiting (the request the caller needs first): a request never
waits behind those after it. A request after it that holds a permit and can go no further (its
buffer is full) gives the permit back (`give_way`). Used by run/scheduler.py for --concurrency,
and by anything else that runs many requests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

#: Successes in a row before the limit is raised by one again.
PROBE_AFTER = 4
#: Seconds after the last rejection before the limit is raised: each raise over the account's
#: limit costs a rejected request.
PROBE_INTERVAL_S = 5.0
_POLL_S = 0.1


@dataclass(eq=False)
class Permit:
    """One request in flight. `crowded`: other requests were in flight at some moment while it
    was held (granted before it, or after it while it waited for the server's answer)."""

    order: int
    crowded: bool
    spent: bool = False


class AdaptiveLimit:
    """Permits for up to `limit` requests at once; see the module docstring."""

    def __init__(
        self,
        ceiling: int,
        probe_after: int = PROBE_AFTER,
        probe_interval: float = PROBE_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ceiling < 1:
            raise ValueError(f"the limit must be at least 1, not {ceiling}")
        self.ceiling = ceiling
        self.limit = ceiling
        self._probe_after = probe_after
        self._probe_interval = probe_interval
        self._clock = clock
        self._waiting: set[int] = set()
        #: The permits granted and not yet spent.
        self._held: list[Permit] = []
        self._streak = 0
        self._last_rejection: float | None = None
        self._reported = ceiling
        self._cond = threading.Condition()

    @property
    def in_flight(self) -> int:
        """Permits granted and not yet given back."""
        return len(self._held)

    def acquire(self, order: int, stop: Callable[[], bool], poll: float = _POLL_S) -> Permit | None:
        """A permit once `order` is the lowest waiting and the limit allows one more; None once
        `stop()` is true first."""
        with self._cond:
            self._waiting.add(order)
            try:
                while True:
                    # Stopped first: a run that failed or was interrupted sends no more requests,
                    # even when a slot is free.
                    if stop():
                        return None
                    if self.in_flight < self.limit and order == min(self._waiting):
                        return self._grant(order)
                    self._cond.wait(poll)
            finally:
                self._waiting.discard(order)
                self._cond.notify_all()

    def done(self, permit: Permit) -> None:
        """The request succeeded: after enough in a row, probe one higher."""
        with self._cond:
            if not self._spend(permit):
                return
            self._streak += 1
            last = self._last_rejection
            rested = last is None or self._clock() - last >= self._probe_interval
            if self.limit < self.ceiling and self._streak >= self._probe_after and rested:
                self.limit += 1
                self._streak = 0

    def rejected(self, permit: Permit) -> bool:
        """The server refused the request (429) before it started: lower the limit to the others
        in flight (at least 1). True when the rejection may be the run's own doing (it was sent
        with others, or it lowered the limit): send it again without counting a retry."""
        with self._cond:
            if not self._spend(permit):
                return False
            before = self.limit
            self.limit = max(1, min(self.limit, self.in_flight))
            self._streak = 0
            self._last_rejection = self._clock()
            return permit.crowded or self.limit < before

    def release(self, permit: Permit) -> None:
        """The request ended otherwise (failed, stopped): its permit is free. Once per permit;
        a permit already given back is left alone."""
        with self._cond:
            self._spend(permit)

    def give_way(self, permit: Permit) -> bool:
        """True (the permit given back) when a request before this one waits and no permit is
        free: the caller drops its request and waits for its turn again."""
        with self._cond:
            blocked = self.in_flight >= self.limit and min(self._waiting, default=permit.order) < permit.order
            return blocked and self._spend(permit)

    def settled(self) -> int | None:
        """The limit when lower than any returned before, else None: what to tell the user once,
        as a rejected request goes again."""
        with self._cond:
            if self.limit >= self._reported:
                return None
            self._reported = self.limit
            return self.limit

    def _grant(self, order: int) -> Permit:
        permit = Permit(order, crowded=bool(self._held))
        # A request already sent shares the account with this one from now on: a refusal it
        # gets may be this one's doing.
        for other in self._held:
            other.crowded = True
        self._held.append(permit)
        return permit

    def _spend(self, permit: Permit) -> bool:
        if permit.spent:
            return False
        permit.spent = True
        self._held.remove(permit)
        self._cond.notify_all()
        return True
