"""Per-job utility tables: the utility of every useful replica count, computed once per decision.

The solvers never call the latency model inside their search. For each job they look up a table of
candidate replica counts ``c`` (from ``min_replicas`` to the point where more replicas cannot raise the
utility any more, or the quota ends) and the job's horizon-averaged utility at each. The model's
utility is non-decreasing in ``c``, so the table can stop at the plateau: beyond it, extra replicas
only waste quota. For ``penaltysum`` each entry is already maximized over the accept rate -- the best
accept rate of one job does not depend on the others once its replicas are fixed.

All jobs of a problem are evaluated together (jobs × counts × accept rates × steps in one numpy call),
which is what makes a 1000-job decision take milliseconds rather than seconds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from farod.jobs import fitting_replicas, remaining
from farod.model.problem import PlanJob, PlanProblem
from farod.model.queueing import latency
from farod.model.utility import ACCEPT_RATES, drop_penalty, utility

# The first pass evaluates this many counts above each job's minimum at most; jobs whose plateau lies
# further are tabulated on their own.
_MAX_FIRST_BLOCK = 24


@dataclasses.dataclass(frozen=True)
class UtilityTable:
    """Candidate replica counts of one job and their utilities, ascending in replicas."""

    replicas: np.ndarray  # int, ascending
    utility: np.ndarray  # horizon-mean utility incl. drop penalty, unweighted
    accept_rate: np.ndarray  # best accept rate at each count (1.0 unless penaltysum)


@dataclasses.dataclass(frozen=True)
class JobArrays:
    """Per-job parameters stacked for broadcasting; horizons of different length are zero-padded."""

    rates: np.ndarray  # (jobs, scenarios·steps), requests/s
    step_weight: np.ndarray  # (jobs, steps): 1/horizon on the job's own steps, 0 on padding
    service_s: np.ndarray
    tail_s: np.ndarray  # one request's latency at the percentile without waiting
    slo_ms: np.ndarray
    current: np.ndarray
    warmup: np.ndarray  # (jobs, steps): fraction of each step new replicas are still starting

    @classmethod
    def of(cls, jobs: Sequence[PlanJob]) -> "JobArrays":
        """Scenarios become extra steps: scenario k's step t weighs ``w_k / steps``, so the weighted
        mean over the flattened steps is the expected horizon-mean utility."""
        width = max(job.rates.size for job in jobs)
        rates = np.zeros((len(jobs), width))
        step_weight = np.zeros((len(jobs), width))
        warmup = np.zeros((len(jobs), width))
        for i, job in enumerate(jobs):
            rows, weights = job.scenarios
            rates[i, : job.rates.size] = rows.reshape(-1)
            step_weight[i, : job.rates.size] = np.repeat(weights / job.steps, job.steps)
            warmup[i, : job.rates.size] = np.tile(np.clip(job.startup_steps - np.arange(job.steps), 0.0, 1.0),
                                                  rows.shape[0])
        return cls(
            rates=rates,
            step_weight=step_weight,
            service_s=np.array([job.service_time_ms / 1000.0 for job in jobs]),
            tail_s=np.array([(job.service_tail_ms or job.service_time_ms) / 1000.0 for job in jobs]),
            slo_ms=np.array([job.slo_ms for job in jobs]),
            current=np.array([float(job.current_replicas) for job in jobs]),
            warmup=warmup,
        )


def _expand(values: np.ndarray, ndim: int) -> np.ndarray:
    """(jobs,) or (jobs, steps) -> broadcastable against (jobs, *grid, steps) with ``ndim`` grid axes."""
    if values.ndim == 1:
        return values.reshape(values.shape + (1,) * (ndim + 1))
    return values.reshape(values.shape[:1] + (1,) * ndim + values.shape[1:])


def batch_latency(problem: PlanProblem, arrays: JobArrays, replicas, accept_rate) -> np.ndarray:
    """Latency in ms, shape (jobs, *grid, steps); ``replicas``/``accept_rate`` shaped (jobs, *grid)."""
    replicas = np.asarray(replicas, dtype=float)
    accept_rate = np.broadcast_to(np.asarray(accept_rate, dtype=float), replicas.shape)
    grid = replicas.ndim - 1
    seconds = latency(_expand(arrays.rates, grid) * accept_rate[..., None], _expand(arrays.service_s, grid),
                      replicas[..., None], percentile=problem.percentile, max_rho=problem.max_rho,
                      tail=_expand(arrays.tail_s, grid))
    return seconds * 1000.0


def batch_utility(problem: PlanProblem, arrays: JobArrays, replicas, accept_rate) -> np.ndarray:
    """Horizon-mean utility incl. drop penalty, shape (jobs, *grid).

    New replicas serve only after the job's start-up: during warm-up the running ones carry the load.
    """
    replicas = np.asarray(replicas, dtype=float)
    grid = replicas.ndim - 1
    slo = _expand(arrays.slo_ms, grid)
    per_step = utility(problem.utility, batch_latency(problem, arrays, replicas, accept_rate), slo)
    if arrays.warmup.any():
        running = np.minimum(replicas, arrays.current.reshape(arrays.current.shape + (1,) * grid))
        during = utility(problem.utility, batch_latency(problem, arrays, running, accept_rate), slo)
        warmup = _expand(arrays.warmup, grid)
        per_step = warmup * during + (1.0 - warmup) * per_step
    return (per_step * _expand(arrays.step_weight, grid)).sum(axis=-1) * drop_penalty(accept_rate)


def quota_limits(problem: PlanProblem) -> np.ndarray:
    """Most replicas each job can get while every other job sits at its minimum (and its own max)."""
    free = remaining(problem.quota, [(job, job.min_replicas) for job in problem.jobs])
    return np.array([job.bounded(job.min_replicas + fitting_replicas(job, free)) for job in problem.jobs])


def _best_over_accept_rates(problem: PlanProblem, arrays: JobArrays, replicas: np.ndarray):
    """Utility and accept rate per (job, count) in a (jobs, counts) grid; only penaltysum sheds load.

    Shedding can only pay where serving everything falls short of utility 1, so the accept-rate grid
    is evaluated for those (job, count) pairs alone.
    """
    serve_all = batch_utility(problem, arrays, replicas, 1.0)
    accept = np.ones(replicas.shape)
    if problem.objective != "penaltysum":
        return serve_all, accept
    short = np.nonzero(serve_all < 1.0 - 1e-12)
    if short[0].size == 0:
        return serve_all, accept
    rows = JobArrays(**{field.name: getattr(arrays, field.name)[short[0]] for field in dataclasses.fields(JobArrays)})
    grid = batch_utility(problem, rows, np.repeat(replicas[short][:, None], ACCEPT_RATES.size, axis=1),
                         np.broadcast_to(ACCEPT_RATES, (short[0].size, ACCEPT_RATES.size)))
    best = grid.argmax(axis=-1)  # ACCEPT_RATES is descending: ties keep the higher accept rate
    utility = serve_all.copy()
    utility[short] = grid[np.arange(best.size), best]
    accept[short] = ACCEPT_RATES[best]
    return utility, accept


def tabulate_all(problem: PlanProblem) -> list[UtilityTable]:
    """Every job's table, from ``min_replicas`` up to its utility plateau (or its quota/max bound).

    The current count stays in the table when it lies on the plateau: ties go to fewer changes.
    """
    jobs = problem.jobs
    low = np.array([job.min_replicas for job in jobs])
    high = quota_limits(problem)
    current = np.array([job.current_replicas for job in jobs])
    arrays = JobArrays.of(jobs)
    ceiling = _best_over_accept_rates(problem, arrays, high[:, None].astype(float))[0][:, 0] - 1e-12
    block = _first_block(problem, arrays, low, current)
    counts = low[:, None] + np.arange(block + 1)[None, :]
    values, accepts = _best_over_accept_rates(problem, arrays, np.minimum(counts, high[:, None]).astype(float))
    tables = []
    for i, job in enumerate(jobs):
        reached = np.flatnonzero(values[i] >= ceiling[i])
        plateau = low[i] + reached[0] if reached.size else high[i]
        stop = max(plateau, min(current[i], high[i]))
        if stop - low[i] <= block:
            size = stop - low[i] + 1
            tables.append(UtilityTable(counts[i, :size], values[i, :size], accepts[i, :size]))
        else:
            tables.append(_tabulate_one(problem, job, low[i], stop, ceiling[i]))
    return tables


def _first_block(problem: PlanProblem, arrays: JobArrays, low: np.ndarray, current: np.ndarray) -> int:
    """Counts to evaluate for every job at once: enough for 90% of the jobs to reach their plateau.

    Square-root staffing: at peak offered load ``a`` the latency levels off near ``a/max_rho + 3·√a``.
    """
    load = arrays.rates.max(axis=1) * arrays.service_s
    needed = np.maximum(np.ceil(load / problem.max_rho + 3.0 * np.sqrt(load)) + 2, current) - low
    return int(np.clip(np.quantile(needed, 0.9), 1, _MAX_FIRST_BLOCK))


def _tabulate_one(problem: PlanProblem, job: PlanJob, low: int, high: int, ceiling: float) -> UtilityTable:
    """A long table (a heavy job): evaluate all counts in [low, high], cut at the plateau."""
    arrays = JobArrays.of([job])
    replicas = np.arange(low, high + 1)
    values, accepts = _best_over_accept_rates(problem, arrays, replicas[None, :].astype(float))
    reached = np.flatnonzero(values[0] >= ceiling)
    stop = max(reached[0], min(job.current_replicas, high) - low)
    return UtilityTable(replicas[: stop + 1], values[0, : stop + 1], accepts[0, : stop + 1])
