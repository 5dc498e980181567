"""The exact solver against brute force, COBYLA, and the contract's rules (ties, penaltysum, resources)."""

import dataclasses
import itertools
import zlib

import numpy as np
import pytest

from farod.errors import FarodError
from farod.model.problem import PlanJob, PlanProblem
from farod.model.solver import _Exact, evaluate, solve
from farod.model.tables import tabulate_all
from farod.model.utility import drop_penalty, objective_value, relaxed_utility, step_utility


def _job(name, rate, *, current=1, low=1, high=None, cpu=1.0, weight=1.0, steps=3, service=180.0, slo=720.0):
    return PlanJob(name=name, service_time_ms=service, slo_ms=slo, rates=np.full(steps, float(rate)),
                   current_replicas=current, min_replicas=low, max_replicas=high, resources={"cpu": cpu}, weight=weight)


def _brute_force(problem):
    """Best objective over every feasible allocation (penaltysum: best accept rate per job from its table)."""
    tables = {job.name: table for job, table in zip(problem.jobs, tabulate_all(problem))}
    best = -np.inf
    ranges = [range(job.min_replicas, job.max_replicas + 1) for job in problem.jobs]
    for counts in itertools.product(*ranges):
        allocation = {job.name: c for job, c in zip(problem.jobs, counts)}
        if not problem.fits(allocation):
            continue
        accept = {}
        if problem.objective == "penaltysum":
            for job, c in allocation.items():
                table = tables[job]
                accept[job] = float(table.accept_rate[min(np.searchsorted(table.replicas, c), table.replicas.size - 1)])
        solution = evaluate(problem, allocation, accept)
        best = max(best, _ranked(problem, solution))
    return best


def _ranked(problem, solution):
    """The objective, with fair's tie-break by the sum folded in."""
    if problem.objective == "fair":
        return solution.objective + 1e-7 * sum(solution.utility.values())
    return solution.objective


@pytest.mark.parametrize("objective", ["sum", "fair", "fairsum", "penaltysum"])
@pytest.mark.parametrize("utility", ["relaxed", "step"])
def test_exact_matches_brute_force_on_random_problems(objective, utility):
    rng = np.random.default_rng(zlib.crc32(f"{objective}/{utility}".encode()))  # fixed per case
    for _ in range(25):
        jobs = []
        for i in range(int(rng.integers(1, 5))):
            low = int(rng.integers(0, 3))
            high = low + int(rng.integers(0, 5))
            service = float(rng.uniform(50, 300))
            tail = None if rng.random() < 0.5 else service * float(rng.uniform(1, 4))  # a learned tail
            jobs.append(PlanJob(name=f"j{i}", service_time_ms=service, service_tail_ms=tail,
                                slo_ms=float(rng.uniform(200, 1000)), rates=rng.uniform(0, 30, int(rng.integers(1, 4))),
                                min_replicas=low, max_replicas=high, current_replicas=int(rng.integers(low, high + 1)),
                                resources={"cpu": float(rng.choice([0.5, 1.0, 2.0]))}, weight=float(rng.choice([1.0, 2.0]))))
        quota = sum(j.min_replicas * j.resources["cpu"] for j in jobs) + float(rng.integers(0, 8))
        problem = PlanProblem(jobs=tuple(jobs), quota={"cpu": quota}, objective=objective, utility=utility)
        solution = solve(problem)
        assert problem.fits(solution.allocation)
        assert solution.optimal
        assert _ranked(problem, solution) >= _brute_force(problem) - 1e-6


@pytest.mark.parametrize("objective", ["sum", "fair", "fairsum", "penaltysum"])
def test_exact_is_never_below_cobyla(objective):
    rng = np.random.default_rng(7)
    jobs = tuple(_job(f"j{i}", rng.uniform(2, 25), current=3, steps=7) for i in range(6))
    problem = PlanProblem(jobs=jobs, quota={"cpu": 19}, objective=objective)
    exact, cobyla = solve(problem), solve(problem, method="cobyla")
    assert problem.fits(cobyla.allocation)
    assert exact.objective >= cobyla.objective - 1e-9


@pytest.mark.parametrize("objective", ["sum", "penaltysum"])
def test_move_costs_match_brute_force(objective):
    """The knapsack maximizes the objective minus change_cost per replica moved and reversal_cost per
    replica moved against a job's last move: checked against every allocation."""
    rng = np.random.default_rng(zlib.crc32(f"moves/{objective}".encode()))
    undoing = 0
    for _ in range(30):
        jobs = tuple(_job(f"j{i}", rng.uniform(0, 20), current=int(rng.integers(1, 5)), high=5, steps=2)
                     for i in range(int(rng.integers(2, 5))))
        jobs = tuple(dataclasses.replace(job, last_move=int(rng.integers(-1, 2))) for job in jobs)
        problem = PlanProblem(jobs=jobs, quota={"cpu": sum(job.current_replicas for job in jobs)}, objective=objective,
                              change_cost=float(rng.choice([0.0, 0.05])), reversal_cost=float(rng.choice([0.0, 0.1, 0.5])))

        def priced(allocation, accept):
            moved = np.array([allocation[job.name] - job.current_replicas for job in jobs])
            undone = np.maximum(0, -np.array([job.last_move for job in jobs]) * moved)
            return evaluate(problem, allocation, accept).objective \
                - problem.change_cost * np.abs(moved).sum() - problem.reversal_cost * undone.sum()

        tables = {job.name: table for job, table in zip(jobs, tabulate_all(problem))}
        best = -np.inf
        for counts in itertools.product(*[range(1, 6)] * len(jobs)):
            allocation = {job.name: c for job, c in zip(jobs, counts)}
            accept = {name: float(tables[name].accept_rate[min(np.searchsorted(tables[name].replicas, c),
                                                                   tables[name].replicas.size - 1)])
                      for name, c in allocation.items()} if objective == "penaltysum" else {}
            if problem.fits(allocation):
                best = max(best, priced(allocation, accept))
        solution = solve(problem)
        assert priced(solution.allocation, solution.accept_rate) >= best - 1e-6
        free = solve(dataclasses.replace(problem, reversal_cost=0.0)).allocation
        undoing += any((free[job.name] - job.current_replicas) * job.last_move < 0 for job in jobs)
    assert undoing >= 5  # the cases include moves the reversal cost has to weigh


def test_ties_resolve_toward_the_current_allocation():
    # Both jobs are idle: any split of the spare quota has the same utility, so nothing should move.
    jobs = (_job("a", 0.0, current=4), _job("b", 0.0, current=2))
    assert solve(PlanProblem(jobs=jobs, quota={"cpu": 10})).allocation == {"a": 4, "b": 2}
    jobs = (_job("a", 0.0, current=1), _job("b", 0.0, current=5))
    assert solve(PlanProblem(jobs=jobs, quota={"cpu": 10})).allocation == {"a": 1, "b": 5}


def test_penaltysum_drops_load_of_a_hopeless_job_so_the_others_gain():
    # "hot" needs 4 replicas for its SLO; the quota of 6 cannot give it that and serve the others.
    jobs = (_job("hot", 12.0, steps=2), _job("x", 8.0, steps=2), _job("y", 8.0, steps=2))
    dropping = solve(PlanProblem(jobs=jobs, quota={"cpu": 6}, objective="penaltysum"))
    serving = solve(PlanProblem(jobs=jobs, quota={"cpu": 6}, objective="sum"))
    assert dropping.accept_rate["hot"] < 1.0
    assert min(dropping.accept_rate["x"], dropping.accept_rate["y"]) >= 0.999  # up to 0.1% sheds for free
    # The model sees the reduced load, so shedding really lowers hot's predicted latency...
    problem = PlanProblem(jobs=jobs, quota={"cpu": 6}, objective="penaltysum")
    without_shedding = evaluate(problem, dropping.allocation)
    assert max(dropping.predicted_latency_ms["hot"]) < max(without_shedding.predicted_latency_ms["hot"]) / 2
    # ...and the replicas hot no longer needs went to the others, whose utility rises.
    assert dropping.allocation["hot"] < serving.allocation["hot"]
    assert dropping.utility["x"] + dropping.utility["y"] > serving.utility["x"] + serving.utility["y"] + 0.1
    assert dropping.objective > serving.objective


def test_fair_maximizes_the_worst_job_and_breaks_ties_by_the_sum():
    jobs = (_job("big", 25.0), _job("small", 3.0))
    fair = solve(PlanProblem(jobs=jobs, quota={"cpu": 6}, objective="fair"))
    total = solve(PlanProblem(jobs=jobs, quota={"cpu": 6}, objective="sum"))
    assert min(fair.utility.values()) >= min(total.utility.values()) - 1e-9
    assert sum(fair.allocation.values()) <= 6


def test_several_resources_stay_feasible_and_report_optimality_honestly():
    rng = np.random.default_rng(3)
    jobs = tuple(PlanJob(name=f"j{i}", service_time_ms=180, slo_ms=720, rates=rng.uniform(2, 20, 4),
                         resources={"cpu": float(rng.choice([1, 2])), "gpu": float(rng.choice([0.5, 1])),
                                    "memory_gib": float(rng.choice([2, 4]))}) for i in range(5))
    problem = PlanProblem(jobs=jobs, quota={"cpu": 12, "gpu": 5, "memory_gib": 30}, objective="sum")
    solution = solve(problem)
    assert problem.fits(solution.allocation)
    best = _brute_force(PlanProblem(jobs=tuple(PlanJob(**{**j.__dict__, "max_replicas": 8}) for j in jobs),
                                    quota=problem.quota, objective="sum"))
    assert solution.objective <= best + 1e-9
    if solution.optimal:  # a claim of optimality must be true
        assert solution.objective >= best - 1e-9
    assert solution.objective >= 0.9 * best  # and the scalarized knapsack plus fill stays close


def test_jobs_with_different_horizons():
    jobs = (_job("a", 10.0, steps=2), _job("b", 10.0, steps=7))
    solution = solve(PlanProblem(jobs=jobs, quota={"cpu": 8}))
    assert len(solution.predicted_latency_ms["a"]) == 2 and len(solution.predicted_latency_ms["b"]) == 7


def test_startup_steps_make_new_replicas_worth_less_now():
    ready = _job("a", 15.0, current=1, steps=2)
    slow = PlanJob(**{**ready.__dict__, "startup_steps": 1.0})
    problem = PlanProblem(jobs=(slow,), quota={"cpu": 8})
    warm = PlanProblem(jobs=(ready,), quota={"cpu": 8})
    assert evaluate(problem, {"a": 4}).utility["a"] < evaluate(warm, {"a": 4}).utility["a"]
    # Scaling down is immediate, so fewer replicas are not flattered by the warm-up.
    assert evaluate(problem, {"a": 1}).utility["a"] == pytest.approx(evaluate(warm, {"a": 1}).utility["a"])


def test_utilities_and_objectives_by_hand():
    assert relaxed_utility(np.array([360.0, 720.0, 1440.0, np.inf]), 720.0).tolist() == [1.0, 1.0, 0.5, 0.0]
    assert step_utility(np.array([720.0, 721.0]), 720.0).tolist() == [1.0, 0.0]
    assert drop_penalty(np.array([1.0, 0.999, 0.97, 0.92, 0.0])).round(6).tolist() == [1.0, 1.0, 0.75, 0.5, 0.0]
    u = np.array([1.0, 0.5, 0.75])
    assert objective_value("sum", u, [1, 2, 1]) == 2.75
    assert objective_value("fair", u) == 0.5
    assert objective_value("fairsum", u) == pytest.approx(2.25 - 3 * 0.5)


@pytest.mark.parametrize("kwargs, field", [
    ({"rates": np.array([1.0, np.nan])}, "rates"),
    ({"rates": np.array([-1.0])}, "rates"),
    ({"slo_ms": 0}, "slo_ms"),
    ({"service_tail_ms": -5.0}, "service_tail_ms"),
    ({"min_replicas": 3, "max_replicas": 2}, "max_replicas"),
    ({"resources": {"cpu": -1}}, "resources.cpu"),
    ({"last_move": 2}, "last_move"),
])
def test_bad_jobs_name_the_field(kwargs, field):
    base = dict(name="a", service_time_ms=100.0, slo_ms=500.0, rates=np.array([1.0]))
    with pytest.raises(FarodError, match=field):
        PlanJob(**{**base, **kwargs})


def test_minimums_above_the_quota_are_infeasible():
    with pytest.raises(FarodError, match="quota.cpu"):
        PlanProblem(jobs=(_job("a", 1, low=3), _job("b", 1, low=2)), quota={"cpu": 4})


def _contended(rng, jobs):
    """Jobs whose demand the quota cannot fully meet: fairsum's optimum is then near 0, where pruning by N·low fails."""
    plan_jobs = tuple(PlanJob(name=f"j{i}", service_time_ms=float(rng.uniform(80, 250)), slo_ms=720.0,
                              rates=rng.uniform(1, 25, 5), current_replicas=int(rng.integers(1, 5)),
                              resources={"cpu": float(rng.choice([0.5, 1.0, 2.0]))}) for i in range(jobs))
    minimums = sum(job.resources["cpu"] for job in plan_jobs)
    return PlanProblem(jobs=plan_jobs, quota={"cpu": minimums + float(rng.uniform(0.3, 1.0)) * jobs}, objective="fairsum")


def test_the_priced_bound_never_falls_below_the_knapsack():
    rng = np.random.default_rng(11)
    for _ in range(10):
        search = _Exact(problem := _contended(rng, 12), problem.resources)
        levels = search.levels()
        for low, high in rng.choice(levels, size=(20, 2)):
            window = search.window(min(low, high), max(low, high))
            found = search.knapsack(*window)
            if found is not None:
                assert search.sum_bound(*window) >= found[1] - 1e-9


def test_fairsum_search_matches_solving_every_window_on_contended_problems():
    rng = np.random.default_rng(5)
    for _ in range(8):
        search = _Exact(problem := _contended(rng, 8), problem.resources)
        levels = search.levels()
        every_window = max(search.score(found[0]) for low in levels for high in levels[levels >= low]
                           if (found := search.knapsack(*search.window(low, high))) is not None)
        assert search.score(search.fairsum()) == pytest.approx(every_window, abs=1e-9)


def _expected_utility(problem, allocation, accept):
    """Σ_k w_k · U_k, each scenario's utility computed as its own one-scenario problem."""
    total = {job.name: 0.0 for job in problem.jobs}
    for job in problem.jobs:
        rows, weights = job.scenarios
        for row, weight in zip(rows, weights):
            alone = PlanProblem(jobs=(dataclasses.replace(job, rates=row, scenario_weights=None),),
                                quota=problem.quota, objective=problem.objective, utility=problem.utility)
            total[job.name] += weight * evaluate(alone, {job.name: allocation[job.name]}, accept).utility[job.name]
    return total


@pytest.mark.parametrize("objective", ["sum", "fair", "fairsum", "penaltysum"])
def test_expected_utility_over_scenarios_matches_brute_force(objective):
    rng = np.random.default_rng(zlib.crc32(f"scenarios/{objective}".encode()))
    for _ in range(20):
        jobs = []
        for i in range(int(rng.integers(1, 4))):
            steps, scenarios = int(rng.integers(1, 4)), int(rng.integers(1, 5))
            rates = np.sort(rng.uniform(0, 30, (scenarios, steps)), axis=0)  # quantile levels: rows ascending
            weights = rng.dirichlet(np.ones(scenarios))
            jobs.append(PlanJob(name=f"j{i}", service_time_ms=float(rng.uniform(50, 300)), slo_ms=float(rng.uniform(200, 1000)),
                                rates=rates, scenario_weights=tuple(weights), min_replicas=1, max_replicas=int(rng.integers(1, 7)),
                                current_replicas=1, startup_steps=float(rng.choice([0.0, 0.6, 1.5]))))
        quota = len(jobs) + float(rng.integers(0, 8))
        problem = PlanProblem(jobs=tuple(jobs), quota={"cpu": quota}, objective=objective)
        solution = solve(problem)
        tables = {job.name: table for job, table in zip(problem.jobs, tabulate_all(problem))}
        best = -np.inf
        for counts in itertools.product(*[range(1, job.max_replicas + 1) for job in jobs]):
            allocation = {job.name: c for job, c in zip(jobs, counts)}
            if not problem.fits(allocation):
                continue
            accept = {name: float(tables[name].accept_rate[min(np.searchsorted(tables[name].replicas, c),
                                                                   tables[name].replicas.size - 1)])
                      for name, c in allocation.items()} if objective == "penaltysum" else {}
            utilities = np.array(list(_expected_utility(problem, allocation, accept).values()))
            value = objective_value(objective, utilities)
            best = max(best, value + (1e-7 * utilities.sum() if objective == "fair" else 0.0))
        found = np.array(list(_expected_utility(problem, solution.allocation, solution.accept_rate).values()))
        assert np.allclose(found, list(solution.utility.values()), atol=1e-5)
        assert objective_value(objective, found) + (1e-7 * found.sum() if objective == "fair" else 0.0) >= best - 1e-5


def test_scenario_weights_must_match_the_rows():
    with pytest.raises(FarodError, match="scenario_weights"):
        PlanJob(name="a", service_time_ms=100, slo_ms=500, rates=np.ones((2, 3)), scenario_weights=(0.5, 0.4))
