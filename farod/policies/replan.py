"""When the world leaves the forecast: replan early, but not often.

Example::

    >>> from farod.policies.base import JobObservation, Observation
    >>> watch = BandWatch(after_s=30, min_interval_s=60, tick_s=10, step_s=60)
    >>> watch.planned(0.0, {"a/m": Band(low=np.full(7, 5.0), middle=np.full(7, 8.0), high=np.full(7, 10.0))})
    >>> seen = lambda t, rps: Observation(now=t, quota={"cpu": 4}, jobs={"a/m": JobObservation(
    ...     history=np.zeros(0), request_rate=rps, replicas=2)})
    >>> [watch.departures(seen(t, 16.0)) for t in (40, 50, 60)]
    [{}, {}, {'a/m': 2.0}]

A plan is sized for the next minutes' forecast. Between plans Faro's reactive fallback adds a replica
where the SLO is missed, but only from idle quota, which a plan that spends everything leaves none of:
when one job's load jumps, the replicas it needs sit with jobs that need fewer than planned until the
next plan, up to five minutes later. :class:`BandWatch` remembers each job's forecast band
(``low``..``high`` quantile per step) and reports a job whose observed request rate (the 30-s window
every tick sees, live and simulated alike) stays outside it for ``after_s`` -- the one delay rule of
:mod:`farod.policies.hysteresis` -- so that the policy can replan at once. Churn stays bounded: no early
replan within ``min_interval_s`` of the last plan, and a departure must persist to count (the policy
then replans only for reported jobs whose replicas would miss the SLO at the observed rate).

Each reported job comes with its *level shift*, the observed rate over the forecast's middle for the
current step (bounded to ``[1/MAX_SHIFT, MAX_SHIFT]``): the history only holds completed minutes, so
the replan scales that job's forecast by it instead of waiting for the forecaster to see the jump.
With ``below=False`` only load above the band counts: a job below its band misses no SLO, and its
spare replicas are redistributed at the next plan anyway.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Mapping
from typing import NamedTuple

import numpy as np

from farod.policies.base import Observation
from farod.policies.hysteresis import Hysteresis

MAX_SHIFT = 4.0


@dataclasses.dataclass(frozen=True)
class Band:
    """A job's forecast rates (requests/s) per step: the band's edges and its middle."""

    low: np.ndarray
    middle: np.ndarray
    high: np.ndarray

    def union(self, other: Band) -> Band:
        """Both bands' widest edges, this one's middle."""
        return Band(low=np.minimum(self.low, other.low), middle=self.middle, high=np.maximum(self.high, other.high))


class Edges(NamedTuple):
    """A band at one step, requests/s."""

    low: float
    middle: float
    high: float


class PlannedBands:
    """The bands the last plan drew, one per job, and where each reading falls in them."""

    def __init__(self, *, step_s: float):
        self.step_s = float(step_s)
        self.planned(-math.inf, {})

    def planned(self, now: float, bands: Mapping[str, Band]) -> None:
        self.planned_at = float(now)
        self._bands = dict(bands)

    def readings(self, observation: Observation) -> Iterator[tuple[str, float | None, Edges]]:
        """Each job's request rate (None when stale, missing or not finite) with its band's edges at
        the observation's time."""
        since = max(observation.now - self.planned_at, 0.0)
        for key, band in self._bands.items():
            reading = observation.jobs.get(key)
            step = min(int(since // self.step_s), band.middle.size - 1)
            rate = None if reading is None or reading.stale else reading.request_rate
            finite = rate is not None and math.isfinite(rate)
            yield key, rate if finite else None, Edges(band.low[step], band.middle[step], band.high[step])


class BandWatch:
    def __init__(self, *, after_s: float, min_interval_s: float, tick_s: float, step_s: float, below: bool = True):
        self.below = below  # whether load below the band counts as leaving it
        self.after_s = float(after_s)
        self.min_interval_s = float(min_interval_s)
        self.tick_s = float(tick_s)
        self._bands = PlannedBands(step_s=step_s)
        self.planned(-math.inf, {})

    def planned(self, now: float, bands: Mapping[str, Band]) -> None:
        """A plan was made at ``now`` for these bands: watch them from here on."""
        self._bands.planned(now, bands)
        self._held = Hysteresis(up_s=self.after_s, down_s=self.after_s, tick_s=self.tick_s)
        self._departed: dict[str, int] = {}  # jobs out of their band for long enough -> direction

    def departures(self, observation: Observation) -> dict[str, float]:
        """Jobs whose rate has stayed outside their band for ``after_s``, with their level shift.

        Empty within ``min_interval_s`` of the last plan; a job that left its band meanwhile is
        reported once the interval is over, if it is still out on the same side.
        """
        left = {}
        for key, rate, edges in self._bands.readings(observation):
            direction = 0
            if rate is not None:
                direction = 1 if rate > edges.high else -1 if self.below and rate < edges.low else 0
            if self._held.update(key, direction, now=observation.now):
                self._departed[key] = direction
            if self._departed.get(key, 0) != direction:  # back in the band, or the other way now
                self._departed.pop(key, None)
            elif key in self._departed:
                shift = rate / edges.middle if edges.middle > 0 else MAX_SHIFT
                left[key] = float(np.clip(shift, 1.0 / MAX_SHIFT, MAX_SHIFT))
        return left if self.settled(observation.now) else {}

    def settled(self, now: float) -> bool:
        """Is the last plan at least ``min_interval_s`` old, so that another may follow?"""
        return now - self._bands.planned_at >= self.min_interval_s
