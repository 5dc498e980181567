"""Many runs: every (policy, quota, seed, plan phase) of a comparison, on local cores or on a Ray cluster.

Example::

    suite = Suite(trace=read_trace(path), policies=["aiad", "faro-sum"], cpus=[32, 36], seeds=[42])
    suite.check()                                   # bad names, params or quotas fail before any run
    for result in execute(suite, workers=2):        # yields RunResults as runs finish
        print(result.record["policy"], result.record["slo_violation_rate"])

Runs are independent and deterministic, so they are simply spread over processes: a
:mod:`multiprocessing` pool on this machine (``workers``), or Ray tasks on an existing cluster
(``ray_address``) when a sweep outgrows one machine -- Ray schedules them, no scheduler of ours.
Results come back as each run finishes; the caller keeps them, so an interrupted suite still has every
finished run (workers are stopped at once: a half-done run has nothing worth keeping).
"""

from __future__ import annotations

import dataclasses
import functools
import multiprocessing
import signal
import socket
from collections.abc import Iterator, Mapping, Sequence

import numpy as np

from farod import policies
from farod.errors import FarodError
from farod.sim.config import SimConfig
from farod.sim import kernel
from farod.sim.engine import RunResult, Scenario, run
from farod.trace import Trace


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunSpec:
    policy: str
    cpus: float
    seed: int
    phase: float = 0.0  # of the plan clock (farod.sim.engine.Scenario.plan_phase)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Suite:
    """The shared inputs of every run and the (policy, cpus, seed, phase) grid."""

    trace: Trace
    policies: Sequence[str]
    cpus: Sequence[float]
    seeds: Sequence[int]
    phases: Sequence[float] = (0.0,)
    config: SimConfig = SimConfig()
    policy_params: Mapping[str, Mapping] = dataclasses.field(default_factory=dict)  # by policy name
    train: Mapping[str, np.ndarray] | None = None  # earlier days per job key, for the forecasters

    @property
    def runs(self) -> list[RunSpec]:
        """Every (policy, cpus, seed, phase); a policy without plans runs at phase 0 alone, since the
        plan clock's phase is all that differs between its phases."""
        return [
            RunSpec(policy=name, cpus=cpus, seed=seed, phase=phase)
            for name in self.policies for cpus in self.cpus for seed in self.seeds
            for phase in (self.phases if name in self.planning else self.phases[:1])
        ]

    @functools.cached_property
    def planning(self) -> frozenset[str]:
        """The policies that plan (a ``plan_interval_s``); building each once also checks its parameters."""
        def plans(name: str) -> bool:
            spec = RunSpec(policy=name, cpus=self.cpus[0], seed=self.seeds[0])
            return self.policy(spec, self.scenario(spec)).plan_interval_s is not None

        return frozenset(name for name in self.policies if plans(name))

    def scenario(self, spec: RunSpec) -> Scenario:
        quota = {**self.config.quota, "cpu": spec.cpus}
        return Scenario(trace=self.trace, quota=quota, seed=spec.seed, config=self.config, plan_phase=spec.phase)

    def policy(self, spec: RunSpec, scenario: Scenario) -> policies.Policy:
        future = {key: self.trace.counts[k] for k, key in enumerate(self.trace.keys)}
        return policies.create(
            spec.policy,
            jobs=scenario.jobs,
            quota=scenario.quota,
            params={**self.config.policy_params(spec.policy), **self.policy_params.get(spec.policy, {})} or None,
            future=future,
            train=self.train,
            recording=self.recording,
        )

    @property
    def recording(self) -> policies.Recording | None:
        """The trace's recorded replicas, for ``replay``."""
        if self.trace.replicas is None:
            return None
        return policies.Recording(unit_s=self.trace.unit_s, replicas=dict(zip(self.trace.keys, self.trace.replicas)))

    def check(self) -> None:
        """Fail fast: unknown policies, bad parameters or a quota below the jobs' minimums."""
        for name in self.policies:
            if name not in policies.NAMES:
                raise FarodError(f"unknown policy {name!r} (known: {', '.join(policies.NAMES)})")
        for cpus in self.cpus:
            self.scenario(RunSpec(policy="", cpus=cpus, seed=0)).jobs  # noqa: B018 - validates the quota
        self.planning  # noqa: B018 - builds every policy once: bad parameters fail here


def run_one(suite: Suite, spec: RunSpec) -> RunResult:
    scenario = suite.scenario(spec)
    result = run(scenario, suite.policy(spec, scenario))
    result.record["policy"] = spec.policy
    return result


def execute(suite: Suite, *, workers: int = 1, ray_address: str | None = None) -> Iterator[RunResult]:
    """Yield each run's result as it finishes (in any order)."""
    specs = suite.runs
    if ray_address:
        yield from _on_ray(suite, specs, ray_address)
    elif workers <= 1 or len(specs) == 1:
        for spec in specs:
            yield run_one(suite, spec)
    else:
        yield from _on_pool(suite, specs, workers)


_WORKER_SUITE: Suite | None = None


def _init_worker(suite: Suite) -> None:
    global _WORKER_SUITE
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _WORKER_SUITE = suite


def _run_in_worker(spec: RunSpec) -> RunResult:
    return run_one(_WORKER_SUITE, spec)


def _on_pool(suite: Suite, specs: list[RunSpec], workers: int) -> Iterator[RunResult]:
    kernel.warm_up()  # forked workers inherit the loaded kernel instead of each loading or compiling it
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    pool = context.Pool(min(workers, len(specs)), initializer=_init_worker, initargs=(suite,))
    try:
        yield from pool.imap_unordered(_run_in_worker, specs)
        pool.close()
    finally:
        pool.terminate()
        pool.join()


def _on_ray(suite: Suite, specs: list[RunSpec], address: str) -> Iterator[RunResult]:
    _check_reachable(address)
    import ray  # only here: importing Ray is slow and local runs do not need it

    try:
        ray.init(address=address, logging_level="ERROR", log_to_driver=False)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise FarodError(f"--ray-address: cannot connect to {address}: {exc}") from None
    try:
        remote = ray.remote(num_cpus=1)(run_one)
        suite_ref = ray.put(suite)
        pending = [remote.remote(suite_ref, spec) for spec in specs]
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                yield ray.get(done[0])
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)
    finally:
        ray.shutdown()


def _check_reachable(address: str) -> None:
    """Fail in seconds on a wrong HOST:PORT; ray.init would retry for minutes."""
    host, _, port = address.rpartition(":")
    if "://" in address or not port.isdigit():
        return  # "auto" or a ray:// client address: Ray's own checks apply
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=5).close()
    except OSError as exc:
        raise FarodError(f"--ray-address: cannot connect to {address}: {exc.strerror or exc}") from None
