"""The simulated cluster under arbitrary targets: pods never exceed the quota, shapes are respected."""

import numpy as np
import pytest

from farod.errors import FarodError
from farod.jobs import JobSpec
from farod.sim import kernel
from farod.sim.cluster import Cluster, Timing, shape_of
from farod.sim.config import load_config, parse_config

FARO = [0.4225, 0.0793, 0.0686]
PROXY = [0.4808, 0.00349, 0.00099]


def make_cluster(cpus_per_job, quota):
    jobs = [
        JobSpec(application=f"j{i}", deployment="m", slo_ms=720, resources={"cpu": cpu})
        for i, cpu in enumerate(cpus_per_job)
    ]
    state = kernel.KernelState.allocate(
        rates=np.full((len(jobs), 20), 15.0),
        unit_s=60.0,
        seed=1,
        service=np.array([FARO] * len(jobs)),
        proxy=np.array([PROXY] * len(jobs)),
        slots=int(quota),
        max_ongoing=4,
        queue_cap=50,
        ring_size=2048,
        transit_size=64,
        expected_requests=1000,  # small on purpose: the output arrays must grow
    )
    return Cluster(state=state, jobs=jobs, quota={"cpu": quota}, timing=Timing()), state


def test_pods_never_exceed_the_quota_and_every_replica_has_its_own_pod_of_its_shape():
    rng = np.random.default_rng(5)
    cluster, state = make_cluster([1, 1, 2], quota=10)
    cluster.place_ready(now=0.0)
    now = 0.0
    placed_beyond_quota = False
    for step in range(400):
        if step % 7 == 0:
            targets = {job: int(rng.integers(1, 9)) for job in range(3)}
            placed_beyond_quota |= sum(t * c for t, c in zip(targets.values(), [1, 1, 2])) > 10
            cluster.set_targets(targets)
        cluster.reconcile(now=now)
        assert cluster.usage()["cpu"] <= 10
        replicas = [(job, r) for job, rs in enumerate(cluster.replicas) for r in rs]
        assert len({id(r.pod) for _, r in replicas}) == len(replicas)
        assert all(r.pod.shape == shape_of(cluster.jobs[job]) for job, r in replicas)
        assert all(r.pod.idle_since is None for _, r in replicas)
        now += 1.5
        kernel.advance(state, now)
    assert placed_beyond_quota  # the targets did ask for more than fits
    job, unit, latency = state.finished()
    assert len(latency) > 1000  # output arrays grew past their first size
    assert state.arrays.arrivals.sum() == len(latency) + state.arrays.job_i[:, kernel.ONGOING].sum() + state.arrays.job_i[:, kernel.TRANSIT].sum()


def test_a_downscale_keeps_busy_replicas_until_their_requests_finish():
    cluster, state = make_cluster([1], quota=4)
    cluster.set_targets({0: 4})
    cluster.place_ready(now=0.0)
    kernel.advance(state, 30.0)  # 15 req/s: the replicas are busy now and then
    cluster.set_targets({0: 1})
    cluster.reconcile(now=30.0)
    assert cluster.alive(0) == 1
    assert len(cluster.pods) == 4  # removed replicas' pods idle or drain; none is reaped yet
    kernel.advance(state, 40.0)
    cluster.reconcile(now=40.0)
    assert not any(r.draining for r in cluster.replicas[0])  # drained within 10 s
    kernel.advance(state, 80.0)
    cluster.reconcile(now=80.0)
    assert len(cluster.pods) == 1  # idle pods reaped 30 s after they idled


def test_config_errors_name_the_field(tmp_path):
    with pytest.raises(FarodError, match=r"config.jobs.a/m.service.shape: must be >= 0, got -1"):
        parse_config({"jobs": {"a/m": {"service": {"shape": -1}}}})
    with pytest.raises(FarodError, match=r"config.queue_size: unknown field"):
        parse_config({"queue_size": 3})
    with pytest.raises(FarodError, match=r"config.max_ongoing: must be an integer >= 1"):
        parse_config({"max_ongoing": 0})
    with pytest.raises(FarodError, match=r"config.cold_start_s: must be >= hot_start_s \(3\), got 1"):
        parse_config({"cold_start_s": 1, "hot_start_s": 3})
    with pytest.raises(FarodError, match=r"config.jobs.a/m.profiled_tail_ms: must be between 1 and 5 times the "
                                         r"service time 150 ms, got 100 ms"):
        parse_config({"jobs": {"a/m": {"profiled_service_ms": 150, "profiled_tail_ms": 100}}})
    with pytest.raises(FarodError, match=r"config.profiled_tail_ms: must be between 1 and 5 times the service time 154.3"):
        parse_config({"profiled_tail_ms": 2000})
    told = parse_config({"jobs": {"a/m": {"profiled_service_ms": 150, "profiled_tail_ms": 450}}})
    assert told.job("a/m").spec("a/m").service_tail_ms == 450 and told.job("b/m").spec("b/m").service_tail_ms is None
    path = tmp_path / "bad.yaml"
    path.write_text("slo_ms: [1\n")
    with pytest.raises(FarodError, match="not valid YAML"):
        load_config(path)


def test_config_overrides_reach_the_jobs(tmp_path):
    path = tmp_path / "sim.yaml"
    path.write_text(
        "slo_ms: 500\nresources: {cpu: 2}\n"
        "jobs:\n  b/m: {service: {shape: 0, loc_ms: 300, scale_ms: 0}, slo_ms: 2000, max_replicas: 3}\n"
    )
    config = load_config(path)
    assert config.job("a/m").slo_ms == 500 and config.job("a/m").resources == {"cpu": 2}
    spec = config.job("b/m").spec("b/m")
    assert (spec.slo_ms, spec.service_time_ms, spec.max_replicas, spec.resources) == (2000, 300, 3, {"cpu": 2})
