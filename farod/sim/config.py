"""Simulation parameters: defaults are the Faro evaluation setting; any of them can come from a file.

Example (``config/sim.example.yaml`` in the repository sets every key; all of them are optional)::

    >>> config = load_config("config/sim.example.yaml")
    >>> config.job("serve-cluster3/classifier").slo_ms, config.job("serve-cluster0/classifier").slo_ms
    (2000.0, 720.0)

``service`` is what the simulated replicas draw; ``profiled_service_ms`` is the service time the
policies are given in their :class:`JobSpec` (a live deployment's profile). The two are separate so a
miscalibrated profile can be studied: the Faro artifact told its policies 180 ms while its replicas
drew a mean of 154.3 ms. A per-job ``profiled_service_ms`` overrides the global one. Likewise
``profiled_tail_ms`` tells the policies one request's p99 (the latency model's starting tail, 1-5
times the told service time): the reference a learned tail is measured against.

A shifted lognormal with ``shape: 0`` is the constant ``loc_ms + scale_ms`` (handy for checks by
hand). Every error names the field, e.g. ``config.jobs.a/m.service.shape: must be >= 0, got -1``.
Bounds: times up to an hour (``_ms``) or a day (``_s``), ``shape`` up to 5, quotas and resources up
to 1e6, replica counts up to 10 000.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import model_validator

from farod.errors import FarodError
from farod.jobs import JobShape, JobSpec, tail_problem
from farod.planfile import HOUR_MS, MAX_REPLICAS
from farod.schema import DAY_S, Model, amounts, fail, integer, number, text, validate
from farod.sim import fidelity
from farod.yamlfile import read_yaml


@dataclasses.dataclass(frozen=True, kw_only=True)
class ShiftedLognormal:
    """``loc + scale * exp(shape * N(0, 1))``, in milliseconds (scipy's lognorm(s=shape, loc, scale))."""

    shape: float
    loc_ms: float
    scale_ms: float

    @property
    def mean_ms(self) -> float:
        return self.loc_ms + self.scale_ms * math.exp(self.shape**2 / 2)

    def seconds(self) -> tuple[float, float, float]:
        return self.shape, self.loc_ms / 1000, self.scale_ms / 1000


FARO_SERVICE = ShiftedLognormal(shape=0.4225, loc_ms=79.3, scale_ms=68.6)
FARO_PROXY = ShiftedLognormal(shape=0.4808, loc_ms=3.49, scale_ms=0.99)


@dataclasses.dataclass(frozen=True, kw_only=True)
class JobConfig(JobShape):
    """A :class:`~farod.jobs.JobShape` with the distribution of its service time, as the simulator serves it."""

    service: ShiftedLognormal = FARO_SERVICE
    profiled_service_ms: float | None = None  # told to the policies; None: the true mean of ``service``
    profiled_tail_ms: float | None = None  # one request's p99 told to the policies; None: none told
    slo_ms: float = 720.0

    @property
    def told_service_ms(self) -> float:
        return self.service.mean_ms if self.profiled_service_ms is None else self.profiled_service_ms

    def spec(self, key: str) -> JobSpec:
        """The policy's view: the service time it is told (the profile, by default the true mean)."""
        application, _, deployment = key.partition("/")
        return JobSpec(application=application, deployment=deployment, service_time_ms=self.told_service_ms,
                       service_tail_ms=self.profiled_tail_ms, **self.shape())


@dataclasses.dataclass(frozen=True, kw_only=True)
class SimConfig:
    defaults: JobConfig = JobConfig()
    overrides: Mapping[str, JobConfig] = dataclasses.field(default_factory=dict)  # by job key
    proxy: ShiftedLognormal = FARO_PROXY
    quota: Mapping[str, float] = dataclasses.field(default_factory=dict)  # resources besides --cpus
    hot_start_s: float = 3.0
    cold_start_s: float = 35.0
    reap_idle_s: float = 30.0
    reconcile_interval_s: float = 1.0
    queue_cap: int = 50
    max_ongoing: int = 4
    window_s: float = 30.0  # span of the latency, rate and queue readings a policy sees
    # Request-path behaviours where the Faro artifact differs (farod.sim.fidelity): farod's defaults.
    fidelity: str = "farod"
    grant_order: str = "round_robin"
    ungranted: str = "pending"
    grant_retries: int = 4  # with ungranted: drop, decision ticks an ungranted upscale is retried
    pod_scope: str = "shared"
    drops_in_mean_latency: bool = False
    arrivals: str = "poisson"
    queue_reject: str = "at_cap"
    while_scaling: str = "accept"
    faro_quantile: float | None = None  # None: the Faro policies' own defaults
    faro_startup_s: float | None = None

    def job(self, key: str) -> JobConfig:
        return self.overrides.get(key, self.defaults)

    def policy_params(self, name: str) -> dict:
        """Parameters this config gives policy ``name`` (the Faro policies' artifact settings, and the
        replicas' ``max_ongoing``, which their admission limits count with)."""
        return fidelity.faro_params(name, quantile=self.faro_quantile, startup_s=self.faro_startup_s,
                                    max_ongoing=self.max_ongoing)


MS = number(gt=0, le=HOUR_MS, optional=True)
SECONDS = number(ge=0, le=DAY_S, optional=True)


class DistributionFile(Model):
    """A shifted lognormal; absent fields keep the base distribution's."""

    shape: number(ge=0, le=5, optional=True) = None  # exp(shape²/2) stays finite
    loc_ms: number(ge=0, le=HOUR_MS, optional=True) = None
    scale_ms: number(ge=0, le=HOUR_MS, optional=True) = None

    def over(self, base: ShiftedLognormal) -> ShiftedLognormal:
        return dataclasses.replace(base, **self.model_dump(exclude_none=True))


class JobFile(Model):
    """What a job may set, at the top (every job) or under ``jobs.<key>`` (that job)."""

    service: DistributionFile | None = None
    profiled_service_ms: MS = None
    profiled_tail_ms: MS = None
    slo_ms: MS = None
    resources: amounts(ge=0, le=1e6, optional=True) = None
    min_replicas: integer(ge=0, le=MAX_REPLICAS, optional=True) = None
    max_replicas: integer(ge=1, le=MAX_REPLICAS, optional=True) = None
    weight: number(gt=0, le=1e6, optional=True) = None

    def over(self, base: JobConfig) -> JobConfig:
        given = self.model_dump(exclude_none=True, include=set(JobFile.model_fields) - {"service"})
        service = base.service if self.service is None else self.service.over(base.service)
        return dataclasses.replace(base, service=service, **given)


_PRESET = Literal[fidelity.PRESETS] | None  # the names outside the class: it has a field "fidelity"
_CHOICES = {name: Literal[options] | None for name, options in fidelity.CHOICES.items()}


def _job_key(key: str) -> str | None:
    return None if "/" in key.strip("/") else "a job key is 'application/deployment'"


class SimFile(JobFile):
    """The whole file (every key optional; absent keys keep :class:`SimConfig`'s defaults)."""

    jobs: dict[text(pattern_check=_job_key), JobFile] | None = None
    proxy: DistributionFile | None = None
    quota: amounts(ge=0, le=1e6, allow_empty=True, optional=True) = None
    hot_start_s: SECONDS = None
    cold_start_s: SECONDS = None
    reap_idle_s: SECONDS = None
    reconcile_interval_s: number(gt=0, le=DAY_S, optional=True) = None
    queue_cap: integer(ge=0, le=1_000_000, optional=True) = None
    max_ongoing: integer(ge=1, le=MAX_REPLICAS, optional=True) = None
    window_s: number(gt=0, le=DAY_S, optional=True) = None
    fidelity: _PRESET = None
    grant_order: _CHOICES["grant_order"] = None
    ungranted: _CHOICES["ungranted"] = None
    pod_scope: _CHOICES["pod_scope"] = None
    arrivals: _CHOICES["arrivals"] = None
    queue_reject: _CHOICES["queue_reject"] = None
    while_scaling: _CHOICES["while_scaling"] = None
    grant_retries: integer(ge=0, le=1000, optional=True) = None
    drops_in_mean_latency: bool | None = None
    faro_quantile: number(gt=0, lt=1, optional=True) = None
    faro_startup_s: number(gt=0, le=DAY_S, optional=True) = None

    @model_validator(mode="after")
    def _consistent(self):
        hot = SimConfig.hot_start_s if self.hot_start_s is None else self.hot_start_s
        cold = SimConfig.cold_start_s if self.cold_start_s is None else self.cold_start_s
        if cold < hot:
            raise fail(f"must be >= hot_start_s ({hot:g}), got {cold:g}", field="cold_start_s")
        for key, job in {"": self, **(self.jobs or {})}.items():
            top = self if key else None
            low = job.min_replicas if job.min_replicas is not None else (top.min_replicas if top else None)
            if job.max_replicas is not None and low is not None and job.max_replicas < low:
                raise fail(f"must be >= min_replicas ({low}), got {job.max_replicas}",
                           field=("jobs", key, "max_replicas") if key else "max_replicas")
        return self


def load_config(path: str | os.PathLike | None, *, fidelity_preset: str | None = None) -> SimConfig:
    """Read a YAML or JSON file (``None``: the defaults); ``fidelity_preset`` overrides its ``fidelity``."""
    data = {} if path is None else read_yaml(path)
    data = {} if data is None else data
    if fidelity_preset is not None and isinstance(data, Mapping):
        data = {**data, "fidelity": fidelity_preset}
    return parse_config(data)


def parse_config(data: Any) -> SimConfig:
    """Validate a mapping (the parsed file) into a :class:`SimConfig`; errors name the field."""
    checked = validate(SimFile, data, where="config")
    preset = dict(fidelity.preset(checked.fidelity or SimConfig.fidelity))
    given = checked.model_dump(exclude_none=True, exclude=set(JobFile.model_fields) | {"jobs", "proxy"})
    job_preset = {name: preset.pop(name) for name in list(preset) if name in JobFile.model_fields}
    defaults = checked.over(dataclasses.replace(JobConfig(), **job_preset))
    config = SimConfig(
        defaults=defaults,
        overrides={key: job.over(defaults) for key, job in (checked.jobs or {}).items()},
        proxy=FARO_PROXY if checked.proxy is None else checked.proxy.over(FARO_PROXY),
        **{**preset, **given},
    )
    distributions = {"service": config.defaults.service, "proxy": config.proxy,
                     **{f"jobs.{key}.service": job.service for key, job in config.overrides.items()}}
    for where, distribution in distributions.items():
        if distribution.loc_ms + distribution.scale_ms <= 0:
            raise FarodError(f"config.{where}: loc_ms + scale_ms must be > 0")
    for where, job in {"": config.defaults, **{f"jobs.{key}.": job for key, job in config.overrides.items()}}.items():
        problem = job.profiled_tail_ms and tail_problem(job.profiled_tail_ms, job.told_service_ms)
        if problem:
            raise FarodError(f"config.{where}profiled_tail_ms: {problem}")
    return config
