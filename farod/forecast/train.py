"""Earlier days to train forecasters on: the wide per-minute CSV, and which of its days a trace may use.

Example::

    trace = read_trace("farod/data/azure_twitter_10jobs_day10.jsonl")
    train = train_for(trace, read_train_csv(BUNDLED_CSV))   # per job: (days x minutes), days 1..9
    forecaster = forecast.create("default", train=train[0])

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
import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from farod.errors import FarodError
from farod.trace import Trace
from farod.yamlfile import read_text

BUNDLED_CSV = Path(__file__).resolve().parents[1] / "data" / "azure_twitter_10jobs_days1-10_6h_per_minute.csv"
TRAIN_COLUMNS = ("job_idx", "series", "day", "sample")
REAL_SAMPLE = 0  # the other samples are noisy re-samplings (augmentation)
MAX_COUNT = 1e9  # requests in one minute of one job; more is a unit mistake, not traffic


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainDays:
    """Real (sample 0) daily windows from the wide CSV: ``series[job_idx][day]`` = counts per minute."""

    series: dict[int, dict[int, np.ndarray]]

    @property
    def days(self) -> list[int]:
        return sorted({day for by_day in self.series.values() for day in by_day})


def read_train_csv(path: str | os.PathLike) -> TrainDays:
    """Read ``job_idx, series, day, sample, m0, m1, ...``; keep the real rows (sample 0).

    Any problem is one FarodError line naming the file, line and column: text that is not UTF-8, a
    row of the wrong width, a value that is not a number, negative, not finite or above
    :data:`MAX_COUNT`, the same (job, day) twice. An empty cell is a missing minute.
    """
    text = read_text(path, what="train CSV")
    series: dict[int, dict[int, np.ndarray]] = {}
    first_line: dict[tuple[int, int], int] = {}
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader, [])
        if tuple(header[: len(TRAIN_COLUMNS)]) != TRAIN_COLUMNS or len(header) == len(TRAIN_COLUMNS):
            raise FarodError(f"{path}:1: header must be {', '.join(TRAIN_COLUMNS)}, m0, m1, ...")
        for row in reader:
            number = reader.line_num
            if not row:
                continue
            if len(row) != len(header):
                raise FarodError(f"{path}:{number}: {len(row)} columns, the header has {len(header)}")
            job, day, sample = (_index(path, number, column, row[column - 1]) for column in (1, 3, 4))
            if sample != REAL_SAMPLE:
                continue
            if (job, day) in first_line:
                raise FarodError(f"{path}:{number}: job_idx {job} day {day} is already on line {first_line[job, day]}")
            first_line[job, day] = number
            series.setdefault(job, {})[day] = np.array([_count(path, number, column, value)
                                                         for column, value in enumerate(row[4:], start=5)])
    except csv.Error as exc:
        raise FarodError(f"{path}:{reader.line_num}: not valid CSV ({exc})") from None
    if not series:
        raise FarodError(f"{path}: no rows with sample {REAL_SAMPLE}")
    return TrainDays(series=series)


def _index(path, line: int, column: int, text: str) -> int:
    if not (text.strip().isascii() and text.strip().isdigit()) or len(text.strip()) > 9:
        raise FarodError(f"{path}:{line}: column {column} ({TRAIN_COLUMNS[column - 1]}) must be an integer "
                         f">= 0, got {text[:40]!r}")
    return int(text)


def _count(path, line: int, column: int, text: str) -> float:
    """A count per minute: empty is missing (NaN); otherwise finite, >= 0 and at most MAX_COUNT."""
    if not text.strip():
        return np.nan
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not 0 <= value <= MAX_COUNT:  # NaN fails both comparisons
        raise FarodError(f"{path}:{line}: column {column} must be a count in [0, {MAX_COUNT:g}] "
                         f"(empty: missing), got {text[:40]!r}")
    return value


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
