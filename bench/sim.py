"""Simulator speed: requests simulated per second, wall and CPU time, peak memory of one run.

    .venv/bin/python bench/sim.py [--policy fairshare] [--jobs 10] [--cpus 32] [--minutes 360] [--seed 42]

Default: the issue's target case, one 6-hour, 10-job run of the bundled trace at 32 CPUs (<= 20 s on
one core, < 1 GB). ``--jobs 100 --cpus 320`` is the paper's 100-job study. A one-minute warm-up run
first loads the compiled kernel (numba's on-disk cache; the very first run on a machine also compiles
it, once). Times cover the run itself, policy decisions included; CPU time is this process's
(``time.process_time``), which other load on a shared machine distorts less than wall time. Peak RSS
is the whole process's (``ru_maxrss``), imports included.
"""

from __future__ import annotations

import argparse
import resource
import time

from farod import policies
from farod.cli.simulate import DEFAULT_TRACE
from farod.sim import Scenario, run
from farod.trace import read_trace


def one_run(*, policy: str, jobs: int, cpus: float, minutes: int, seed: int) -> tuple[dict, float, float]:
    trace = read_trace(DEFAULT_TRACE, jobs=jobs, minutes=minutes)
    scenario = Scenario(trace=trace, quota={"cpu": cpus}, seed=seed)
    future = {key: trace.counts[k] for k, key in enumerate(trace.keys)}
    built = policies.create(policy, jobs=scenario.jobs, quota=scenario.quota, future=future)
    wall, cpu = time.perf_counter(), time.process_time()
    record = run(scenario, built).record
    return record, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default="fairshare")
    parser.add_argument("--jobs", type=int, default=10)
    parser.add_argument("--cpus", type=float, default=32)
    parser.add_argument("--minutes", type=int, default=360)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    warm_started = time.perf_counter()
    one_run(policy=args.policy, jobs=args.jobs, cpus=args.cpus, minutes=1, seed=args.seed)
    warm_up = time.perf_counter() - warm_started
    record, wall, cpu = one_run(
        policy=args.policy, jobs=args.jobs, cpus=args.cpus, minutes=args.minutes, seed=args.seed
    )
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"sim: {args.policy}, {args.jobs} jobs, {args.cpus:g} CPUs, {args.minutes} min, seed {args.seed}")
    print(f"  requests simulated   {record['requests']:>12,}")
    print(f"  wall time            {wall:>12.2f} s   ({record['requests'] / wall:,.0f} requests/s)")
    print(f"  CPU time             {cpu:>12.2f} s   ({record['requests'] / cpu:,.0f} requests/s)")
    print(f"  peak RSS             {peak_mib:>12.0f} MiB")
    print(f"  decision p50         {record['decision_ms_p50']:>12.3f} ms")
    print(f"  warm-up (1 min run)  {warm_up:>12.2f} s   (loads or compiles the kernel)")
    print(f"  violation / lost utility  {record['slo_violation_rate']:.3f} / {record['lost_utility']:.2f}")


if __name__ == "__main__":
    main()
