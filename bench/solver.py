"""Decision time and objective of the exact solver against the Faro paper's COBYLA pipeline.

    .venv/bin/python bench/solver.py [--jobs 10,100,1000] [--objectives sum,fair,fairsum,penaltysum]
                                     [--cobyla-budget 120] [--cpu-per-job 3.2] [--scenarios 5]

Problems: N jobs with 7-step forecasts taken from the bundled trace (job k follows series k mod 10 from
a random minute, requests/min -> requests/s), 180 ms service time, 720 ms SLO, quota 3.2 CPU per job
(``--cpu-per-job 2.4``: contended, not every job can meet its SLO), every job currently at 3 replicas.
``--scenarios K`` gives every job K equally weighted forecast scenarios (its rates scaled from 0.8x to
1.25x), the expected-utility mode of Faro's policies (COBYLA then sees their mean). Times are CPU seconds of this process (``time.process_time``), the
median over repetitions for ``exact``, so other load on the machine distorts them less than wall time.
COBYLA runs once per case in a child process with a time budget: scipy >= 1.16 ships a pure-Python
COBYLA whose cost grows steeply with the number of variables.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import time
from importlib import resources

import numpy as np

from farod.model.problem import PlanJob, PlanProblem
from farod.model.solver import solve
from farod.trace import read_trace


def make_problem(jobs: int, objective: str, cpu_per_job: float, scenarios: int = 1, seed: int = 0) -> PlanProblem:
    trace = read_trace(resources.files("farod") / "data" / "azure_twitter_10jobs_day10.jsonl")
    rng = np.random.default_rng(seed)
    plan_jobs = []
    for k in range(jobs):
        start = int(rng.integers(0, trace.counts.shape[1] - 7))
        rates = trace.counts[k % trace.counts.shape[0], start:start + 7] / 60.0
        if scenarios > 1:
            rates = np.linspace(0.8, 1.25, scenarios)[:, None] * rates[None, :]
        plan_jobs.append(PlanJob(name=f"job{k}", service_time_ms=180.0, slo_ms=720.0, rates=rates,
                                 current_replicas=3))
    return PlanProblem(jobs=tuple(plan_jobs), quota={"cpu": cpu_per_job * jobs}, objective=objective)


def time_exact(problem: PlanProblem, repeats: int):
    times, solution = [], None
    for _ in range(repeats):
        started = time.process_time()
        solution = solve(problem, method="exact")
        times.append(time.process_time() - started)
    return statistics.median(times), solution


def _cobyla_child(jobs, objective, cpu_per_job, queue):
    problem = make_problem(jobs, objective, cpu_per_job)  # COBYLA's latency model takes one scenario
    started = time.process_time()
    solution = solve(problem, method="cobyla")
    queue.put((time.process_time() - started, solution.objective, sum(solution.allocation.values())))


def time_cobyla(jobs: int, objective: str, cpu_per_job: float, budget_s: float):
    queue = multiprocessing.Queue()
    child = multiprocessing.Process(target=_cobyla_child, args=(jobs, objective, cpu_per_job, queue))
    child.start()
    child.join(budget_s)
    if child.is_alive():
        child.kill()
        child.join()
        return None
    return queue.get()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", default="10,100,1000")
    parser.add_argument("--objectives", default="sum,fair,fairsum,penaltysum")
    parser.add_argument("--cobyla-budget", type=float, default=120.0, help="seconds per COBYLA case")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cpu-per-job", type=float, default=3.2, help="quota per job")
    parser.add_argument("--scenarios", type=int, default=1, help="forecast scenarios per job (expected utility)")
    args = parser.parse_args()
    print(f"{'jobs':>5} {'objective':<11} {'exact ms':>9} {'exact obj':>11} {'replicas':>8}   "
          f"{'cobyla ms':>10} {'cobyla obj':>11} {'replicas':>8}  exact >= cobyla")
    for jobs in (int(x) for x in args.jobs.split(",")):
        for objective in args.objectives.split(","):
            problem = make_problem(jobs, objective, args.cpu_per_job, args.scenarios)
            repeats = args.repeats if jobs <= 100 else 1
            seconds, exact = time_exact(problem, repeats)
            used = sum(exact.allocation.values())
            cobyla = time_cobyla(jobs, objective, args.cpu_per_job, args.cobyla_budget)
            if cobyla is None:
                tail = f"{'> %.0f s' % args.cobyla_budget:>10} {'-':>11} {'-':>8}  (COBYLA did not finish)"
            else:
                c_seconds, c_objective, c_used = cobyla
                verdict = "yes" if exact.objective >= c_objective - 1e-9 else "NO"
                tail = f"{c_seconds * 1000:>10.1f} {c_objective:>11.4f} {c_used:>8}  {verdict}"
            print(f"{jobs:>5} {objective:<11} {seconds * 1000:>9.1f} {exact.objective:>11.4f} {used:>8}   {tail}",
                  flush=True)


if __name__ == "__main__":
    main()
