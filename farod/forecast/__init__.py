"""Per-minute load forecasters: one interface, a small family, a default chosen by backtest.

Example::

    from farod import forecast
    forecaster = forecast.create("default", train=earlier_days)   # one per job
    forecaster.update(history)                # per-minute counts so far, oldest first
    forecaster.predict(7, [0.5, 0.9])         # (2, 7) request counts: median and 0.9 band

``train`` holds earlier days of the same job, (days x minutes-of-window), aligned with ``history``:
column t of a day is the same minute of the daily window as ``history[t]``.

Models (``MODELS``):

- ``last`` -- repeat the last minute (the floor, docs/cli.md);
- ``ma`` -- mean of the last ``window`` minutes (default 15);
- ``ets`` -- Holt's damped-trend exponential smoothing (statsmodels, state-space form);
- ``sarimax`` -- ARIMA(p, d, q) via statsmodels SARIMAX (default (1, 1, 1));
- ``seasonal`` -- today's 15-minute level plus a per-job, per-step OLS correction from momentum and the
  daily profile of the earlier days (the default; see :mod:`farod.forecast.seasonal`);
- ``oracle`` -- the true future of the trace (``future=``), for the simulator's reference policy only.

The default is ``seasonal``, chosen by ``farod forecast backtest --model all`` with context 15 and
horizon 7 over all 10 jobs (3390 windows), the CSV's days before the tested day as ``--train``
(``bench/forecast.py`` reprints it). RMSE and pinball loss in requests per minute; cover = fraction
of actuals at or below the quantile; ms = one update + predict for one job:

====  ========  =====  =====  ===========  ===========  =========  =========  =====
day   model     RMSE   MAPE%  pinball 0.5  pinball 0.9  cover 0.5  cover 0.9  ms
====  ========  =====  =====  ===========  ===========  =========  =========  =====
10    last      169.4  55.9   42.66        26.36        0.519      0.920      0.11
10    ma        140.3  57.3   41.79        22.18        0.517      0.909      0.11
10    ets       135.8  55.3   39.21        21.21        0.530      0.919      4.32
10    sarimax   162.3  56.3   40.53        27.02        0.532      0.873      7.63
10    seasonal  87.3   47.7   26.96        15.31        0.502      0.924      0.30
9     last      168.9  20.2   44.10        26.58        0.516      0.919      0.08
9     ma        137.0  20.6   42.52        21.00        0.499      0.908      0.13
9     ets       144.9  19.3   38.74        23.25        0.522      0.927      5.14
9     sarimax   155.5  19.6   42.72        28.51        0.499      0.882      7.03
9     seasonal  89.1   11.9   28.15        15.48        0.505      0.925      0.29
====  ========  =====  =====  ===========  ===========  =========  =========  =====

The issue's reference on the paper's evaluation day: last ~179, 15-minute mean ~155, N-HiTS 116.
``seasonal`` is 35-38% below the 15-minute mean, and its 0.9 quantile covers 92.4-92.5% of actuals.
Job 7 shows why: a deep dip every 15 minutes that only the earlier days can announce. Without earlier
days (``train=None`` or one day) it answers as ``ma``; ``ets``/``sarimax`` refit every hour at 0.1-0.5 s
a job, so they are comparisons, not candidates for 100 jobs per decision.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import numpy as np

from farod.errors import FieldError
from farod.forecast.base import Forecaster
from farod.forecast.baseline import LastValue, MovingAverage, Oracle
from farod.forecast.seasonal import SeasonalRegression
from farod.forecast.statespace import Ets, Sarimax

_CLASSES: dict[str, type[Forecaster]] = {
    cls.name: cls for cls in (LastValue, MovingAverage, Ets, Sarimax, SeasonalRegression, Oracle)
}
MODELS: tuple[str, ...] = tuple(_CLASSES)
# What `--model all` and the backtest compare: everything that does not read the answer.
BACKTEST_MODELS: tuple[str, ...] = tuple(name for name in MODELS if name != "oracle")
DEFAULT_MODEL = "seasonal"

__all__ = ["BACKTEST_MODELS", "DEFAULT_MODEL", "MODELS", "Forecaster", "check", "create"]


def create(name: str, *, train: np.ndarray | None = None, **params) -> Forecaster:
    """A fresh forecaster for one job series; ``name`` is one of ``MODELS`` or ``"default"``.

    A bad name or parameter raises :class:`~farod.errors.FieldError` on ``model`` or on the parameter.
    """
    model = DEFAULT_MODEL if name == "default" else name
    cls = _CLASSES.get(model)
    if cls is None:
        raise FieldError("model", f"unknown forecast model {name!r} (choose from default, {', '.join(MODELS)})")
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self", "train"}
    unknown = sorted(set(params) - accepted)
    if unknown:
        choices = ", ".join(sorted(accepted)) or "none"
        raise FieldError(unknown[0], f"not a parameter of forecast model {model!r} (it takes: {choices})")
    return cls(train=train, **params)


def check(name: str, params: Mapping[str, Any]) -> None:
    """Raise :class:`~farod.errors.FieldError` on ``name`` or ``params.<parameter>`` unless forecast model
    ``name`` (one that forecasts, not the oracle) takes ``params``: what a ``{name, params}`` section of a
    config is checked with before any forecaster is built."""
    if name not in ("default", *BACKTEST_MODELS):
        raise FieldError("name", f"unknown forecast model {name!r} (choose from default, {', '.join(BACKTEST_MODELS)})")
    try:
        create(name, **params)  # the models check their parameters; nothing is fitted without train
    except FieldError as exc:
        raise FieldError(f"params.{exc.field}", exc.problem) from None
