"""Act only on a signal that has held for long enough: the delay windows of reactive autoscalers.

Example::

    >>> window = Hysteresis(up_s=30, down_s=600, tick_s=10)
    >>> [window.update("a", +1, now=t) for t in (0, 10, 20)]
    [False, False, True]

Every reactive policy in farod shares this one idea: a wish to scale up (``+1``) or down (``-1``) must
persist, uninterrupted, for ``up_s`` or ``down_s`` seconds before it is acted on; a neutral reading
(``0``) or a reversal restarts the clock, and acting restarts it too. AIAD, Oneshot and Ray Serve's
``upscale_delay_s``/``downscale_delay_s`` are all this rule, and so is Faro's reactive fallback.

One counting rule for all of them: a reading taken every ``tick_s`` stands for the ``tick_s`` before
it, so ``n`` consecutive readings in one direction have held for ``n · tick_s``. A 30-s delay acts on
the 3rd consecutive 10-s reading, a 600-s delay on the 60th, and "3 consecutive checks" is a 30-s
delay: the way the Faro artifact counts, and the way Ray Serve counts its 0.1-s control loops
(``upscale_delay_s / period`` consecutive decisions).

Durations are measured on the observation clock, never in ticks: a late or skipped tick does not
stretch or shrink a window, and the same object runs on simulated, fake and wall-clock time.
"""

from __future__ import annotations

import math

from farod.policies.base import JobObservation

# Float clocks (sums of 10.0 s steps, wall time) may land a hair before the boundary.
_EPSILON_S = 1e-6


class Hysteresis:
    """Per-job "has this direction held for its delay?" with one clock per job."""

    def __init__(self, *, up_s: float, down_s: float = math.inf, tick_s: float):
        self.delays = {+1: float(up_s), -1: float(down_s)}
        self.tick_s = float(tick_s)  # the span the first reading of a run stands for
        self._since: dict[str, tuple[int, float]] = {}  # job -> (direction, first seen)

    def update(self, job: str, direction: int, *, now: float) -> bool:
        """Record ``direction`` (+1, -1 or 0) for ``job`` at ``now``; True when it is time to act."""
        if direction == 0:
            self._since.pop(job, None)
            return False
        held_direction, since = self._since.get(job, (direction, now))
        if held_direction != direction:
            since = now
        if now - since + self.tick_s + _EPSILON_S >= self.delays[direction]:
            self._since.pop(job, None)
            return True
        self._since[job] = (direction, since)
        return False


def latency_direction(reading: JobObservation, slo_ms: float) -> int:
    """+1 when the windowed mean latency is above the SLO, -1 when below, 0 when unknown.

    An idle job (no requests in the window, so no latency) reads as below the SLO: it does not need its
    replicas. A stale job or a missing latency with traffic reads as unknown: never act on no data.
    """
    if reading.stale:
        return 0
    latency = reading.mean_latency_ms
    if latency is None:
        return -1 if reading.request_rate == 0 else 0
    return +1 if latency > slo_ms else -1 if latency < slo_ms else 0
