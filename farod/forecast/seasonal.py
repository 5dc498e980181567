"""The default forecaster: today's recent level, corrected by how the same minutes went on earlier days.

Example::

    forecaster = SeasonalRegression(train=days_1_to_9)    # (days x minutes-of-window) of this job
    forecaster.update(today_so_far)                          # fitting happened above, not here
    forecaster.predict(7, [0.5, 0.9])

Why this shape: the workloads repeat daily, but not equally. Some jobs follow yesterday's curve almost
minute by minute, others only share a level, and some days are simply quieter. So the forecast for
``h`` minutes ahead is the 15-minute mean of today plus a linear correction fitted per job and per step
(statsmodels OLS) on four signals:

- the last minute, the 5-minute and the 60-minute means, each minus the 15-minute mean (momentum and
  mean reversion);
- the seasonal profile (mean of the earlier days) at the target minute minus its own mean over the
  last 15 minutes: how much the daily curve says the load moves from now to then.

The regression learns, per job, how much to trust the daily curve versus today's level. It is fitted
once, when the forecaster is created, on the earlier days themselves: every day in turn plays "today"
against the profile of the *other* days, so the weights are learned out of sample. The same training
residuals give the quantile spread (:class:`~farod.forecast.base.ErrorQuantiles`). Per decision it
computes a few window means and a 7 x 5 dot product.

With fewer than two earlier days (or days shorter than 30 minutes) there is no out-of-sample profile
to learn from, and the model behaves as the 15-minute moving average (with its error quantiles).
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
from statsmodels.regression.linear_model import OLS
from statsmodels.tools.sm_exceptions import SingularMatrixWarning

from farod.forecast.base import (
    MAX_MINUTES,
    ErrorQuantiles,
    Forecaster,
    check_positive_int,
    check_train,
    cumulative,
    recent,
    window_means,
)
from farod.forecast.baseline import MovingAverage

LEVEL_WINDOW = 15
SIGNAL_WINDOWS = (1, 5, 60)
# The minutes of today the features look at (the longest window).
TAIL_MINUTES = max(SIGNAL_WINDOWS)
# Earlier days shorter than this teach nothing about a daily curve.
MIN_TRAIN_MINUTES = 2 * LEVEL_WINDOW
# Per-step weights are fitted up to this many steps ahead; further steps reuse the last ones.
MAX_STEPS = 60


def features(series: np.ndarray, ends: np.ndarray, profile: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Level and regressors for forecasts made after ``ends`` minutes of ``series``.

    Returns ``level`` (len(ends),) and ``regressors`` (len(ends), steps, 2 + len(SIGNAL_WINDOWS)).
    ``profile`` is periodic: minute t of today is minute ``t mod len(profile)`` of the daily window.
    """
    totals = cumulative(series)
    level = window_means(totals, ends, LEVEL_WINDOW)
    signals = [window_means(totals, ends, window) - level for window in SIGNAL_WINDOWS]
    period = profile.size
    # Two periods back to back, so windows ending early in the period can look back across midnight.
    profile_totals = cumulative(np.concatenate([profile, profile]))
    profile_level = window_means(profile_totals, ends % period + period, LEVEL_WINDOW)
    targets = (ends[:, None] + np.arange(steps)) % period
    regressors = np.empty((ends.size, steps, 2 + len(SIGNAL_WINDOWS)))
    regressors[..., 0] = 1.0
    for column, signal in enumerate(signals, start=1):
        regressors[..., column] = signal[:, None]
    regressors[..., -1] = profile[targets] - profile_level[:, None]
    return level, regressors


class SeasonalRegression(Forecaster):
    """Recent level + per-step linear correction from momentum and the daily profile of earlier days."""

    name = "seasonal"

    def __init__(self, *, train: np.ndarray | None = None, steps: int = 7):
        super().__init__()
        self.steps = check_positive_int("steps", steps, most=MAX_MINUTES)
        days = check_train(train)
        self._fallback = MovingAverage(train=days, window=LEVEL_WINDOW)
        usable = days is not None and days.shape[0] >= 2 and days.shape[1] >= MIN_TRAIN_MINUTES
        self._days = days if usable else None
        self._coefficients = np.zeros((0, 2 + len(SIGNAL_WINDOWS)))
        self._spread = ErrorQuantiles()
        if self._days is not None:
            self.profile = self._days.mean(axis=0)
            self._fit(self.steps)

    def _fit(self, steps: int) -> None:
        steps = min(steps, MAX_STEPS, self._days.shape[1] // 2)
        self._coefficients, errors = fit_days(self._days.tobytes(), self._days.shape, steps)
        self._spread = ErrorQuantiles(errors)

    def _observe(self, history: np.ndarray) -> None:
        self._fallback.update(history)

    def point(self, horizon: int) -> np.ndarray:
        fitted = self._coefficients.shape[0]
        if horizon > fitted and fitted < min(MAX_STEPS, self._days.shape[1] // 2):
            self._fit(horizon)  # once, when a longer horizon is first asked for
        tail = recent(self.history, TAIL_MINUTES)
        if tail.size == 0:
            return self.profile[np.arange(horizon) % self.profile.size]
        # Features of the tail at its own end equal those of the whole history: same windows, same
        # profile position (shifted by what was cut off).
        cut = self.history.size - tail.size
        shifted = np.roll(self.profile, -cut)
        level, regressors = features(tail, np.array([tail.size]), shifted, horizon)
        # Steps beyond the fitted ones reuse the furthest fitted step.
        coefficients = self._coefficients[np.minimum(np.arange(horizon), self._coefficients.shape[0] - 1)]
        return level[0] + np.einsum("hf,hf->h", regressors[0], coefficients)

    def _predict(self, horizon: int, quantiles: np.ndarray) -> np.ndarray:
        if self._days is None:
            return self._fallback.predict(horizon, quantiles)
        return self._spread.bands(self.point(horizon), quantiles)


@functools.lru_cache(maxsize=64)
def fit_days(data: bytes, shape: tuple[int, int], steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-step OLS on every earlier day against the profile of the other days: (coefficients, residuals).

    Cached by content: a simulation suite creates the same jobs' forecasters for every policy and seed,
    and replicated jobs share their series.
    """
    days = np.frombuffer(data).reshape(shape)
    rows, targets = [], []
    for index, day in enumerate(days):
        others = np.delete(days, index, axis=0).mean(axis=0)
        ends = np.arange(1, day.size - steps + 1)
        level, regressors = features(day, ends, others, steps)
        rows.append(regressors)
        targets.append(day[ends[:, None] + np.arange(steps)] - level[:, None])
    regressors, targets = np.concatenate(rows), np.concatenate(targets)
    with warnings.catch_warnings():
        # Flat earlier days (a job idle all week) make the regressors collinear; OLS's pseudo-inverse
        # still gives the minimum-norm fit, which is what we want, so the warning is only noise in logs.
        warnings.simplefilter("ignore", SingularMatrixWarning)
        fits = [OLS(targets[:, step], regressors[:, step]).fit() for step in range(steps)]
    coefficients = np.array([fit.params for fit in fits])
    errors = np.column_stack([fit.resid for fit in fits])
    coefficients.flags.writeable = errors.flags.writeable = False
    return coefficients, errors
