"""Holt-Winters (ETS) and SARIMAX from statsmodels, refitted on a slow cadence and filtered in between.

Example::

    forecaster = Ets(train=earlier_days, refit_every=60)
    forecaster.update(history)            # filters at fixed parameters; a full fit once an hour
    forecaster.predict(7, [0.5, 0.9])      # mean +- z * standard error from get_forecast

Why the cadence: a maximum-likelihood fit costs 0.2-0.5 s, the decision loop has 10 ms per job. The
parameters of a day's load change slowly, the state (level, trend) every minute, so the model is
refitted every ``refit_every`` minutes on the last ``fit_window`` minutes and, in between, only
filtered over that window at fixed parameters. Parameters start from the last earlier day in
``train`` when there is one, so the model works from the first minute of today.

Fits and filters run with one BLAS thread (the matrices are tiny). Both are state-space models, so
gaps are missing observations the Kalman filter steps over, and the forecast intervals are Gaussian
(``predicted_mean + z_q * se_mean``). Before a first fit is possible
(no train and under ``MIN_FIT_MINUTES`` of history) they answer as the 15-minute moving average.
"""

from __future__ import annotations

import abc
import warnings

import numpy as np
from scipy import stats
from statsmodels.tsa.statespace.exponential_smoothing import ExponentialSmoothing
from statsmodels.tsa.statespace.mlemodel import MLEModel
from statsmodels.tsa.statespace.sarimax import SARIMAX
from threadpoolctl import ThreadpoolController

from farod.errors import FieldError
from farod.forecast.base import MAX_MINUTES, Forecaster, check_positive_int, check_train
from farod.forecast.baseline import MovingAverage
from farod.schema import show

MIN_FIT_MINUTES = 30
# The Kalman filter multiplies tiny matrices: BLAS threads only add overhead (10x on a busy machine).
_BLAS = ThreadpoolController()


def as_observations(values: np.ndarray) -> np.ndarray:
    """Counts for the Kalman filter: anything not a count >= 0 becomes a missing observation."""
    values = np.array(values, dtype=float)
    values[~(np.isfinite(values) & (values >= 0))] = np.nan
    return values


class StateSpace(Forecaster):
    """Shared cadence: fit every ``refit_every`` minutes on the last ``fit_window``, filter in between."""

    def __init__(self, *, train: np.ndarray | None = None, refit_every: int = 60, fit_window: int = 240):
        super().__init__()
        self.refit_every = check_positive_int("refit_every", refit_every, most=MAX_MINUTES)
        self.fit_window = check_positive_int("fit_window", fit_window, most=MAX_MINUTES)
        days = check_train(train)
        self._fallback = MovingAverage(train=days, window=15)
        self._params = None
        self._results = None
        self._fitted_at = None  # history length at the last full fit
        self._seen = 0  # history length the results have filtered
        if days is not None:
            self._params = self._run(days[-1][-self.fit_window :], params=None).params

    @abc.abstractmethod
    def _model(self, observations: np.ndarray) -> MLEModel:
        """The statsmodels model of these observations."""

    def _run(self, observations: np.ndarray, *, params: np.ndarray | None):
        """Fit (``params`` None) or only filter at fixed ``params``; no parameter covariance either way."""
        model = self._model(as_observations(observations))
        with warnings.catch_warnings(), _BLAS.limit(limits=1, user_api="blas"):
            warnings.simplefilter("ignore")  # convergence chatter on short, noisy windows
            if params is None:
                return model.fit(disp=False, cov_type="none")
            return model.filter(params, cov_type="none")

    def _observe(self, history: np.ndarray) -> None:
        self._fallback.update(history)
        if history.size == self._seen and self._results is not None:
            return
        due = self._fitted_at is None or not 0 <= history.size - self._fitted_at < self.refit_every
        tail = history[-self.fit_window :]
        if history.size >= MIN_FIT_MINUTES and due:
            self._results = self._run(tail, params=None)
            self._params = self._results.params
            self._fitted_at = history.size
        elif self._params is not None and history.size > 0:
            # Filtering a few hundred minutes at fixed parameters is correct and cheap; statsmodels'
            # `extend` shifts the state of its ExponentialSmoothing by one step.
            self._results = self._run(tail, params=self._params)
        self._seen = history.size

    def _predict(self, horizon: int, quantiles: np.ndarray) -> np.ndarray:
        if self._results is None:
            return self._fallback.predict(horizon, quantiles)
        forecast = self._results.get_forecast(horizon)
        mean = np.asarray(forecast.predicted_mean, dtype=float)
        spread = np.asarray(forecast.se_mean, dtype=float)
        return mean[None, :] + stats.norm.ppf(quantiles)[:, None] * spread[None, :]


class Ets(StateSpace):
    """Holt's linear exponential smoothing with a damped trend (ETS(A,Ad,N)) in state-space form."""

    name = "ets"

    def _model(self, observations: np.ndarray) -> MLEModel:
        return ExponentialSmoothing(observations, trend=True, damped_trend=True)


class Sarimax(StateSpace):
    """ARIMA(``p``, ``d``, ``q``) via statsmodels SARIMAX (no daily season: windows are shorter than a day)."""

    name = "sarimax"

    def __init__(self, *, train: np.ndarray | None = None, refit_every: int = 60, fit_window: int = 240,
                 p: int = 1, d: int = 1, q: int = 1):
        self.order = tuple(check_order(name, value) for name, value in (("p", p), ("d", d), ("q", q)))
        super().__init__(train=train, refit_every=refit_every, fit_window=fit_window)

    def _model(self, observations: np.ndarray) -> MLEModel:
        return SARIMAX(observations, order=self.order)


def check_order(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value <= 5:
        raise FieldError(name, f"must be an integer ARIMA order in 0..5, got {show(value)}")
    return int(value)
