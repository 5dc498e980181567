"""Read a request trace: per-unit arrival counts for every job, as one (jobs x units) matrix.

Example::

    >>> trace = read_trace("farod/data/azure_twitter_10jobs_day10.jsonl", jobs=20, minutes=60)
    >>> trace.keys[:2], trace.counts.shape, trace.unit_s
    (['serve-cluster0/classifier', 'serve-cluster1/classifier'], (20, 60), 60.0)

The format is the Faro artifact's ``input.json`` (CONTRACTS.md §3): JSON lines, one per time unit,
``{"ts": <int>, "counts": {"<application>": {"<deployment>": <requests in that unit>}}}``. A job is
one (application, deployment) pair, keyed ``"application/deployment"`` like
:attr:`farod.policies.base.JobSpec.key`. Jobs keep the order in which they first appear, so
``serve-cluster10`` stays after ``serve-cluster9``; a job absent from a line had no requests in it.

The simulator replays the matrix and the forecast backtest slides windows over it, so both see the
same numbers. Every error names the line it comes from: a trace is user input.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os

import numpy as np

from farod.errors import FarodError


@dataclasses.dataclass(frozen=True, kw_only=True)
class Trace:
    """Arrival counts of ``len(keys)`` jobs over ``counts.shape[1]`` units of ``unit_s`` seconds."""

    keys: list[str]
    counts: np.ndarray  # float, shape (jobs, units): requests arriving in each unit
    unit_s: float = 60.0


def read_trace(
    path: str | os.PathLike,
    *,
    jobs: int | None = None,
    minutes: int | None = None,
    unit_s: float = 60.0,
) -> Trace:
    """Read a JSON-lines trace; optionally replicate it to ``jobs`` jobs and cut it to ``minutes`` units.

    Replicated job ``k`` replays series ``k mod n`` of the ``n`` original jobs; its key adds
    ``-r<k // n>`` to the application name (``serve-cluster0-r1/classifier``) so keys stay unique.
    """
    _check_positive("jobs", jobs)
    _check_positive("minutes", minutes)
    if not (isinstance(unit_s, (int, float)) and math.isfinite(unit_s) and unit_s > 0):
        raise FarodError(f"unit_time: must be a positive number of seconds, got {unit_s!r}")
    rows = _read_rows(path, limit=minutes)
    pairs = list(dict.fromkeys(pair for row in rows for pair in row))
    if not pairs:
        raise FarodError(f"{path}: the trace names no (application, deployment) pair")
    counts = np.array([[row.get(pair, 0.0) for row in rows] for pair in pairs], dtype=float)
    jobs = len(pairs) if jobs is None else jobs
    originals = len(pairs)
    keys = [_job_key(*pairs[k % originals], copy=k // originals) for k in range(jobs)]
    return Trace(keys=keys, counts=counts[[k % originals for k in range(jobs)]], unit_s=float(unit_s))


def _check_positive(name: str, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise FarodError(f"{name}: must be a positive integer, got {value!r}")


def _job_key(application: str, deployment: str, *, copy: int) -> str:
    return f"{application}-r{copy}/{deployment}" if copy else f"{application}/{deployment}"


def _read_rows(path: str | os.PathLike, *, limit: int | None) -> list[dict[tuple[str, str], float]]:
    try:
        handle = open(path, encoding="utf-8")
    except OSError as exc:
        raise FarodError(f"{path}: cannot read trace: {exc.strerror}") from None
    rows: list[dict[tuple[str, str], float]] = []
    last_ts = None
    with handle:
        for number, line in enumerate(handle, start=1):
            if limit is not None and len(rows) >= limit:
                break
            if not line.strip():
                continue
            ts, row = _parse_line(line, where=f"{path}:{number}")
            if last_ts is not None and ts <= last_ts:
                raise FarodError(f"{path}:{number}: ts {ts} does not follow the previous ts {last_ts}")
            last_ts = ts
            rows.append(row)
    if not rows:
        raise FarodError(f"{path}: the trace has no lines")
    return rows


def _parse_line(line: str, *, where: str) -> tuple[int, dict[tuple[str, str], float]]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise FarodError(f"{where}: not valid JSON ({exc.msg})") from None
    if not isinstance(record, dict):
        raise FarodError(f"{where}: expected an object with 'ts' and 'counts'")
    ts = record.get("ts")
    if isinstance(ts, bool) or not isinstance(ts, int):
        raise FarodError(f"{where}: 'ts' must be an integer, got {ts!r}")
    applications = record.get("counts")
    if not isinstance(applications, dict):
        raise FarodError(f"{where}: 'counts' must be an object of applications")
    row: dict[tuple[str, str], float] = {}
    for application, deployments in applications.items():
        if not isinstance(deployments, dict):
            raise FarodError(f"{where}: counts.{application} must be an object of deployments")
        for deployment, count in deployments.items():
            if isinstance(count, bool) or not isinstance(count, (int, float)) or not count >= 0 or math.isinf(count):
                raise FarodError(f"{where}: counts.{application}.{deployment} must be a count >= 0, got {count!r}")
            row[application, deployment] = float(count)
    return ts, row

