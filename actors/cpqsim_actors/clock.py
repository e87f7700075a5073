"""Virtual time for the live runtime: wall seconds since the run's t0, divided by the scale.

Live event times use the same axis as the sim (``at(virtual seconds)``), so a live
timeline reads like a simulated one. Each process anchors the run's wall-clock t0 to its
own monotonic clock once, then uses only the monotonic clock: times never go backwards
inside an actor, and actors on one host agree to well under a millisecond.
"""

from __future__ import annotations

import time
from datetime import datetime

from cpqsim.context import at


class VirtualClock:
    def __init__(self, t0_wall: float, time_scale: float) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be > 0 (wall seconds per virtual second)")
        self.time_scale = time_scale
        self.t0_wall = t0_wall
        # Anchor once: after this only the monotonic clock is read.
        self._t0_mono = time.monotonic() - (time.time() - t0_wall)
        self._last = 0.0

    def now_s(self) -> float:
        """Virtual seconds since t0; never decreases within this process."""
        now = max(0.0, (time.monotonic() - self._t0_mono) / self.time_scale)
        self._last = max(self._last, now)
        return self._last

    def now(self) -> datetime:
        return at(self.now_s())

    def wall(self, virtual_s: float) -> float:
        """Wall seconds that ``virtual_s`` virtual seconds take."""
        return max(0.0, virtual_s) * self.time_scale

    def wall_until(self, virtual_t: float) -> float:
        """Wall seconds from now until virtual instant ``virtual_t`` (0 if already past)."""
        return self.wall(virtual_t - self.now_s())
