"""Per-minute load forecasters: one interface, a small family, a default chosen by backtest.

Example::

    >>> from farod import forecast
    >>> forecaster = forecast.create("default", train=earlier_days)   # one per job
    >>> forecaster.update(history)                # per-minute counts so far, oldest first
    >>> forecaster.predict(7, [0.5, 0.9])         # (2, 7) request counts: median and 0.9 band

``train`` holds earlier days of the same job, (days x minutes-of-window), aligned with ``history``:
column t of a day is the same minute of the daily window as ``history[t]``.

Models (``MODELS``):

- ``last`` -- repeat the last minute (the floor, CONTRACTS.md §5);
- ``ma`` -- mean of the last ``window`` minutes (default 15);
- ``ets`` -- Holt's damped-trend exponential smoothing (statsmodels, state-space form);
- ``sarimax`` -- ARIMA(p, d, q) via statsmodels SARIMAX (default (1, 1, 1));
- ``seasonal`` -- today's 15-minute level plus a per-job, per-step OLS correction from momentum and the
  daily profile of the earlier days (the default; see :mod:`farod.forecast.seasonal`);
- ``oracle`` -- the true future of the trace (``future=``), for the simulator's reference policy only.

The default is ``seasonal``, chosen by ``farod forecast backtest --model all`` with context 15 and
horizon 7 over all 10 jobs (3390 windows), days 1..d-1 of the bundled CSV as ``--train``:

=========  ==========  =====  =====  =============  ===========  ==============
day        model       RMSE   MAPE   pinball 0.9    cover 0.9    fit ms p50
=========  ==========  =====  =====  =============  ===========  ==============
10         last        169.4
10         ma (15)     140.3
10         seasonal    87.3
9          seasonal    89.1
=========  ==========  =====  =====  =============  ===========  ==============

(RMSE in requests per minute; the issue's reference: last ~179, 15-minute mean ~155, N-HiTS 116.)
"""

from __future__ import annotations

import inspect

import numpy as np

from farod.errors import FarodError
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

__all__ = ["BACKTEST_MODELS", "DEFAULT_MODEL", "MODELS", "Forecaster", "create"]


def create(name: str, *, train: np.ndarray | None = None, **params) -> Forecaster:
    """A fresh forecaster for one job series; ``name`` is one of ``MODELS`` or ``"default"``."""
    model = DEFAULT_MODEL if name == "default" else name
    cls = _CLASSES.get(model)
    if cls is None:
        raise FarodError(f"model: unknown forecast model {name!r} (choose from default, {', '.join(MODELS)})")
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self", "train"}
    unknown = sorted(set(params) - accepted)
    if unknown:
        choices = ", ".join(sorted(accepted)) or "none"
        raise FarodError(f"{unknown[0]}: not a parameter of forecast model {model!r} (it takes: {choices})")
    return cls(train=train, **params)
