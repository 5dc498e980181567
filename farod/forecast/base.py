"""The one interface every forecaster implements, and the guards that keep its output usable.

Example::

    forecaster = MovingAverage(window=15)          # one instance per job series
    forecaster.update(np.array([80.0, 95, np.nan, 90]))   # the whole per-minute history so far
    forecaster.predict(3, [0.5, 0.9]).shape         # request counts, quantiles x minutes
    # -> (2, 3)

Why one shape for all of them: the simulator and the daemon call ``update`` then ``predict`` for every
job at every decision (300 s), with live data that has gaps, NaN, zeros and spikes and may be only a
few minutes long. So :meth:`Forecaster.predict` is the single place that validates the arguments and
turns whatever a model produced into counts that are finite, non-negative and non-decreasing across
quantiles; models only fill :meth:`Forecaster._predict`.

Most models here give a point forecast and borrow their spread from their own past mistakes
(:class:`ErrorQuantiles`): the q-quantile is the point plus the q-quantile of the h-step errors the
same rule made on earlier data, centred on the median error. That is distribution-free, calibrated per
job and per step, and costs a sort instead of a model fit.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from scipy import stats

from farod.errors import FarodError, FieldError
from farod.schema import show

# Fewer h-step errors than this and the empirical quantiles are noise: use Poisson spread instead.
MIN_ERRORS = 30
# How far back a gap may be bridged by carrying the last good count forward.
GAP_LOOKBACK_MINUTES = 1440


class Forecaster(abc.ABC):
    """Per-minute request counts of one job: ``update`` with the history, ``predict`` quantiles ahead."""

    name: ClassVar[str]

    def __init__(self) -> None:
        self.history = np.zeros(0)

    def update(self, history: np.ndarray) -> None:
        """Take the full per-minute count history so far, oldest first (NaN marks a gap)."""
        values = np.asarray(history, dtype=float)
        if values.ndim != 1:
            raise FarodError(f"history: must be a 1-D array of per-minute counts, got shape {values.shape}")
        self.history = values
        self._observe(values)

    def predict(self, horizon: int, quantiles: Sequence[float]) -> np.ndarray:
        """Counts for the next ``horizon`` minutes, shape ``(len(quantiles), horizon)``."""
        horizon = check_positive_int("horizon", horizon)
        levels = check_quantiles(quantiles)
        order = np.argsort(levels, kind="stable")
        bands = np.asarray(self._predict(horizon, levels[order]), dtype=float)
        bands = np.maximum(np.nan_to_num(bands, nan=0.0, posinf=0.0, neginf=0.0), 0.0)
        bands = np.maximum.accumulate(bands, axis=0)
        result = np.empty_like(bands)
        result[order] = bands
        return result

    def _observe(self, history: np.ndarray) -> None:
        """Hook for models that refit or filter when new minutes arrive; cheap by default."""

    @abc.abstractmethod
    def _predict(self, horizon: int, quantiles: np.ndarray) -> np.ndarray:
        """Quantiles (sorted ascending) x minutes; the caller cleans and orders the result."""


def check_quantiles(quantiles: Sequence[float]) -> np.ndarray:
    """Validate quantile levels at the boundary: a non-empty list of numbers strictly inside (0, 1)."""
    try:
        levels = np.asarray(list(quantiles), dtype=float)
    except (TypeError, ValueError):
        raise FarodError(f"quantiles: must be numbers in (0, 1), got {quantiles!r}") from None
    if levels.ndim != 1 or levels.size == 0 or not np.all((levels > 0) & (levels < 1)):
        raise FarodError(f"quantiles: must be a non-empty list of numbers in (0, 1), got {list(quantiles)!r}")
    return levels


def fill_gaps(values: np.ndarray) -> np.ndarray:
    """Carry the last good count over gaps (NaN, inf, negative); leading gaps take the first good one.

    A series with no good count at all becomes zeros: nothing observed, nothing to extrapolate.
    """
    values = np.array(values, dtype=float)
    good = np.isfinite(values) & (values >= 0)
    if good.all():
        return values
    if not good.any():
        return np.zeros_like(values)
    last_good = np.maximum.accumulate(np.where(good, np.arange(values.size), -1))
    last_good[last_good < 0] = np.flatnonzero(good)[0]
    return values[last_good]


def recent(history: np.ndarray, minutes: int) -> np.ndarray:
    """The last ``minutes`` of ``history`` with gaps filled from up to a day before them."""
    return fill_gaps(history[-(minutes + GAP_LOOKBACK_MINUTES) :])[-minutes:]


def window_means(cumulative: np.ndarray, ends: np.ndarray, window: int) -> np.ndarray:
    """Means of ``values[end - window:end]`` (shorter at the start) from ``cumulative = [0, cumsum(values)]``."""
    starts = np.maximum(ends - window, 0)
    return (cumulative[ends] - cumulative[starts]) / np.maximum(ends - starts, 1)


def cumulative(values: np.ndarray) -> np.ndarray:
    return np.concatenate(([0.0], np.cumsum(values)))


def poisson_bands(point: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    """Poisson spread around ``point`` (the least a count forecast can have), centred so 0.5 is the point."""
    means = np.maximum(np.nan_to_num(point), 0.0)
    spread = stats.poisson.ppf(quantiles[:, None], means[None, :]) - stats.poisson.ppf(0.5, means)[None, :]
    return point[None, :] + spread


class ErrorQuantiles:
    """Spread borrowed from past h-step errors (actual minus forecast), one column per step ahead.

    ``bands(point, quantiles)`` = ``point + quantile(errors) - median(errors)`` per step, so the 0.5
    quantile is the point forecast itself and higher quantiles add the headroom the rule needed before.
    Steps beyond the recorded ones reuse the last column; too few errors fall back to Poisson spread.
    """

    def __init__(self, errors: np.ndarray | None = None):
        self.errors = np.zeros((0, 1)) if errors is None or errors.size == 0 else errors
        self._offsets: dict[tuple, np.ndarray] = {}  # the same quantiles are asked for every decision

    def bands(self, point: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
        if self.errors.shape[0] < MIN_ERRORS:
            return poisson_bands(point, quantiles)
        key = (point.size, *quantiles.tolist())
        if key not in self._offsets:
            steps = np.minimum(np.arange(point.size), self.errors.shape[1] - 1)
            columns = self.errors[:, steps]
            levels = np.quantile(columns, np.append(quantiles, 0.5), axis=0)  # errors hold no NaN
            self._offsets[key] = levels[:-1] - levels[-1]
        return point[None, :] + self._offsets[key]


MAX_MINUTES = 7 * 1440  # a model parameter counting minutes (a window, a cadence, steps): up to a week


def check_positive_int(name: str, value, *, most: int | None = None) -> int:
    """Validate a count of minutes (a model's window, refit cadence, ...; ``most``: its upper bound)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise FieldError(name, f"must be a positive integer, got {show(value)}")
    if most is not None and value > most:
        raise FieldError(name, f"must be <= {most}, got {show(value)}")
    return int(value)


def check_train(train) -> np.ndarray | None:
    """Earlier days of this job as a 2-D (days x minutes-of-window) float array, gaps filled per day."""
    if train is None:
        return None
    days = np.asarray(train, dtype=float)
    if days.ndim != 2 or days.shape[1] == 0:
        raise FarodError(f"train: must be a 2-D array (days x minutes), got shape {days.shape}")
    return np.array([fill_gaps(day) for day in days]) if days.shape[0] else None
