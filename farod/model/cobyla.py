"""The Faro paper's solver pipeline, kept as a baseline and a test oracle for the exact solver.

Example::

    >>> from farod.model.problem import problem_from_dict
    >>> problem = problem_from_dict({"quota": {"cpu": 4}, "jobs": [
    ...     {"name": "a", "service_time_ms": 180, "slo_ms": 720, "rates": [10.0]}]})
    >>> solve_cobyla(problem)
    {'a': 3}

1. COBYLA (scipy) on continuous replica counts (and, for ``penaltysum``, accept rates), started at the
   current allocation, with the quota and the bounds as constraints -- the latency model accepts real
   server counts;
2. round every count up;
3. repair: while the quota is exceeded, remove the replica whose removal costs the objective least;
4. shrink: remove replicas whose removal does not lower the objective.

It is local and approximate; :mod:`farod.model.solver` documents the exact method that replaces it.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize

from farod.jobs import usage
from farod.model.problem import PlanProblem
from farod.model.tables import JobArrays, batch_utility, quota_limits
from farod.model.utility import objective_value

_MIN_SERVERS = 1e-3  # the latency model needs servers > 0 while COBYLA explores


def _objective(problem: PlanProblem, arrays: JobArrays, replicas: np.ndarray, accept: np.ndarray) -> float:
    utilities = batch_utility(problem, arrays, np.maximum(replicas, _MIN_SERVERS), accept)
    return objective_value(problem.objective, utilities, [job.weight for job in problem.jobs])


def _continuous(problem: PlanProblem, arrays: JobArrays) -> tuple[np.ndarray, np.ndarray]:
    jobs = problem.jobs
    n = len(jobs)
    dropping = problem.objective == "penaltysum"
    low = np.array([float(job.min_replicas) for job in jobs])
    high = quota_limits(problem).astype(float)
    start = np.clip([float(job.current_replicas) for job in jobs], low, high)

    def split(x):
        return x[:n], (np.clip(x[n:], 0.0, 1.0) if dropping else np.ones(n))

    constraints = [{"type": "ineq", "fun": lambda x, r=r: problem.quota[r] - usage(zip(jobs, x[:n]), [r])[r]}
                   for r in problem.quota]
    bounds = list(zip(low, high)) + ([(0.0, 1.0)] * n if dropping else [])
    x0 = np.concatenate([start, np.ones(n)]) if dropping else start
    result = optimize.minimize(lambda x: -_objective(problem, arrays, *split(x)), x0, method="COBYLA",
                               bounds=bounds, constraints=constraints,
                               options={"maxiter": max(1000, 4 * (x0.size + 1))})
    replicas, accept = split(np.asarray(result.x, dtype=float))
    return np.clip(replicas, low, high), accept


def solve_cobyla(problem: PlanProblem) -> dict[str, int]:
    """Integer allocation by COBYLA, ceil, repair and shrink (accept rates are re-chosen by the caller)."""
    arrays = JobArrays.of(problem.jobs)
    replicas, accept = _continuous(problem, arrays)
    counts = np.ceil(replicas - 1e-9).astype(int)
    names = [job.name for job in problem.jobs]
    minimums = np.array([job.min_replicas for job in problem.jobs])

    def fits(c):
        return problem.fits(dict(zip(names, c)))

    def best_removal(c, must_not_lose: bool):
        """Index whose removal loses least (or nothing, when ``must_not_lose``), else None."""
        base = _objective(problem, arrays, c, accept)
        best, best_loss = None, np.inf
        for i in np.flatnonzero(c > minimums):
            trial = c.copy()
            trial[i] -= 1
            loss = base - _objective(problem, arrays, trial, accept)
            if loss < best_loss and (not must_not_lose or loss <= 1e-12):
                best, best_loss = i, loss
        return best

    while not fits(counts):
        counts[best_removal(counts, must_not_lose=False)] -= 1
    while (index := best_removal(counts, must_not_lose=True)) is not None:
        counts[index] -= 1
    return dict(zip(names, counts.tolist()))
