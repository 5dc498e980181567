"""Integer replica counts that maximize the cluster objective under the quota.

Example::

    >>> from farod.model.problem import problem_from_dict
    >>> problem = problem_from_dict({"quota": {"cpu": 4}, "objective": "sum", "jobs": [
    ...     {"name": "a", "service_time_ms": 180, "slo_ms": 720, "rates": [10.0]},
    ...     {"name": "b", "service_time_ms": 180, "slo_ms": 720, "rates": [2.0]}]})
    >>> solve(problem).allocation
    {'a': 3, 'b': 1}

``exact`` works on per-job utility tables (:mod:`farod.model.tables`):

* ``sum`` / ``penaltysum`` -- a multiple-choice knapsack: dynamic programming over (job, resource units
  used), one vectorized numpy step per job. Exact for one resource.
* ``fair`` -- binary search over the minimum-utility level (the cheapest way for every job to reach a
  level is independent per job), then the knapsack restricted to counts at or above the level for the
  tie-break by the sum.
* ``fairsum`` -- ``Σ U − N·(max − min)`` is maximized over windows ``[lo, hi]`` of utility levels: the
  knapsack restricted to the window gives ``Σ U``, and the window's value bounds the objective of its
  solution from below; since no window can beat ``N·lo``, levels are scanned downward from the fair
  optimum until that bound falls below the best found, which makes the search exact. For one ``lo``
  the windows are solved from the widest that could still win downward: a window's optimum is also the
  optimum of every narrower window that contains it, so one knapsack settles a whole range of ``hi``,
  and bounds on the window's sum (the sum optimum, each job's best utility up to ``hi``, the wider
  windows' sums) end the descent. The sum and fair optima are the first incumbents. Under contention,
  where the optimum is near 0 and ``N·lo`` prunes nothing, this took the slowest decisions of a 100-job
  simulation from 4-8 s to 0.06-0.34 s.

Ties resolve toward the current allocation: each replica changed costs ``TIE_EPSILON`` in the search,
plus the problem's ``change_cost`` (a policy's hysteresis on moves: a move must gain at least that), plus
its ``reversal_cost`` where the replica moves against the job's ``last_move`` (undoing a recent move).
With several resources the knapsack runs on the normalized maximum of the resources (always feasible),
a greedy pass adds what still fits, and ``optimal`` is true only when that matches the upper bound of
solving each resource alone.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence

import numpy as np

from farod.model.problem import PlanProblem
from farod.model.tables import (
    JobArrays,
    UtilityTable,
    batch_latency,
    batch_utility,
    tabulate_all,
)
from farod.model.utility import objective_value

METHODS = ("exact", "cobyla")
TIE_EPSILON = 1e-9
# Above this many resource units the knapsack works on a coarser grid (and stops claiming optimality).
_MAX_UNITS = 200_000
_UNIT_CANDIDATES = (1.0, 0.5, 0.25, 0.1, 0.05, 0.01, 0.001)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Solution:
    """An allocation with what the model predicts for it (the JSON of docs/plan.md)."""

    allocation: dict[str, int]
    accept_rate: dict[str, float]
    predicted_latency_ms: dict[str, list[float]]
    utility: dict[str, float]
    objective: float
    method: str
    optimal: bool
    solve_ms: float = 0.0

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def evaluate(problem: PlanProblem, allocation: Mapping[str, int], accept_rate: Mapping[str, float] | None = None,
             *, method: str = "evaluate", optimal: bool = False, solve_ms: float = 0.0) -> Solution:
    """What the model predicts for a given allocation (also how every solver reports its answer)."""
    names = [job.name for job in problem.jobs]
    accept = np.array([float((accept_rate or {}).get(name, 1.0)) for name in names])
    replicas = np.array([float(allocation[name]) for name in names])
    arrays = JobArrays.of(problem.jobs)
    utilities = batch_utility(problem, arrays, replicas, accept)
    # With forecast scenarios, the latency reported per step is the one at the expected load.
    expected = arrays if all(job.rates.ndim == 1 for job in problem.jobs) else JobArrays.of(
        [dataclasses.replace(job, rates=job.expected_rates, scenario_weights=None) for job in problem.jobs])
    latencies = [row[: job.steps] for row, job in zip(batch_latency(problem, expected, replicas, accept), problem.jobs)]
    return Solution(
        allocation={name: int(allocation[name]) for name in names},
        accept_rate=dict(zip(names, accept.tolist())),
        predicted_latency_ms={name: np.round(row, 3).tolist() for name, row in zip(names, latencies)},
        utility={name: round(float(value), 6) for name, value in zip(names, utilities)},
        objective=objective_value(problem.objective, utilities, [job.weight for job in problem.jobs]),
        method=method,
        optimal=optimal,
        solve_ms=solve_ms,
    )


def solve(problem: PlanProblem, *, method: str = "exact") -> Solution:
    """Solve ``problem`` with ``method`` (``exact`` or ``cobyla``)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    started = time.perf_counter()
    if method == "cobyla":
        # scipy.optimize is only needed by the baseline.
        from farod.model.cobyla import solve_cobyla

        allocation, accept, optimal = solve_cobyla(problem), None, False
    else:
        allocation, accept, optimal = _solve_exact(problem)
    elapsed_ms = (time.perf_counter() - started) * 1000.0
    return evaluate(problem, allocation, accept, method=method, optimal=optimal, solve_ms=round(elapsed_ms, 3))


# --- exact --------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Grid:
    """Resource units of the knapsack: per job, units per replica; ``exact`` if no rounding happened."""

    per_replica: np.ndarray  # int units per replica, one per job
    capacity: int
    exact: bool


def _grid_for(problem: PlanProblem, resources: Sequence[str]) -> _Grid:
    """Integer units for one resource (exact when possible) or for the normalized max of several."""
    if len(resources) == 1:
        resource = resources[0]
        amounts = np.array([job.resources.get(resource, 0.0) for job in problem.jobs])
        for unit in _UNIT_CANDIDATES:
            scaled = amounts / unit
            capacity = int(np.floor(problem.quota[resource] / unit + 1e-9))
            if np.allclose(scaled, np.round(scaled), atol=1e-9) and capacity <= _MAX_UNITS:
                return _Grid(np.round(scaled).astype(np.int64), capacity, exact=True)
        shares = amounts / problem.quota[resource]
    else:
        shares = np.array([max(job.resources.get(r, 0.0) / problem.quota[r] if problem.quota[r] > 0 else
                               (np.inf if job.resources.get(r, 0.0) > 0 else 0.0) for r in resources)
                           for job in problem.jobs])
    # Rounding each job's share up keeps every resource within its quota.
    per_replica = np.ceil(np.nan_to_num(shares, posinf=_MAX_UNITS + 1) * _MAX_UNITS - 1e-6).astype(np.int64)
    return _Grid(per_replica, _MAX_UNITS, exact=False)


class _Exact:
    """One exact solve: the tables (padded into matrices), the grid, and the objective-specific searches.

    A job's table is ascending in utility, so a window of utility levels ``[low, high]`` is a contiguous
    range of table columns ``[first, stop)`` per job -- which keeps every window a few vector operations.
    """

    def __init__(self, problem: PlanProblem, resources: Sequence[str], tables: list[UtilityTable] | None = None):
        self.problem = problem
        self.tables = tables if tables is not None else tabulate_all(problem)
        self.grid = _grid_for(problem, resources)
        self.n = len(problem.jobs)
        width = max(t.replicas.size for t in self.tables)
        self.utility = np.full((self.n, width), np.inf)  # padding sorts above every level
        self.replicas = np.zeros((self.n, width), dtype=np.int64)
        for i, table in enumerate(self.tables):
            self.utility[i, : table.replicas.size] = table.utility
            self.replicas[i, : table.replicas.size] = table.replicas
        self.sizes = np.array([t.replicas.size for t in self.tables])
        self.units = self.replicas * self.grid.per_replica[:, None]
        moved = self.replicas - np.array([job.current_replicas for job in problem.jobs])[:, None]
        undone = np.maximum(0, -np.array([job.last_move for job in problem.jobs])[:, None] * moved)
        # Weights scale the efficiency objectives only (docs/plan.md): fairness compares raw utility.
        weighted = problem.objective in ("sum", "penaltysum")
        weights = np.array([job.weight if weighted else 1.0 for job in problem.jobs])
        # What the knapsack maximizes: utility, minus a hair per replica changed (ties -> fewer changes)
        # and the problem's own prices of a move and of undoing a recent one.
        self.value = weights[:, None] * np.where(np.isfinite(self.utility), self.utility, 0.0) \
            - (TIE_EPSILON + problem.change_cost) * np.abs(moved) - problem.reversal_cost * undone

    def run(self) -> np.ndarray:
        if self.problem.objective in ("sum", "penaltysum"):
            return self.knapsack(*self.everything())[0]
        if self.problem.objective == "fair":
            return self.fair(self.fair_level())
        return self.fairsum()

    def everything(self) -> tuple[np.ndarray, np.ndarray]:
        """Every job's whole table: the unrestricted knapsack."""
        return np.zeros(self.n, dtype=np.int64), self.sizes

    def fair(self, level: float) -> np.ndarray:
        """The best sum among choices that give every job at least ``level`` (fair's tie-break)."""
        return self.knapsack(*self.window(level, np.inf))[0]

    def window(self, low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
        """Per job, the column range whose utility lies in [low, high]."""
        first = (self.utility < low - 1e-12).sum(axis=1)
        stop = np.minimum((self.utility <= high + 1e-12).sum(axis=1), self.sizes)
        return first, stop

    def fits_at_minimum(self, first: np.ndarray, stop: np.ndarray) -> bool:
        if np.any(first >= stop):
            return False
        return int(self.units[np.arange(self.n), first].sum()) <= self.grid.capacity

    def knapsack(self, first: np.ndarray, stop: np.ndarray) -> tuple[np.ndarray, float] | None:
        """Best column per job within ``[first, stop)`` maximizing the summed value within the capacity.

        Dynamic program over (job, units used); jobs with a single allowed column are fixed up front.
        """
        if not self.fits_at_minimum(first, stop):
            return None
        rows = np.arange(self.n)
        fixed = stop - first == 1
        chosen = first.copy()
        capacity = self.grid.capacity - int(self.units[rows[fixed], first[fixed]].sum())
        offset = float(self.value[rows[fixed], first[fixed]].sum())
        free = rows[~fixed]
        capacity = min(capacity, int(sum(self.units[i, stop[i] - 1] for i in free)))
        best = np.zeros(capacity + 1)
        picks = []
        for i in free:
            merged = np.full(capacity + 1, -np.inf)
            pick = np.zeros(capacity + 1, dtype=np.int64)
            for column in range(first[i], stop[i]):
                used = int(self.units[i, column])
                if used > capacity:
                    break  # columns only grow in replicas
                candidate = best[: capacity + 1 - used] + self.value[i, column]
                better = candidate > merged[used:]  # strict: ties keep the fewer replicas
                merged[used:][better] = candidate[better]
                pick[used:][better] = column
            best = merged
            picks.append(pick)
        units = capacity
        for i, pick in zip(free[::-1], picks[::-1]):
            chosen[i] = pick[units]
            units -= int(self.units[i, chosen[i]])
        return chosen, offset + float(best[capacity])

    def levels(self) -> np.ndarray:
        return np.unique(self.utility[np.isfinite(self.utility)])

    def fair_level(self) -> float:
        """Highest level every job can reach at once (binary search; reaching a level costs per job)."""
        levels = self.levels()
        low, high = 0, levels.size - 1  # levels[0] is always reachable: every job's minimum
        while low < high:
            middle = (low + high + 1) // 2
            if self.fits_at_minimum(*self.window(levels[middle], np.inf)):
                low = middle
            else:
                high = middle - 1
        return float(levels[low])

    def score(self, chosen: np.ndarray) -> float:
        """The true objective of a choice, minus the tie-break for changes."""
        rows = np.arange(self.n)
        utilities = self.utility[rows, chosen]
        changes = (self.value[rows, chosen] - utilities).sum()  # weights are 1 for fairsum
        return objective_value(self.problem.objective, utilities) + changes

    def fairsum(self) -> np.ndarray:
        levels = self.levels()
        best_sum_below = self.best_sum_below(levels)
        best, best_sum = self.knapsack(*self.everything())
        top = self.fair_level()
        # The sum's and the fair optimum are good incumbents: the better one prunes most windows at once.
        best, best_score = max(((choice, self.score(choice)) for choice in (best, self.fair(top))),
                               key=lambda pair: pair[1])
        rows = np.arange(self.n)
        for low in levels[levels <= top][::-1]:
            if self.n * low <= best_score:
                break  # no window starting this low can beat N·low
            first, _ = self.window(low, np.inf)
            if not self.fits_at_minimum(first, self.sizes):
                continue
            # Every job must reach into the window, so it cannot end below the highest first level.
            reachable = levels >= self.utility[rows, first].max() - 1e-12
            candidates, ceiling = levels[reachable], np.minimum(best_sum_below[reachable], best_sum)
            while candidates.size:
                # g(high) = (best sum in [low, high]) - N·(high - low) is what a window is worth; `ceiling`
                # bounds that sum. Solve the highest window that could still win: its optimum is also the
                # optimum of every window down to its own highest utility, so g is known on that whole range.
                hopeful = np.flatnonzero(ceiling - self.n * (candidates - low) > best_score)
                if not hopeful.size:
                    break
                high = candidates[hopeful[-1]]
                window = self.window(low, high)
                # The priced bound is a few vector operations; the knapsack it may spare, a pass per job.
                bound = self.sum_bound(*window)
                ceiling = np.where(candidates <= high, np.minimum(ceiling, bound), ceiling)
                if bound - self.n * (high - low) <= best_score:
                    continue
                # Never None: this low's minimums fit (checked above), and a window some job cannot
                # enter has a bound of -inf.
                choice, total = self.knapsack(*window)
                if (score := self.score(choice)) > best_score:
                    best, best_score = choice, score
                reached = self.utility[rows, choice].max()
                keep = candidates < reached - 1e-12
                candidates, ceiling = candidates[keep], np.minimum(ceiling[keep], total)
        return best

    def sum_bound(self, first: np.ndarray, stop: np.ndarray, *, iterations: int = 12) -> float:
        """An upper bound on :meth:`knapsack` over ``[first, stop)``: the capacity priced at ``λ`` per unit.

        For any ``λ >= 0``, ``λ·capacity + Σ_i max_j (value_ij − λ·units_ij)`` bounds the knapsack from
        above (Lagrangian relaxation); it is convex in ``λ``, so bisection on its slope closes in on the
        tightest. Any ``λ`` gives a valid bound: fewer iterations only make it looser.
        """
        columns = np.arange(self.utility.shape[1])
        inside = (columns >= first[:, None]) & (columns < stop[:, None])
        if not inside.any(axis=1).all():
            return -np.inf
        value = np.where(inside, self.value, -np.inf)
        rows = np.arange(self.n)

        def priced(price: float) -> tuple[float, int]:
            net = value - price * self.units
            best = net.argmax(axis=1)
            return price * self.grid.capacity + float(net[rows, best].sum()), int(self.units[rows, best].sum())

        low, high = 0.0, float(np.max(np.where(inside & (self.units > 0), value / np.maximum(self.units, 1), 0.0)))
        bound, used = priced(low)
        if used <= self.grid.capacity:
            return bound  # the knapsack's unconstrained optimum fits
        for _ in range(iterations):
            middle = (low + high) / 2.0
            value_at, used = priced(middle)
            bound = min(bound, value_at)
            low, high = (low, middle) if used <= self.grid.capacity else (middle, high)
        return min(bound, priced(high)[0])

    def best_sum_below(self, levels: np.ndarray) -> np.ndarray:
        """For each level h: Σ over jobs of the job's highest utility <= h (a bound that ignores the quota).

        One pass over all table entries in ascending utility: each entry replaces its job's previous one.
        """
        rows, columns = np.nonzero(np.isfinite(self.utility))
        values = self.utility[rows, columns]
        order = np.argsort(values, kind="stable")
        rows, columns, values = rows[order], columns[order], values[order]
        previous = np.where(columns > 0, self.utility[rows, np.maximum(columns - 1, 0)], 0.0)
        running = np.cumsum(values - previous)
        last_at_level = np.searchsorted(values, levels + 1e-12, side="right") - 1
        return running[last_at_level]

    def allocation(self, chosen: np.ndarray) -> tuple[dict[str, int], dict[str, float]]:
        names = [job.name for job in self.problem.jobs]
        return ({n: int(t.replicas[c]) for n, t, c in zip(names, self.tables, chosen)},
                {n: float(t.accept_rate[c]) for n, t, c in zip(names, self.tables, chosen)})


def _solve_exact(problem: PlanProblem) -> tuple[dict[str, int], dict[str, float], bool]:
    resources = problem.resources
    search = _Exact(problem, resources)
    chosen = search.run()
    allocation, accept = search.allocation(chosen)
    if len(resources) == 1 and search.grid.exact:
        return allocation, accept, True
    allocation, accept = _fill(problem, search, allocation, accept)
    value = evaluate(problem, allocation, accept).objective
    bounds = []
    for resource in resources:  # each resource alone is a relaxation: its optimum bounds ours
        alone = _Exact(problem, [resource], tables=search.tables)
        if not alone.grid.exact:
            return allocation, accept, False
        bound_alloc, bound_accept = alone.allocation(alone.run())
        bounds.append(evaluate(problem, bound_alloc, bound_accept).objective)
    return allocation, accept, bool(value >= min(bounds) - 1e-9)


def _fill(problem, search: _Exact, allocation, accept):
    """Add replicas that still fit and raise the objective (the rounded grid may leave room)."""
    tables = {job.name: table for job, table in zip(problem.jobs, search.tables)}
    while True:
        current = evaluate(problem, allocation, accept).objective
        best_gain, best_name = 1e-12, None
        for job in problem.jobs:
            table = tables[job.name]
            trial = dict(allocation, **{job.name: allocation[job.name] + 1})
            if allocation[job.name] + 1 > table.replicas[-1] or not problem.fits(trial):
                continue
            gain = evaluate(problem, trial, accept).objective - current
            if gain > best_gain:
                best_gain, best_name = gain, job.name
        if best_name is None:
            return allocation, accept
        allocation = dict(allocation, **{best_name: allocation[best_name] + 1})
