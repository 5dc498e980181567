"""The Faro evaluation metrics, from the latency of every request (docs/simulation.md).

Example::

    >>> m = request_metrics(job=np.array([0, 0, 1]), unit=np.array([0, 0, 0]),
    ...                     latency_s=np.array([0.5, np.inf, 0.2]), slo_s=np.array([0.72, 0.72]), units=1)
    >>> m.slo_violation_rate, m.dropped
    (0.25, 1)

Definitions (the Faro paper's, so numbers compare with it):

- requests are binned by arrival unit (a trace minute); a rejected request has latency +inf;
- ``slo_violation_rate`` = 1 - mean over minutes of (mean over jobs of the fraction of the job's
  requests of that minute within its SLO); a job-minute without arrivals is left out of its minute,
  a minute without any arrival is left out altogether;
- ``lost_utility`` = mean over minutes of the sum over jobs of ``1 - min(1, SLO / p99)``, the p99 taken
  over the job-minute's requests: ``N_jobs - mean Σ utility`` when every job has arrivals, and a
  job-minute without arrivals loses nothing;
- ``request_slo_attainment`` = fraction of all requests within their job's SLO;
- ``p99_ms`` = p99 latency over completed (not rejected) requests.

Percentiles interpolate linearly between order statistics, as :func:`numpy.percentile` does; an
interpolation that touches a rejected request is +inf.
"""

from __future__ import annotations

import dataclasses

import numpy as np

_GROUP_STRIDE_S = 1.0e5  # larger than any finite latency; rejected (+inf) sort last within the group


@dataclasses.dataclass(frozen=True, kw_only=True)
class RequestMetrics:
    requests: int
    dropped: int
    slo_violation_rate: float
    lost_utility: float
    request_slo_attainment: float
    p99_ms: float | None  # None when no request completed
    job_unit_p99_s: np.ndarray  # (jobs, units), NaN where no request arrived
    job_unit_dropped: np.ndarray  # (jobs, units) requests rejected


def request_metrics(
    *, job: np.ndarray, unit: np.ndarray, latency_s: np.ndarray, slo_s: np.ndarray, units: int
) -> RequestMetrics:
    """Metrics of requests given as parallel arrays (job index, arrival unit, latency in seconds)."""
    jobs = len(slo_s)
    counts = np.zeros((jobs, units))
    within_counts = np.zeros((jobs, units))
    p99 = np.full((jobs, units), np.nan)
    dropped = np.zeros((jobs, units))
    # One job at a time: a 100-job run has ~25 M requests, and per-job temporaries stay small.
    for j in range(jobs):
        members = np.flatnonzero(job == j)
        job_unit = np.asarray(unit[members], dtype=np.int64)
        job_latency = np.asarray(latency_s[members], dtype=np.float64)
        counts[j] = np.bincount(job_unit, minlength=units)
        within_counts[j] = np.bincount(job_unit, weights=job_latency <= slo_s[j], minlength=units)
        dropped[j] = np.bincount(job_unit, weights=~np.isfinite(job_latency), minlength=units)
        p99[j] = _group_p99(job_unit, job_latency, counts[j].astype(np.int64))
    active = counts > 0
    active_minutes = active.any(axis=0)

    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.where(active, within_counts / np.maximum(counts, 1), 0.0)
        per_minute = fraction.sum(axis=0)[active_minutes] / active.sum(axis=0)[active_minutes]
        utility = np.where(active, np.minimum(1.0, np.asarray(slo_s)[:, None] / p99), 1.0)
    lost = (1.0 - utility).sum(axis=0)[active_minutes]

    completed = latency_s[np.isfinite(latency_s)]
    requests = int(counts.sum())
    return RequestMetrics(
        requests=requests,
        dropped=requests - len(completed),
        slo_violation_rate=float(1.0 - per_minute.mean()) if per_minute.size else 0.0,
        lost_utility=float(lost.mean()) if lost.size else 0.0,
        request_slo_attainment=float(within_counts.sum() / requests) if requests else 1.0,
        p99_ms=float(np.percentile(completed, 99) * 1000) if completed.size else None,
        job_unit_p99_s=p99,
        job_unit_dropped=dropped,
    )


def _group_p99(group: np.ndarray, latency_s: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The 99th percentile of each group's latencies (NaN for an empty group), vectorized over groups."""
    # One argsort on (group, latency) packed in a float: much faster than lexsort on millions of rows.
    key = group * _GROUP_STRIDE_S + np.minimum(latency_s, _GROUP_STRIDE_S / 2)
    order = np.argsort(key)
    ordered = latency_s[order]
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    result = np.full(len(counts), np.nan)
    present = counts > 0
    position = (counts[present] - 1) * 0.99
    low = np.floor(position).astype(np.int64)
    fraction = position - low
    below = ordered[starts[present] + low]
    above = ordered[starts[present] + np.minimum(low + 1, counts[present] - 1)]
    exact = (fraction == 0) | (above == below)
    with np.errstate(invalid="ignore"):  # inf - inf where both neighbours were rejected: exact anyway
        result[present] = np.where(exact, below, below + (above - below) * fraction)
    return result
