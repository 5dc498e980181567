"""``farod compare --from-config farod.yaml``: the simulation a daemon config describes.

Example::

    setup = from_daemon_config("farod.yaml", trace)
    setup.trace.keys, setup.sim_config["jobs"]["a/m"]["slo_ms"], setup.cpus, setup.policy
    # -> (['a/m'], 500.0, 8.0, 'faro-fairsum')

The daemon config is read by the daemon's own reader (its jobs, quota, policy and forecaster sections,
so every check a live start makes on them applies), then turned into the simulator's config schema
(:mod:`farod.sim.config`): per job the SLO, weight, bounds and resources, the quota's other resources,
and a service time. The service time is the config's ``service_time_ms`` (what the daemon tells its
policy), else the trace's recorded mean processing time (request-weighted), else the simulator's
default; the simulated replicas draw the Faro artifact's shifted lognormal rescaled to that mean (same
coefficient of variation), or, where the config profiles one request's p99 (``service_tail_ms``), the
shifted lognormal with that mean and that p99 (the same shift; policies are told the tail too). Whatever the simulator cannot use (Prometheus, actuator, server, safety
limits ...) is named in one notice line, never an error. The policy parameters, intervals and
forecaster apply as the daemon applies them (:func:`policy_params`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from farod.daemon.config import Config, parse_config
from farod.daemon.runner import policy_params_for
from farod.errors import FarodError
from farod.sim.config import FARO_SERVICE
from farod.trace import Trace
from farod.yamlfile import read_yaml

USED_SECTIONS = ("jobs", "quota", "policy", "forecaster", "intervals")
Z99 = 2.3263478740408408  # the standard normal's 99th percentile


@dataclasses.dataclass(frozen=True, kw_only=True)
class Setup:
    trace: Trace  # cut to the config's jobs, in the config's order
    sim_config: dict[str, Any]  # the simulator's config schema
    cpus: float | None  # the config's CPU quota; None when it comes from a ResourceQuota
    policy: str
    config: Config
    notices: list[str]


def from_daemon_config(path: str, trace: Trace, *, base: Mapping[str, Any] | None = None) -> Setup:
    """The simulation of daemon config ``path`` on ``trace``; ``base`` is a ``--config`` document."""
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise FarodError(f"{path}: a daemon config must be a mapping")
    ignored = sorted(str(key) for key in data if key not in USED_SECTIONS)
    used = {key: value for key, value in data.items() if key in USED_SECTIONS}
    if isinstance(data.get("quota"), dict) and "from_resource_quota" in data["quota"]:
        used["kubernetes"] = {"enabled": True}  # read in the cluster; here --cpus gives the quota
    config = parse_config(used)
    notices = [f"{path}: not simulated, ignored: {', '.join(ignored)}"] if ignored else []
    trace, dropped = _cut(trace, [job.key for job in config.jobs], path)
    if dropped:
        notices.append(f"trace jobs not in {path}, left out: {', '.join(dropped)}")
    sim = dict(base or {})
    sim["jobs"] = {**(sim.get("jobs") or {}), **_jobs(config, trace, notices)}
    extra = {name: amount for name, amount in config.quota.items() if name != "cpu"}
    if extra:
        sim["quota"] = {**(sim.get("quota") or {}), **extra}
    cpus = config.quota.get("cpu") if config.quota else None
    return Setup(trace=trace, sim_config=sim, cpus=cpus, policy=config.policy.name, config=config, notices=notices)


def policy_params(config: Config, names: list[str]) -> dict[str, dict]:
    """Per compared policy, the parameters the daemon would give it."""
    return {name: policy_params_for(config, name) for name in names}


def _cut(trace: Trace, keys: list[str], path: str) -> tuple[Trace, list[str]]:
    missing = [key for key in keys if key not in trace.keys]
    if missing:
        raise FarodError(f"{path}: job {missing[0]} has no counts in the trace")
    rows = [trace.keys.index(key) for key in keys]
    fields = {name: (None if value is None else value[rows]) for name, value in
              (("counts", trace.counts), ("replicas", trace.replicas), ("p99_ms", trace.p99_ms),
               ("processing_ms", trace.processing_ms), ("filled", trace.filled))}  # fmt: skip
    dropped = [key for key in trace.keys if key not in keys]
    return dataclasses.replace(trace, keys=list(keys), **fields), dropped


def _jobs(config: Config, trace: Trace, notices: list[str]) -> dict[str, dict]:
    jobs, defaulted = {}, []
    for k, job in enumerate(config.jobs):
        entry = {"slo_ms": job.slo_ms, "weight": job.weight, "min_replicas": job.min_replicas,
                 "resources": dict(job.resources)}  # fmt: skip
        if job.max_replicas is not None:
            entry["max_replicas"] = job.max_replicas
        service_ms = job.service_time_ms or _recorded_processing_ms(trace, k)
        if service_ms is None:
            defaulted.append(job.key)
        else:
            entry["service"] = _service(service_ms, job.service_tail_ms)
            entry["profiled_service_ms"] = service_ms
        if job.service_tail_ms is not None:
            entry["profiled_tail_ms"] = job.service_tail_ms
        jobs[job.key] = entry
    if defaulted:
        notices.append(f"no service_time_ms in the config nor processing_ms in the trace for "
                       f"{', '.join(defaulted)}: the simulator's default ({FARO_SERVICE.mean_ms:.1f} ms)")  # fmt: skip
    return jobs


def _recorded_processing_ms(trace: Trace, row: int) -> float | None:
    """The request-weighted mean of the recorded processing times (plain mean where no requests)."""
    if trace.processing_ms is None:
        return None
    values = trace.processing_ms[row]
    known = ~np.isnan(values)
    if not known.any():
        return None
    weights = trace.counts[row][known]
    mean = np.average(values[known], weights=weights) if weights.sum() > 0 else values[known].mean()
    return float(mean) if mean > 0 else None


def _service(mean_ms: float, p99_ms: float | None = None) -> dict[str, float]:
    """The Faro artifact's shifted lognormal scaled to ``mean_ms`` (same shape, same relative spread);
    with ``p99_ms``, the same shift and the shape and scale that give that mean and p99.

    Above the shift ``loc`` the mean is ``scale·e^(σ²/2)`` and the p99 ``scale·e^(zσ)`` (``z`` the
    normal's 99th percentile), so ``σ`` is the smaller root of ``σ²/2 - zσ + ln r = 0`` with ``r`` the
    p99's excess over the mean's (the service time bounds the p99 to 5 times the mean: r stays <= 9.3).
    """
    factor = mean_ms / FARO_SERVICE.mean_ms
    loc_ms = FARO_SERVICE.loc_ms * factor
    if p99_ms is None:
        return {"shape": FARO_SERVICE.shape, "loc_ms": loc_ms, "scale_ms": FARO_SERVICE.scale_ms * factor}
    ratio = (p99_ms - loc_ms) / (mean_ms - loc_ms)
    shape = Z99 - math.sqrt(Z99**2 - 2.0 * math.log(ratio))
    return {"shape": shape, "loc_ms": loc_ms, "scale_ms": (mean_ms - loc_ms) / math.exp(shape**2 / 2.0)}
