"""Reference forecasters: repeat the last minute, the mean of a recent window, and the true future.

Example::

    forecaster = MovingAverage(window=15, train=earlier_days)
    forecaster.update(history)
    forecaster.predict(7, [0.5, 0.9])     # flat median, 0.9 band from the rule's own past errors

``last`` is the floor every model must beat (docs/cli.md) and ``ma`` the reactive baseline the
issue measures against (a 15-minute mean). Their quantiles come from the h-step errors the same rule
made on the earlier days in ``train`` and on today's history (:class:`~farod.forecast.base.ErrorQuantiles`),
so even the baselines give honest bands. :class:`Oracle` is not a forecaster at all: it reads the
answer from the trace, for the simulator's reference policy only.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from farod.errors import FarodError
from farod.forecast.base import (
    MAX_MINUTES,
    ErrorQuantiles,
    Forecaster,
    check_positive_int,
    check_train,
    cumulative,
    fill_gaps,
    recent,
    window_means,
)

# Steps ahead whose errors are recorded; longer horizons reuse the last one.
ERROR_STEPS = 15
# Today's errors are re-collected after this many new minutes (cheap, but not every call).
ERROR_REFRESH_MINUTES = 15
# The most recent minutes of today that feed the error quantiles.
ERROR_LOOKBACK_MINUTES = 1440


def moving_average_errors(series: np.ndarray, window: int, steps: int = ERROR_STEPS) -> np.ndarray:
    """h-step errors (actual - mean of the previous ``window`` minutes) at every point of ``series``."""
    ends = np.arange(1, series.size - steps + 1)
    if ends.size == 0:
        return np.zeros((0, steps))
    point = window_means(cumulative(series), ends, window)
    actual = series[ends[:, None] + np.arange(steps)]
    return actual - point[:, None]


class MovingAverage(Forecaster):
    """The mean of the last ``window`` minutes, repeated over the horizon."""

    name = "ma"

    def __init__(self, *, train: np.ndarray | None = None, window: int = 15):
        super().__init__()
        self.window = check_positive_int("window", window, most=MAX_MINUTES)
        days = check_train(train)
        self._train_errors = (
            np.concatenate([moving_average_errors(day, self.window) for day in days])
            if days is not None
            else np.zeros((0, ERROR_STEPS))
        )
        self._spread = ErrorQuantiles(self._train_errors)
        self._spread_at = 0

    def _observe(self, history: np.ndarray) -> None:
        if history.size - self._spread_at >= ERROR_REFRESH_MINUTES or history.size < self._spread_at:
            today = moving_average_errors(fill_gaps(history[-ERROR_LOOKBACK_MINUTES:]), self.window)
            self._spread = ErrorQuantiles(np.concatenate([self._train_errors, today]))
            self._spread_at = history.size

    def point(self, horizon: int) -> np.ndarray:
        window = recent(self.history, self.window)
        level = window.mean() if window.size else 0.0
        return np.full(horizon, level)

    def _predict(self, horizon: int, quantiles: np.ndarray) -> np.ndarray:
        return self._spread.bands(self.point(horizon), quantiles)


class LastValue(MovingAverage):
    """Repeat the last observed minute: the floor to beat."""

    name = "last"

    def __init__(self, *, train: np.ndarray | None = None):
        super().__init__(train=train, window=1)


class Oracle(Forecaster):
    """The true counts of the next minutes; Poisson quantiles around them for quantiles other than 0.5.

    ``future`` is the whole trace of this job; after ``update(history)`` of length t the median is
    ``future[t:t + horizon]`` (the last count repeats past the end of the trace).
    """

    name = "oracle"

    def __init__(self, *, future: np.ndarray, train: np.ndarray | None = None):
        super().__init__()
        truth = np.asarray(future, dtype=float)
        if truth.ndim != 1 or truth.size == 0:
            raise FarodError(f"future: must be a non-empty 1-D array of per-minute counts, got shape {truth.shape}")
        self.future = fill_gaps(truth)

    def _predict(self, horizon: int, quantiles: np.ndarray) -> np.ndarray:
        steps = np.minimum(self.history.size + np.arange(horizon), self.future.size - 1)
        truth = self.future[steps]
        bands = stats.poisson.ppf(quantiles[:, None], truth[None, :])
        bands[quantiles == 0.5] = truth
        return bands
