"""``farod trace export``: per-minute traffic of the configured jobs, read back from Prometheus.

Example::

    client = PrometheusClient(url="http://127.0.0.1:9090")
    export = export_minutes(client, jobs, start=1_764_000_000, minutes=360)
    export.counts.shape, int(export.gaps.sum())
    # -> ((2, 360), 3)

Counts come from Ray Serve's raw router counter (farod's recording rules may not have existed back
then), exactly: per series, the counter's value at every minute boundary (the last sample at or before
it) from a range query on the one-minute grid; a minute's count is the difference between its end and its start, and a counter that
went down was reset and counts from 0 (Prometheus' ``increase`` at minute resolution, without its
extrapolation). A series counts for a minute only when it has a sample within the minute before each
boundary (one query, :func:`fresh_counter`); a job minute that no series counts is a **gap**: never zero, filled by interpolation, counted
and reported. The other measures (running replicas, p99, mean processing time) are the daemon's raw
signal queries over one minute, evaluated at each minute's end, and stay NaN where Prometheus has none.
Queries go in chunks of at most a day, a few at once, with ``progress(done, total)`` after each.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from farod.jobs import JobSpec
from farod.signals.client import PrometheusClient
from farod.signals.prometheus import queries, router_requests  # the daemon's selectors, one copy



def fresh_counter(namespace: str | None = None) -> str:
    """Per series, its last sample at or before each boundary if there is one within the minute before it
    (59.999 s: a sample exactly a minute old belongs to the boundary before). timestamp() would say the
    same, but Prometheus evaluates it far more slowly."""
    return f"last_over_time({router_requests(namespace)}[59s999ms])"


CHUNK_MINUTES = 1440
PARALLEL_QUERIES = 3
MEASURE_SIGNALS = {"replicas": "running_replicas", "p99_ms": "p99_latency_ms", "processing_ms": "processing_time_ms"}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Export:
    start: int  # Unix seconds of the first minute
    counts: np.ndarray  # (jobs, minutes), NaN at gaps
    gaps: np.ndarray  # bool (jobs, minutes)
    measures: dict[str, np.ndarray]  # MEASURE_SIGNALS' fields, NaN where not recorded

    def filled_counts(self) -> np.ndarray:
        """Gaps interpolated linearly between the nearest known minutes (the nearest one at an edge)."""
        filled = self.counts.copy()
        minutes = np.arange(filled.shape[1])
        for row, gaps in zip(filled, self.gaps):
            if gaps.any() and not gaps.all():
                row[gaps] = np.rint(np.interp(minutes[gaps], minutes[~gaps], row[~gaps]))
        return filled


def export_minutes(client: PrometheusClient, jobs: Sequence[JobSpec], *, start: int, minutes: int,
                   measures: bool = True, progress: Callable[[int, int], None] | None = None,
                   namespace: str | None = None) -> Export:  # fmt: skip
    """The counts (and, with ``measures``, the other fields) of ``jobs`` for ``minutes`` from ``start``,
    from the series of ``namespace`` only when one is given.

    The queries run :data:`PARALLEL_QUERIES` at a time, so Prometheus evaluates one while farod parses
    another; progress is reported in the order they finish.
    """
    chunks = [(first, min(first + CHUNK_MINUTES, minutes)) for first in range(0, minutes, CHUNK_MINUTES)]
    raw = queries(window_s=60.0, use_recording_rules=False, namespace=namespace)
    names = ["counts", *(MEASURE_SIGNALS if measures else ())]
    fields = {name: np.full((len(jobs), minutes), np.nan) for name in names}

    def fetch(name: str, first: int, last: int) -> None:
        if name == "counts":  # boundaries from the chunk's start: one more point than minutes
            found = client.range_query(fresh_counter(namespace), start=start + first * 60, end=start + last * 60, step_s=60.0)
            fields[name][:, first:last] = _increases(jobs, found, width=last - first)
        else:  # each minute's measure is read at its end
            found = client.range_query(raw[MEASURE_SIGNALS[name]], start=start + (first + 1) * 60,
                                       end=start + last * 60, step_s=60.0)  # fmt: skip
            fields[name][:, first:last] = _by_job(jobs, found, last - first)

    tasks = [(name, first, last) for first, last in chunks for name in names]
    with concurrent.futures.ThreadPoolExecutor(PARALLEL_QUERIES) as pool:
        pending = [pool.submit(fetch, *task) for task in tasks]
        try:
            for done, future in enumerate(concurrent.futures.as_completed(pending), start=1):
                future.result()
                _report(progress, done, len(tasks))
        finally:
            for future in pending:
                future.cancel()
    counts = fields.pop("counts")
    return Export(start=start, counts=counts, gaps=np.isnan(counts), measures=fields)


def gap_ranges(gaps: np.ndarray) -> list[tuple[int, int]]:
    """``[first, last]`` minute indices of each run of gaps."""
    edges = np.diff(np.concatenate([[0], gaps.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), (np.flatnonzero(edges == -1) - 1).tolist()))


def _increases(jobs: Sequence[JobSpec], boundaries: list, *, width: int) -> np.ndarray:
    """Per job and minute, the summed counter increase of its series; NaN where no series counts."""
    row_of = {(job.application, job.deployment): k for k, job in enumerate(jobs)}
    result = np.full((len(jobs), width), np.nan)
    for series in boundaries:
        row = row_of.get((series.labels.get("application"), series.labels.get("deployment")))
        if row is None:
            continue
        before, after = series.values[:-1], series.values[1:]  # NaN: no fresh sample at that boundary
        with np.errstate(invalid="ignore"):
            counted = np.where(after >= before, after - before, after)  # went down: reset, counts from 0
        counted[np.isnan(before) | np.isnan(after)] = np.nan
        result[row] = np.where(np.isnan(result[row]), counted, result[row] + np.nan_to_num(counted))
    return result


def _by_job(jobs: Sequence[JobSpec], series: list, width: int) -> np.ndarray:
    """One row per job: its (application, deployment) series, else its application's (HTTP latency)."""
    found = {(s.labels.get("application"), s.labels.get("deployment")): s.values for s in series}
    empty = np.full(width, np.nan)
    return np.array([found.get((job.application, job.deployment), found.get((job.application, None), empty))
                     for job in jobs]).reshape(len(jobs), width)  # fmt: skip


def _report(progress: Callable[[int, int], None] | None, done: int, total: int) -> None:
    if progress is not None:
        progress(done, total)
