"""Forecasting figures: per-decision cost for 100 jobs, and the backtest table on days 10 and 9.

    .venv/bin/python bench/forecast.py [--models seasonal,ma] [--jobs 100] [--skip-backtest]

Per decision (every 5 simulated minutes, as the Faro policies plan every 300 s) each of the jobs gets
``update(history so far)`` then ``predict(7, [0.5, 0.9])``; the goal is < 1 s for 100 jobs on one core
(p50 and max over the day, wall and CPU time: the machine may be shared; max includes the refresh
of the error quantiles every 15 minutes and the slow-cadence refits of ets/sarimax). Creating the
forecasters (fitting on days 1..9) is timed separately. The backtest is that of docs/cli.md, with context
15, horizon 7, days before the tested day as train.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from farod import forecast
from farod.cli.forecast import format_table
from farod.forecast import backtest as backtesting
from farod.forecast import train as training
from farod.trace import Trace, read_trace

TRACES = Path(__file__).resolve().parents[1] / "farod" / "data"
DECISION_EVERY_MINUTES = 5


def decision_cost(model: str, *, jobs: int) -> dict[str, float]:
    """Seconds to create ``jobs`` forecasters; wall and CPU ms per decision (p50, max) over the bundled day."""
    trace = read_trace(TRACES / "azure_twitter_10jobs_day10.jsonl", jobs=jobs)
    train = training.train_for(trace, training.read_train_csv(training.BUNDLED_CSV))
    began = time.perf_counter()
    forecasters = [forecast.create(model, train=rows) for rows in train]
    created = time.perf_counter() - began
    wall, cpu = [], []
    for minute in range(15, trace.counts.shape[1], DECISION_EVERY_MINUTES):
        began, began_cpu = time.perf_counter(), time.process_time()
        for forecaster, counts in zip(forecasters, trace.counts):
            forecaster.update(counts[:minute])
            forecaster.predict(7, [0.5, 0.9])
        wall.append(1000 * (time.perf_counter() - began))
        cpu.append(1000 * (time.process_time() - began_cpu))
    return {"create_s": created, "p50_ms": np.median(wall), "max_ms": np.max(wall),
            "cpu_p50_ms": np.median(cpu), "cpu_max_ms": np.max(cpu)}


def backtest_table(day: int, models: list[str]) -> str:
    """Day ``day`` of the bundled CSV (day 10 is the bundled trace) against its earlier days."""
    days = training.read_train_csv(training.BUNDLED_CSV)
    jobs = sorted(days.series)
    trace = Trace(keys=[f"job{job}/d" for job in jobs], counts=np.array([days.series[job][day] for job in jobs]))
    train = training.train_for(trace, days)  # finds `day` in the CSV and keeps the days before it
    records = [backtesting.backtest(trace.counts, model, train=train).summary() for model in models]
    return format_table(records)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(forecast.BACKTEST_MODELS))
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--skip-backtest", action="store_true")
    args = parser.parse_args()
    models = args.models.split(",")
    print(f"per-decision forecast cost, {args.jobs} jobs, update + predict(7, [0.5, 0.9]), goal < 1000 ms")
    columns = ("create_s", "p50_ms", "max_ms", "cpu_p50_ms", "cpu_max_ms")
    print(f"{'model':>9}" + "".join(f"  {column:>10}" for column in columns))
    for model in models:
        figures = decision_cost(model, jobs=args.jobs)
        print(f"{model:>9}" + "".join(f"  {figures[column]:10.1f}" for column in columns), flush=True)
    if not args.skip_backtest:
        for day in (10, 9):
            print(f"\nbacktest day {day}, train days 1-{day - 1}, context 15, horizon 7")
            print(backtest_table(day, models), flush=True)


if __name__ == "__main__":
    main()
