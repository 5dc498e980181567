"""The per-step arrival history plans see, anchored at a UTC midnight so that earlier days line up.

Example::

    history = ArrivalHistory(signals=signals, jobs=jobs, hours=24, days=7)
    history.refresh(now=time.time())      # first call: backfill from the anchor; later: new minutes only
    history.train["serve-cluster0/classifier"].shape        # the 7 whole UTC days before today
    # -> (7, 1440)
    history.series["serve-cluster0/classifier"].size % 1440  # minutes since today's UTC midnight
    # -> 1011

Why a midnight: the default forecaster (``seasonal``) learns from earlier days of the job (``train``,
days x steps of the daily window) and finds today's place in the day from the length of the history:
``history[t]`` is step ``t mod steps_per_day`` of a UTC day. So the history starts at a UTC midnight
(``days`` whole days before today's, earlier still if ``hours`` reach further back) and the train rows
are the last ``days`` whole days before the midnight the daemon started after. The train is built once,
at the first load: the policy is created with it and keeps it across reloads.

Why incremental: a week is ~10,000 points per job. After the backfill (chunked below Prometheus' 11,000
points per series) a refresh fetches only the steps since the previous one, plus ``OVERLAP_STEPS``
already seen, because a step's count can still change while its samples arrive. Whole days drop off the
front as days pass, so memory stays bounded and the alignment holds.

Gaps stay NaN: the forecasters bridge them, and "no data" must never read as "no load". A job with no
sample at all has an empty history (it is not planned until it has one), and a day more than
``MAX_MISSING`` missing is not a train row -- a job with fewer than two usable days just has fewer rows,
and its forecaster falls back on today's history alone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from farod.errors import FarodError
from farod.jobs import JobSpec
from farod.signals.prometheus import PrometheusSignals

DAY_S = 86400
OVERLAP_STEPS = 5  # steps fetched again at every refresh: their counts may have been incomplete
MAX_MISSING = 0.5  # a day with more missing steps than this teaches the forecaster nothing


class ArrivalHistory:
    """Arrivals per step of every job since a UTC-midnight anchor, loaded once and then extended."""

    def __init__(self, *, signals: PrometheusSignals, jobs: Mapping[str, JobSpec], hours: float = 24.0,
                 days: int = 0, step_s: float = 60.0):
        if step_s <= 0 or DAY_S % step_s:
            raise FarodError(f"policy.params.step_s: must divide a day (86400 s) so that days align, got {step_s:g}")
        self.signals = signals
        self.jobs = dict(jobs)
        self.hours = hours
        self.days = days
        self.step_s = float(step_s)
        self.steps_per_day = int(DAY_S // step_s)
        self.anchor: float | None = None  # the UTC midnight of history[0]; None until the first load
        self.series: dict[str, np.ndarray] = {key: np.zeros(0) for key in self.jobs}  # what plans see
        self.train: dict[str, np.ndarray] = {}  # job -> (days x steps_per_day) of whole earlier days
        self._values: dict[str, np.ndarray] = {}  # job -> steps since the anchor, NaN where missing
        self._kept_days = 0  # whole days before "today" kept in memory
        self._fetched_until = 0.0  # end of the last step fetched

    @property
    def loaded(self) -> bool:
        return self.anchor is not None

    def refresh(self, now: float) -> None:
        """Backfill (first call) or fetch the new steps; raises PrometheusUnavailable, keeping what it had."""
        end = math.floor(now / self.step_s) * self.step_s  # the end of the last complete step
        if self.anchor is None:
            self._backfill(now, end)
        elif end > self._fetched_until:
            self._extend(end)
        self._drop_old_days()
        self.series = {key: values if np.isfinite(values).any() else np.zeros(0)
                       for key, values in self._values.items()}

    def _backfill(self, now: float, end: float) -> None:
        today = _midnight(now)
        anchor = _midnight(min(now - self.hours * 3600, today - self.days * DAY_S))
        self._values = self._fetch(first_step=0, anchor=anchor, end=end)
        self.anchor, self._fetched_until = anchor, end
        self._kept_days = int(round((today - anchor) / DAY_S))
        if self.days:
            self.train = self._earlier_days(first_day=self._kept_days - self.days, last_day=self._kept_days)

    def _extend(self, end: float) -> None:
        steps = self._steps_until(end)
        first_step = max(self._steps_until(self._fetched_until) - OVERLAP_STEPS, 0)
        fresh = self._fetch(first_step=first_step, anchor=self.anchor, end=end)
        for key, values in self._values.items():
            grown = np.concatenate([values, np.full(steps - values.size, np.nan)])
            window = grown[first_step:]
            # A step seen before keeps its count when Prometheus no longer has it.
            grown[first_step:] = np.where(np.isfinite(fresh[key]), fresh[key], window)
            self._values[key] = grown
        self._fetched_until = end

    def _fetch(self, *, first_step: int, anchor: float, end: float) -> dict[str, np.ndarray]:
        """Steps ``first_step`` .. up to ``end`` after ``anchor``; step t is the count of (t, t + 1] steps."""
        count = int(round((end - anchor) / self.step_s)) - first_step
        if count < 1:
            return {key: np.zeros(0) for key in self.jobs}
        return self.signals.arrivals(self.jobs, start=anchor + (first_step + 1) * self.step_s, steps=count,
                                     step_s=self.step_s)

    def _steps_until(self, end: float) -> int:
        return int(round((end - self.anchor) / self.step_s))

    def _drop_old_days(self) -> None:
        """Keep ``_kept_days`` whole days before the current one; dropping whole days keeps the alignment."""
        length = next(iter(self._values.values())).size if self._values else 0
        extra_days = max(length // self.steps_per_day - self._kept_days, 0)
        if extra_days:
            cut = extra_days * self.steps_per_day
            self._values = {key: values[cut:] for key, values in self._values.items()}
            self.anchor += extra_days * DAY_S

    def _earlier_days(self, *, first_day: int, last_day: int) -> dict[str, np.ndarray]:
        """Per job, the whole days in [first_day, last_day) that are at most MAX_MISSING missing."""
        train = {}
        for key, values in self._values.items():
            rows = [values[day * self.steps_per_day:(day + 1) * self.steps_per_day]
                    for day in range(max(first_day, 0), last_day)]
            usable = [row for row in rows if row.size == self.steps_per_day and
                      np.isnan(row).mean() <= MAX_MISSING]
            if usable:
                train[key] = np.array(usable)
        return train


def _midnight(timestamp: float) -> float:
    """The UTC midnight at or before ``timestamp`` (Unix time has no leap seconds: days are 86400 s)."""
    return math.floor(timestamp / DAY_S) * DAY_S
