"""Simulation parameters: defaults are the Faro evaluation setting; any of them can come from a file.

Example (``sim.yaml``, every key optional)::

    service: {shape: 0.4225, loc_ms: 79.3, scale_ms: 68.6}   # shifted lognormal, per request
    profiled_service_ms: 180       # what the policies are told; default (absent or null): the true mean
    proxy: {shape: 0.4808, loc_ms: 3.49, scale_ms: 0.99}      # on the request and again on the response
    slo_ms: 720
    resources: {cpu: 1}            # per replica, hence per worker pod
    quota: {memory_gib: 64}        # extra quota resources; the CPU quota comes from --cpus
    hot_start_s: 3
    cold_start_s: 35
    reap_idle_s: 30
    queue_cap: 50                  # requests waiting at a deployment before it rejects
    max_ongoing: 4                 # requests assigned to one replica at once
    fidelity: farod                # or artifact: the Faro artifact's request path (farod.sim.fidelity),
    grant_order: round_robin       # ... with every one of its settings also settable on its own
    jobs:                          # per job (trace key "application/deployment"): mixed models
      serve-cluster3/classifier: {service: {shape: 0.3, loc_ms: 300, scale_ms: 100}, slo_ms: 2000}

``service`` is what the simulated replicas draw; ``profiled_service_ms`` is the service time the
policies are given in their :class:`JobSpec` (a live deployment's profile). The two are separate so a
miscalibrated profile can be studied: the Faro artifact told its policies 180 ms while its replicas
drew a mean of 154.3 ms. A per-job ``profiled_service_ms`` overrides the global one.

>>> load_config("sim.yaml").job("serve-cluster3/classifier").slo_ms
2000.0

A shifted lognormal with ``shape: 0`` is the constant ``loc_ms + scale_ms`` (handy for checks by
hand). Every error names the field, e.g. ``config: jobs.a/m.service.shape must be >= 0, got -1``.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from typing import Any

from farod.errors import FarodError
from farod.jobs import JobShape, JobSpec
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
    slo_ms: float = 720.0

    @property
    def told_service_ms(self) -> float:
        return self.service.mean_ms if self.profiled_service_ms is None else self.profiled_service_ms

    def spec(self, key: str) -> JobSpec:
        """The policy's view: the service time it is told (the profile, by default the true mean)."""
        application, _, deployment = key.partition("/")
        return JobSpec(application=application, deployment=deployment, service_time_ms=self.told_service_ms,
                       **self.shape())


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
        """Parameters this config gives policy ``name`` (the Faro policies' artifact settings)."""
        return fidelity.faro_params(name, quantile=self.faro_quantile, startup_s=self.faro_startup_s)


_JOB_FIELDS = ("service", "profiled_service_ms", "slo_ms", "resources", "min_replicas", "max_replicas", "weight")
_TOP_FIELDS = _JOB_FIELDS + (
    "jobs", "proxy", "quota", "hot_start_s", "cold_start_s", "reap_idle_s", "reconcile_interval_s",
    "queue_cap", "max_ongoing", "window_s", "fidelity", *fidelity.FIELDS[1:],
)  # fmt: skip


def load_config(path: str | os.PathLike | None, *, fidelity_preset: str | None = None) -> SimConfig:
    """Read a YAML or JSON file (``None``: the defaults); ``fidelity_preset`` overrides its ``fidelity``."""
    data = {} if path is None else read_yaml(path)
    data = {} if data is None else data
    if fidelity_preset is not None and isinstance(data, Mapping):
        data = {**data, "fidelity": fidelity_preset}
    return parse_config(data)


def parse_config(data: Any) -> SimConfig:
    """Validate a mapping (the parsed file) into a :class:`SimConfig`; errors name the field."""
    _require_mapping(data, "config", _TOP_FIELDS)
    preset = _choice(data, "fidelity", SimConfig.fidelity, fidelity.PRESETS)
    data = {**fidelity.preset(preset), **data}
    defaults = _job_config(data, "config", JobConfig())
    jobs = data.get("jobs") or {}
    _require_mapping(jobs, "config: jobs", None)
    overrides = {}
    for key, job_data in jobs.items():
        where = f"config: jobs.{key}"
        if "/" not in str(key):
            raise FarodError(f"{where}: a job key is 'application/deployment'")
        _require_mapping(job_data, where, _JOB_FIELDS)
        overrides[str(key)] = _job_config(job_data, where, defaults)
    config = SimConfig(
        defaults=defaults,
        overrides=overrides,
        proxy=_distribution(data.get("proxy", {}), "config: proxy", FARO_PROXY),
        quota=_resources(data.get("quota", {}), "config: quota", allow_empty=True),
        hot_start_s=_number(data, "hot_start_s", "config", SimConfig.hot_start_s, minimum=0),
        cold_start_s=_number(data, "cold_start_s", "config", SimConfig.cold_start_s, minimum=0),
        reap_idle_s=_number(data, "reap_idle_s", "config", SimConfig.reap_idle_s, minimum=0),
        reconcile_interval_s=_number(
            data, "reconcile_interval_s", "config", SimConfig.reconcile_interval_s, minimum=0, strict=True
        ),
        queue_cap=_integer(data, "queue_cap", "config", SimConfig.queue_cap, minimum=0),
        max_ongoing=_integer(data, "max_ongoing", "config", SimConfig.max_ongoing, minimum=1),
        window_s=_number(data, "window_s", "config", SimConfig.window_s, minimum=0, strict=True),
        fidelity=preset,
        **{name: _choice(data, name, getattr(SimConfig, name), options) for name, options in fidelity.CHOICES.items()},
        grant_retries=_integer(data, "grant_retries", "config", SimConfig.grant_retries, minimum=0),
        drops_in_mean_latency=_flag(data, "drops_in_mean_latency", SimConfig.drops_in_mean_latency),
        faro_quantile=_optional(data, "faro_quantile", maximum=1),
        faro_startup_s=_optional(data, "faro_startup_s"),
    )
    if config.cold_start_s < config.hot_start_s:
        raise FarodError(f"config: cold_start_s ({config.cold_start_s}) must be >= hot_start_s ({config.hot_start_s})")
    return config


def _job_config(data: Mapping, where: str, base: JobConfig) -> JobConfig:
    config = JobConfig(
        service=_distribution(data.get("service", {}), f"{where}.service", base.service),
        profiled_service_ms=(
            base.profiled_service_ms
            if data.get("profiled_service_ms") is None
            else _number(data, "profiled_service_ms", where, None, minimum=0, strict=True)
        ),
        slo_ms=_number(data, "slo_ms", where, base.slo_ms, minimum=0, strict=True),
        resources=_resources(data["resources"], f"{where}.resources") if "resources" in data else base.resources,
        min_replicas=_integer(data, "min_replicas", where, base.min_replicas, minimum=0),
        max_replicas=(
            base.max_replicas
            if data.get("max_replicas") is None
            else _integer(data, "max_replicas", where, None, minimum=1)
        ),
        weight=_number(data, "weight", where, base.weight, minimum=0, strict=True),
    )
    if config.max_replicas is not None and config.max_replicas < config.min_replicas:
        raise FarodError(f"{where}: max_replicas {config.max_replicas} is below min_replicas {config.min_replicas}")
    return config


def _distribution(data: Any, where: str, base: ShiftedLognormal) -> ShiftedLognormal:
    _require_mapping(data, where, ("shape", "loc_ms", "scale_ms"))
    distribution = ShiftedLognormal(
        shape=_number(data, "shape", where, base.shape, minimum=0),
        loc_ms=_number(data, "loc_ms", where, base.loc_ms, minimum=0),
        scale_ms=_number(data, "scale_ms", where, base.scale_ms, minimum=0),
    )
    if distribution.loc_ms + distribution.scale_ms <= 0:
        raise FarodError(f"{where}: loc_ms + scale_ms must be > 0")
    return distribution


def _resources(data: Any, where: str, *, allow_empty: bool = False) -> dict[str, float]:
    _require_mapping(data, where, None)
    if not data and not allow_empty:
        raise FarodError(f"{where}: must name at least one resource")
    return {str(name): _number(data, name, where, None, minimum=0) for name in data}


def _require_mapping(data: Any, where: str, fields: tuple[str, ...] | None) -> None:
    if not isinstance(data, Mapping):
        raise FarodError(f"{where}: expected a mapping, got {type(data).__name__}")
    if fields is not None:
        unknown = sorted(set(map(str, data)) - set(fields))
        if unknown:
            raise FarodError(f"{where}: unknown field {unknown[0]!r} (known: {', '.join(fields)})")


def _number(data: Mapping, name: str, where: str, default, *, minimum: float, strict: bool = False) -> float:
    value = data.get(name, default)
    valid = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not valid or value < minimum or (strict and value == minimum):
        bound = f"> {minimum}" if strict else f">= {minimum}"
        raise FarodError(f"{where}.{name} must be a number {bound}, got {value!r}")
    return float(value)


def _choice(data: Mapping, name: str, default: str, options: tuple[str, ...]) -> str:
    value = data.get(name, default)
    if value not in options:
        raise FarodError(f"config.{name} must be one of {', '.join(options)}, got {value!r}")
    return value


def _flag(data: Mapping, name: str, default: bool) -> bool:
    value = data.get(name, default)
    if not isinstance(value, bool):
        raise FarodError(f"config.{name} must be true or false, got {value!r}")
    return value


def _optional(data: Mapping, name: str, *, maximum: float = math.inf) -> float | None:
    if data.get(name) is None:
        return None
    value = _number(data, name, "config", None, minimum=0, strict=True)
    if value >= maximum:
        raise FarodError(f"config.{name} must be below {maximum:g}, got {value!r}")
    return value


def _integer(data: Mapping, name: str, where: str, default, *, minimum: int) -> int:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise FarodError(f"{where}.{name} must be an integer >= {minimum}, got {value!r}")
    return value
