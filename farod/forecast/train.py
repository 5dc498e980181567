"""Earlier days to train forecasters on: the wide per-minute CSV, and which of its days a trace may use.

Example::

    >>> trace = read_trace("farod/data/azure_twitter_10jobs_day10.jsonl")
    >>> train = train_for(trace, read_train_csv(BUNDLED_CSV))   # per job: (days x minutes), days 1..9
    >>> forecaster = forecast.create("default", train=train[0])

The CSV (``job_idx, series, day, sample, m0, m1, ...``) holds one daily window per row; ``sample`` 0 is
the real series, the others noisy re-samplings that are not used. Job k of a trace is ``job_idx k mod
jobs`` (the same replication rule as :func:`farod.trace.read_trace`).

Why :func:`train_for` looks the trace up in the CSV: the bundled trace *is* day 10 of the CSV, and a
forecaster trained on the day it is tested on would score the answer against itself. So the days a
trace may train on are those strictly before its own day, and naming its own day is refused.
"""

from __future__ import annotations

import csv
import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from farod.errors import FarodError
from farod.trace import Trace

BUNDLED_CSV = Path(__file__).resolve().parents[1] / "data" / "azure_twitter_10jobs_days1-10_6h_per_minute.csv"
TRAIN_COLUMNS = ("job_idx", "series", "day", "sample")
REAL_SAMPLE = 0  # the other samples are noisy re-samplings (augmentation)


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainDays:
    """Real (sample 0) daily windows from the wide CSV: ``series[job_idx][day]`` = counts per minute."""

    series: dict[int, dict[int, np.ndarray]]

    @property
    def days(self) -> list[int]:
        return sorted({day for by_day in self.series.values() for day in by_day})


def read_train_csv(path: str | os.PathLike) -> TrainDays:
    """Read ``job_idx, series, day, sample, m0, m1, ...``; keep the real rows (sample 0)."""
    try:
        handle = open(path, encoding="utf-8", newline="")
    except OSError as exc:
        raise FarodError(f"{path}: cannot read train CSV: {exc.strerror}") from None
    series: dict[int, dict[int, np.ndarray]] = {}
    with handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        if tuple(header[: len(TRAIN_COLUMNS)]) != TRAIN_COLUMNS or len(header) == len(TRAIN_COLUMNS):
            raise FarodError(f"{path}:1: header must be {', '.join(TRAIN_COLUMNS)}, m0, m1, ...")
        for number, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(header):
                raise FarodError(f"{path}:{number}: {len(row)} columns, the header has {len(header)}")
            try:
                job, day, sample = int(row[0]), int(row[2]), int(row[3])
                counts = np.array([float(value) if value else np.nan for value in row[4:]])
            except ValueError as exc:
                raise FarodError(f"{path}:{number}: not a number ({exc})") from None
            if sample == REAL_SAMPLE:
                series.setdefault(job, {})[day] = counts
    if not series:
        raise FarodError(f"{path}: no rows with sample {REAL_SAMPLE}")
    return TrainDays(series=series)


def trace_day(trace: Trace, days: TrainDays) -> int | None:
    """The CSV day whose rows are the trace's counts (job k = job_idx k mod jobs), or None."""
    jobs = sorted(days.series)
    for day in days.days:
        rows = [days.series[jobs[k % len(jobs)]].get(day) for k in range(len(trace.keys))]
        if all(row is not None for row in rows):
            width = min(trace.counts.shape[1], rows[0].size)
            if np.array_equal(np.array([row[:width] for row in rows]), trace.counts[:, :width], equal_nan=True):
                return day
    return None


def train_for(trace: Trace, days: TrainDays, *, train_days: Sequence[int] | None = None) -> list[np.ndarray | None]:
    """Per trace job, the (days x minutes) earlier days to train on; never the trace's own day.

    ``train_days`` defaults to every CSV day before the trace's day (all days when the trace is not in
    the CSV). Naming the trace's own day is refused: that would score the answer against itself.
    """
    test_day = trace_day(trace, days)
    if train_days is None:
        chosen = [day for day in days.days if test_day is None or day < test_day]
    else:
        chosen = sorted(set(train_days))
        if test_day is not None and test_day in chosen:
            raise FarodError(f"--train-days: day {test_day} is the trace itself; train on other days")
        missing = sorted(set(chosen) - set(days.days))
        if missing:
            raise FarodError(f"--train-days: day {missing[0]} is not in the train CSV (it has {days.days})")
    jobs = sorted(days.series)
    per_job = []
    for k in range(len(trace.keys)):
        by_day = days.series[jobs[k % len(jobs)]]
        rows = [by_day[day] for day in chosen if day in by_day]
        per_job.append(np.array(rows) if rows else None)
    return per_job
