"""How late the event loop ran while a run was in flight: the run's measurement error bound.

A probe reads its clock in callbacks (the builtin client in its socket callbacks). If the
loop was busy (another run's work, a scrape, a stall) when a reply arrived, the callback
ran late and the run reads slow by that delay. Nothing inside the process can see when the
bytes reached the socket, but it can see the loop being late: while any run is in flight a
timer fires every TICK seconds and notes how late it ran. A callback delayed by D seconds
means the loop was busy from the data's arrival on, so a tick due in the first TICK of that
busy spell ran at least D - TICK late. Hence the bound of a run: TICK plus the worst
lateness of the ticks that ran between the run's start and its end, counting the tick still
pending at the end (late by now - due). It covers the loop's delay in noticing events;
it does not cover the kernel's or the network's time, nor the process being off-CPU while
the loop was idle in epoll (a preemption then is only seen if it delays a tick).
The timer runs only while runs are in flight, so an idle agent pays nothing.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from time import perf_counter as perf

TICK = 0.001  # the bound's resolution: a run's bound is at least this
KEEP = 16_384  # late ticks remembered: about 16 s of ticks at TICK


class LoopWatch:
    """One per event loop (see `of`); `enter` when a run starts, `leave` when it ends."""

    __slots__ = ("_evicted", "_handle", "_late", "_loop", "_next_due", "_ran", "_users")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._users = 0
        self._handle: asyncio.TimerHandle | None = None
        self._next_due = 0.0
        # When each late tick ran and how late it was, as two deques of floats, not one of
        # (ran, late) tuples: a tuple is a GC-tracked object, and a thousand a second that
        # each push an old one out left the youngest GC generation holding ~12,000 objects,
        # so every gen-0 collection stalled the loop for 2 ms. Floats are not tracked.
        self._ran: deque[float] = deque(maxlen=KEEP)
        self._late: deque[float] = deque(maxlen=KEEP)
        self._evicted = 0.0  # worst lateness that fell off the deques: used when a run outlives it

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> LoopWatch:
        watch = _WATCHES.get(loop)
        if watch is None:
            watch = _WATCHES[loop] = cls(loop)
        return watch

    @property
    def ticking(self) -> bool:
        """Whether the timer is armed: only while some run is in flight."""
        return self._handle is not None

    def enter(self) -> float:
        """A run starts: tick while it is in flight. Returns the perf time to pass to `leave`."""
        now = perf()
        if self._users == 0:
            self._next_due = now + TICK
            self._handle = self._loop.call_later(TICK, self._tick)
        self._users += 1
        return now

    def leave(self, since: float) -> float:
        """A run that entered at `since` ends: its error bound in seconds."""
        now = perf()
        worst = max(0.0, now - self._next_due)  # the pending tick: how late the loop is now
        ran_at = self._ran
        if len(ran_at) == KEEP and ran_at[0] >= since:
            worst = max(worst, self._evicted)  # the run outlived the memory: stay an upper bound
        for ran, late in zip(reversed(ran_at), reversed(self._late), strict=True):
            if ran < since:
                break
            worst = max(worst, late)
        self._users -= 1
        if self._users == 0 and self._handle is not None:
            self._handle.cancel()
            self._handle = None
        return worst + TICK

    def _tick(self) -> None:
        now = perf()
        late = now - self._next_due
        if late > 0.0:
            lates = self._late
            if len(lates) == KEEP and lates[0] > self._evicted:
                self._evicted = lates[0]
            self._ran.append(now)
            lates.append(late)
        self._next_due = now + TICK
        self._handle = self._loop.call_later(TICK, self._tick)


_WATCHES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopWatch] = (
    weakref.WeakKeyDictionary()
)
