"""Backtest a forecaster on a trace the way the autoscaler will use it (docs/cli.md).

Example::

    trace = read_trace("farod/data/azure_twitter_10jobs_day10.jsonl")
    train = train_for(trace, read_train_csv(BUNDLED_CSV))   # farod.forecast.train: earlier days only
    run = backtest(trace.counts, "default", train=train, context=15, horizon=7, quantiles=[0.5, 0.9])
    run.summary()["rmse"]

For every job and every start minute t with ``context <= t <= T - horizon`` the forecaster is given the
history before t (``update``, exactly as the simulator and the daemon call it: one forecaster per job,
fed a growing history) and forecasts minutes t..t+horizon-1 (``predict``). Scores, over all forecast
points of all jobs and windows, on counts per minute:

- ``rmse`` and ``mape`` (percent, over points with a non-zero actual) of the median (0.5 quantile);
- ``pinball[q]``: mean pinball (quantile) loss; ``coverage[q]``: fraction of actuals <= the q forecast;
- ``fit_ms_p50``: median wall time of one ``update`` + ``predict`` (the per-decision cost per job).

Training days must come strictly before the day being tested: :func:`farod.forecast.train.train_for`
finds the trace's day in the CSV and keeps only earlier days, so a backtest cannot leak the answer.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Sequence

import numpy as np

from farod.errors import FarodError
from farod.forecast import create
from farod.forecast.base import check_positive_int, check_quantiles


@dataclasses.dataclass(frozen=True, kw_only=True)
class Backtest:
    """Forecasts of every window: ``forecasts[job, window]`` is (quantiles x horizon) from minute
    ``starts[window]``; ``actuals`` has the same layout without the quantile axis."""

    model: str
    context: int
    horizon: int
    quantiles: np.ndarray
    starts: np.ndarray
    forecasts: np.ndarray  # (jobs, windows, quantiles, horizon)
    actuals: np.ndarray  # (jobs, windows, horizon)
    step_ms: np.ndarray  # (jobs, windows): update + predict

    def summary(self) -> dict:
        """The JSON record of ``farod forecast backtest`` (docs/cli.md)."""
        median = self.forecasts[:, :, _index_of(self.quantiles, 0.5)]
        errors = self.actuals - median
        nonzero = self.actuals > 0
        record = {
            "model": self.model,
            "context": self.context,
            "horizon": self.horizon,
            "windows": int(self.starts.size * self.actuals.shape[0]),
            "rmse": float(np.sqrt(np.mean(errors**2))),
            "mape": float(100 * np.mean(np.abs(errors[nonzero]) / self.actuals[nonzero])) if nonzero.any() else None,
            "pinball": {},
            "coverage": {},
            "fit_ms_p50": float(np.median(self.step_ms)),
        }
        for index, level in enumerate(self.quantiles):
            gap = self.actuals - self.forecasts[:, :, index]
            record["pinball"][f"{level:g}"] = float(np.mean(np.maximum(level * gap, (level - 1) * gap)))
            record["coverage"][f"{level:g}"] = float(np.mean(gap <= 0))
        return record


def _index_of(levels: np.ndarray, level: float) -> int:
    return int(np.flatnonzero(np.isclose(levels, level))[0])


def backtest(
    counts: np.ndarray,
    model: str,
    *,
    train: Sequence[np.ndarray | None] | None = None,
    context: int = 15,
    horizon: int = 7,
    quantiles: Sequence[float] = (0.5, 0.9),
    params: dict | None = None,
) -> Backtest:
    """Slide windows over every job of ``counts`` (jobs x minutes); see the module docstring."""
    context = check_positive_int("--context", context)
    horizon = check_positive_int("--horizon", horizon)
    levels = check_quantiles(quantiles)
    if not np.isclose(levels, 0.5).any():
        levels = np.append(levels, 0.5)  # rmse and mape score the median
    jobs, minutes = counts.shape
    if context + horizon > minutes:
        raise FarodError(f"--context/--horizon: {context} + {horizon} minutes do not fit in a {minutes}-minute trace")
    starts = np.arange(context, minutes - horizon + 1)
    forecasts = np.empty((jobs, starts.size, levels.size, horizon))
    step_ms = np.empty((jobs, starts.size))
    for job in range(jobs):
        job_params = dict(params or {})
        if model == "oracle":
            job_params["future"] = counts[job]
        forecaster = create(model, train=None if train is None else train[job], **job_params)
        for window, start in enumerate(starts):
            began = time.perf_counter()
            forecaster.update(counts[job, :start])
            forecasts[job, window] = forecaster.predict(horizon, levels)
            step_ms[job, window] = 1000 * (time.perf_counter() - began)
    actuals = counts[:, starts[:, None] + np.arange(horizon)]
    return Backtest(
        model=model,
        context=context,
        horizon=horizon,
        quantiles=levels,
        starts=starts,
        forecasts=forecasts,
        actuals=actuals,
        step_ms=step_ms,
    )


def plot(run: Backtest, counts: np.ndarray, *, job: int, path: str | os.PathLike, title: str = "") -> None:
    """PNG of one job: actual counts, the median forecast and the band up to the highest quantile.

    Each minute shows the forecast made ``horizon`` minutes before it (the furthest step, the one the
    autoscaler has to act on earliest).
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    step = run.horizon - 1
    minutes = run.starts + step
    median = run.forecasts[job, :, _index_of(run.quantiles, 0.5), step]
    top_index = int(np.argmax(run.quantiles))
    figure, axes = pyplot.subplots(figsize=(12, 4.5))
    axes.plot(np.arange(counts.shape[1]), counts[job], color="black", linewidth=0.8, label="actual")
    axes.plot(minutes, median, color="tab:blue", linewidth=1.0, label=f"{run.model} median, {run.horizon} min ahead")
    if run.quantiles[top_index] > 0.5:
        axes.fill_between(minutes, median, run.forecasts[job, :, top_index, step], color="tab:blue", alpha=0.25,
                          label=f"up to quantile {run.quantiles[top_index]:g}")
    axes.set_xlabel("minute")
    axes.set_ylabel("requests per minute")
    axes.set_title(title or f"job {job}: {run.model}")
    axes.legend(loc="upper right")
    figure.tight_layout()
    try:
        figure.savefig(path, dpi=110)
    except OSError as exc:
        raise FarodError(f"--plot: cannot write {path}: {exc.strerror}") from None
    finally:
        pyplot.close(figure)
