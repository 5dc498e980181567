"""The daemon's configuration: one YAML file, validated at the boundary into frozen dataclasses.

Example::

    >>> config = load_config("config/farod.example.yaml")
    >>> config.jobs[0].key, config.quota, config.intervals.tick_s
    ('serve-cluster0/classifier', {'cpu': 8.0}, 10.0)
    >>> parse_config({"jobs": [{"application": "a", "deployment": "m", "slo_ms": 0}], "quota": {"cpu": 4}})
    Traceback (most recent call last):
    ...
    farod.errors.FarodError: jobs[0].slo_ms: must be > 0, got 0

The same schema is read by ``farod run``, ``farod validate`` and the Helm chart's ConfigMap
(``config/farod.example.yaml`` documents every field). A daemon that guesses is worse than one that
refuses to start, so every problem is one :class:`FarodError` line naming the field path, unknown
keys are errors (a typo such as ``max_replica`` must not silently fall back to a default), and the
semantic checks a bad allocation would otherwise reveal hours later run here: ``min > max``,
minimums that alone exceed the quota, a policy that does not exist, the same job twice.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from typing import Any

from farod.credentials import check_transport
from farod.errors import FarodError
from farod.jobs import JobSpec, require_minimums_fit
from farod.logs import LOG_LEVELS
from farod.yamlfile import read_yaml

ACTUATOR_KINDS = ("rayserve", "rayservice", "dry-run")
_REQUIRED = object()


@dataclasses.dataclass(frozen=True, kw_only=True)
class PrometheusConfig:
    url: str = "http://127.0.0.1:9090"
    bearer_token_file: str | None = None
    tls_verify: bool = True
    ca_file: str | None = None
    allow_insecure_http: bool = False  # a bearer token over plain http to a non-loopback host
    timeout_s: float = 5.0
    use_recording_rules: bool = True
    backfill_hours: float = 24.0  # recent history plans see at least
    backfill_days: int = 7  # whole earlier UTC days the forecasters learn from; 0: none
    window_s: float = 30.0  # span of rate/latency readings; Ray publishes every ~10 s
    stale_after_s: float = 60.0  # a job whose newest sample is older than this is stale
    misses_before_unready: int = 3  # consecutive failed decisions before /readyz fails


@dataclasses.dataclass(frozen=True, kw_only=True)
class RayServeConfig:
    url: str = "http://127.0.0.1:8265"
    bearer_token_file: str | None = None
    tls_verify: bool = True
    ca_file: str | None = None
    allow_insecure_http: bool = False  # a bearer token over plain http to a non-loopback host
    take_over_autoscaling: bool = False
    timeout_s: float = 5.0


@dataclasses.dataclass(frozen=True, kw_only=True)
class RayServiceConfig:
    namespace: str = "default"
    name: str | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class ActuatorConfig:
    kind: str = "rayserve"
    rayserve: RayServeConfig = RayServeConfig()
    rayservice: RayServiceConfig = RayServiceConfig()


@dataclasses.dataclass(frozen=True, kw_only=True)
class NamedConfig:
    """A policy or forecaster: a registry name and its parameters."""

    name: str
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, kw_only=True)
class IntervalsConfig:
    tick_s: float = 10.0
    plan_s: float = 300.0


@dataclasses.dataclass(frozen=True, kw_only=True)
class SafetyConfig:
    """Whole-cluster step limits per decision; 0 means no limit."""

    max_replicas_added: int = 0
    max_replicas_removed: int = 0


@dataclasses.dataclass(frozen=True, kw_only=True)
class ServerConfig:
    host: str = "0.0.0.0"
    port: int = 8080


@dataclasses.dataclass(frozen=True, kw_only=True)
class LeaderElectionConfig:
    enabled: bool = True
    lease_name: str = "farod"
    lease_duration_s: float = 15.0
    renew_deadline_s: float = 10.0
    retry_period_s: float = 2.0


@dataclasses.dataclass(frozen=True, kw_only=True)
class KubernetesConfig:
    enabled: bool = False
    namespace: str = "default"
    policy_configmap_name: str = "farod-config"
    policy_configmap_key: str = "farod.yaml"
    request_timeout_s: float = 5.0  # every Kubernetes API call gives up after this (less for short leases)
    leader_election: LeaderElectionConfig = LeaderElectionConfig()


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config:
    prometheus: PrometheusConfig
    jobs: tuple[JobSpec, ...]
    quota: Mapping[str, float]  # empty when read from a ResourceQuota
    quota_resource_quota: str | None  # name of the Kubernetes ResourceQuota to read at every decision
    policy: NamedConfig
    forecaster: NamedConfig
    actuator: ActuatorConfig
    intervals: IntervalsConfig
    safety: SafetyConfig
    server: ServerConfig
    kubernetes: KubernetesConfig
    log_level: str = "info"  # farod's and the libraries' log lines below it are dropped

    @property
    def jobs_by_key(self) -> dict[str, JobSpec]:
        return {job.key: job for job in self.jobs}


def load_config(path: str | os.PathLike, *, policy_names: tuple[str, ...] | None = None) -> Config:
    """Read and validate a YAML config file; ``policy_names`` defaults to the policy registry."""
    data = read_yaml(path)
    return parse_config(data, policy_names=policy_names)


def parse_config(data: Any, *, policy_names: tuple[str, ...] | None = None) -> Config:
    """Validate an already-parsed config document (a dict, as from YAML or a ConfigMap)."""
    root = _Section("", data if data is not None else {})
    prometheus = _prometheus(root.section("prometheus"))
    jobs = _jobs(root.items("jobs"))
    quota, resource_quota = _quota(root.section("quota", required=True))
    policy = _named(root.section("policy", required=True), default_name=None)
    forecaster = _named(root.section("forecaster"), default_name="default")
    actuator = _actuator(root.section("actuator"))
    intervals = _intervals(root.section("intervals"))
    safety = _safety(root.section("safety"))
    server = _server(root.section("server"))
    kubernetes = _kubernetes(root.section("kubernetes"))
    log_level = root.string("log_level", "info")
    if log_level not in LOG_LEVELS:
        raise FarodError(f"log_level: must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}")
    root.done()
    config = Config(prometheus=prometheus, jobs=jobs, quota=quota, quota_resource_quota=resource_quota,
                    policy=policy, forecaster=forecaster, actuator=actuator, intervals=intervals,
                    safety=safety, server=server, kubernetes=kubernetes, log_level=log_level)
    _check_semantics(config, policy_names=_known_policies() if policy_names is None else policy_names)
    return config


class _Section:
    """One mapping of the document: typed getters that name ``path.field`` in every error."""

    def __init__(self, path: str, data: Any):
        if not isinstance(data, Mapping):
            raise FarodError(f"{path or 'config'}: must be a mapping, got {type(data).__name__}")
        self.path = path
        self.data = data
        self.seen: set[str] = set()

    def where(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def raw(self, name: str, default: Any = _REQUIRED) -> Any:
        self.seen.add(name)
        value = self.data.get(name)
        if value is None:
            if default is _REQUIRED:
                raise FarodError(f"{self.where(name)}: required")
            return default
        return value

    def section(self, name: str, *, required: bool = False) -> "_Section":
        return _Section(self.where(name), self.raw(name, _REQUIRED if required else {}))

    def items(self, name: str) -> list["_Section"]:
        value = self.raw(name)
        if not isinstance(value, list) or not value:
            raise FarodError(f"{self.where(name)}: must be a non-empty list")
        return [_Section(f"{self.where(name)}[{index}]", item) for index, item in enumerate(value)]

    def string(self, name: str, default: Any = _REQUIRED) -> str | None:
        value = self.raw(name, default)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise FarodError(f"{self.where(name)}: must be a non-empty string, got {value!r}")
        return value

    def boolean(self, name: str, default: Any = _REQUIRED) -> bool:
        value = self.raw(name, default)
        if not isinstance(value, bool):
            raise FarodError(f"{self.where(name)}: must be true or false, got {value!r}")
        return value

    def number(self, name: str, default: Any = _REQUIRED, *, minimum: float = 0.0, strict: bool = True) -> float:
        value = self.raw(name, default)
        if value is not None:
            _require_number(self.where(name), value, minimum=minimum, strict=strict)
            return float(value)
        return value

    def integer(self, name: str, default: Any = _REQUIRED, *, minimum: int = 0) -> int | None:
        value = self.raw(name, default)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < minimum):
            raise FarodError(f"{self.where(name)}: must be an integer >= {minimum}, got {value!r}")
        return value

    def amounts(self, name: str, default: Any = _REQUIRED) -> dict[str, float]:
        """A resource mapping such as ``{cpu: 1, gpu: 0.5}``: names to numbers >= 0."""
        value = self.raw(name, default)
        if not isinstance(value, Mapping) or not value:
            raise FarodError(f"{self.where(name)}: must be a non-empty mapping of resource -> amount")
        for resource, amount in value.items():
            _require_number(f"{self.where(name)}.{resource}", amount, minimum=0.0, strict=False)
        return {str(resource): float(amount) for resource, amount in value.items()}

    def done(self) -> None:
        """Unknown keys are typos until proven otherwise."""
        unknown = sorted(set(map(str, self.data)) - self.seen)
        if unknown:
            raise FarodError(f"{self.where(unknown[0])}: unknown field")


def _require_number(where: str, value: Any, *, minimum: float, strict: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise FarodError(f"{where}: must be a number, got {value!r}")
    if value < minimum or (strict and value == minimum):
        raise FarodError(f"{where}: must be {'>' if strict else '>='} {minimum:g}, got {value!r}")


def _prometheus(section: _Section) -> PrometheusConfig:
    defaults = PrometheusConfig()
    config = PrometheusConfig(
        url=_url(section, "url", defaults.url),
        bearer_token_file=section.string("bearer_token_file", None),
        tls_verify=section.boolean("tls_verify", defaults.tls_verify),
        ca_file=section.string("ca_file", None),
        allow_insecure_http=section.boolean("allow_insecure_http", defaults.allow_insecure_http),
        timeout_s=section.number("timeout_s", defaults.timeout_s),
        use_recording_rules=section.boolean("use_recording_rules", defaults.use_recording_rules),
        backfill_hours=section.number("backfill_hours", defaults.backfill_hours, strict=False),
        backfill_days=section.integer("backfill_days", defaults.backfill_days, minimum=0),
        window_s=section.number("window_s", defaults.window_s),
        stale_after_s=section.number("stale_after_s", defaults.stale_after_s),
        misses_before_unready=section.integer("misses_before_unready", defaults.misses_before_unready, minimum=1),
    )
    section.done()
    check_transport(url=config.url, token_file=config.bearer_token_file,
                    allow_insecure_http=config.allow_insecure_http, setting="prometheus")
    return config


def _url(section: _Section, name: str, default: str) -> str:
    value = section.string(name, default)
    if not value.startswith(("http://", "https://")):
        raise FarodError(f"{section.where(name)}: must start with http:// or https://, got {value!r}")
    if "@" in value.split("/")[2]:
        # Never echo the value: it holds a password.
        raise FarodError(f"{section.where(name)}: credentials in the URL are not allowed; use bearer_token_file")
    return value.rstrip("/")


def _jobs(sections: list[_Section]) -> tuple[JobSpec, ...]:
    jobs = []
    for section in sections:
        job = JobSpec(
            application=section.string("application"),
            deployment=section.string("deployment"),
            slo_ms=section.number("slo_ms"),
            service_time_ms=section.number("service_time_ms", None),
            min_replicas=section.integer("min_replicas", 1, minimum=0),
            max_replicas=section.integer("max_replicas", None, minimum=1),
            weight=section.number("weight", 1.0),
            resources=section.amounts("resources", {"cpu": 1.0}),
        )
        section.done()
        if job.max_replicas is not None and job.min_replicas > job.max_replicas:
            raise FarodError(f"{section.where('min_replicas')}: {job.min_replicas} is above "
                             f"max_replicas {job.max_replicas}")
        jobs.append(job)
    return tuple(jobs)


def _quota(section: _Section) -> tuple[dict[str, float], str | None]:
    if "from_resource_quota" in section.data:
        reference = section.section("from_resource_quota", required=True)
        name = reference.string("name")
        reference.done()
        section.done()
        return {}, name
    if not section.data:
        raise FarodError("quota: must name at least one resource, e.g. {cpu: 8}")
    quota = {}
    for resource in list(section.data):
        quota[str(resource)] = section.number(str(resource))
    section.done()
    return quota, None


def _named(section: _Section, *, default_name: str | None) -> NamedConfig:
    name = section.string("name", _REQUIRED if default_name is None else default_name)
    params = section.raw("params", {})
    if not isinstance(params, Mapping):
        raise FarodError(f"{section.where('params')}: must be a mapping, got {type(params).__name__}")
    section.done()
    return NamedConfig(name=name, params=dict(params))


def _actuator(section: _Section) -> ActuatorConfig:
    kind = section.string("kind", "rayserve")
    if kind not in ACTUATOR_KINDS:
        raise FarodError(f"{section.where('kind')}: must be one of {', '.join(ACTUATOR_KINDS)}, got {kind!r}")
    rayserve_section = section.section("rayserve")
    defaults = RayServeConfig()
    rayserve = RayServeConfig(
        url=_url(rayserve_section, "url", defaults.url),
        bearer_token_file=rayserve_section.string("bearer_token_file", None),
        tls_verify=rayserve_section.boolean("tls_verify", defaults.tls_verify),
        ca_file=rayserve_section.string("ca_file", None),
        allow_insecure_http=rayserve_section.boolean("allow_insecure_http", defaults.allow_insecure_http),
        take_over_autoscaling=rayserve_section.boolean("take_over_autoscaling", defaults.take_over_autoscaling),
        timeout_s=rayserve_section.number("timeout_s", defaults.timeout_s),
    )
    rayserve_section.done()
    if kind != "rayservice":
        check_transport(url=rayserve.url, token_file=rayserve.bearer_token_file,
                        allow_insecure_http=rayserve.allow_insecure_http, setting="actuator.rayserve")
    rayservice_section = section.section("rayservice")
    rayservice = RayServiceConfig(
        namespace=rayservice_section.string("namespace", "default"),
        name=rayservice_section.string("name", _REQUIRED if kind == "rayservice" else None),
    )
    rayservice_section.done()
    section.done()
    return ActuatorConfig(kind=kind, rayserve=rayserve, rayservice=rayservice)


def _intervals(section: _Section) -> IntervalsConfig:
    defaults = IntervalsConfig()
    intervals = IntervalsConfig(tick_s=section.number("tick_s", defaults.tick_s),
                                plan_s=section.number("plan_s", defaults.plan_s))
    section.done()
    if intervals.plan_s < intervals.tick_s:
        raise FarodError(f"intervals.plan_s: {intervals.plan_s:g} is shorter than tick_s {intervals.tick_s:g}")
    return intervals


def _safety(section: _Section) -> SafetyConfig:
    safety = SafetyConfig(max_replicas_added=section.integer("max_replicas_added", 0),
                          max_replicas_removed=section.integer("max_replicas_removed", 0))
    section.done()
    return safety


def _server(section: _Section) -> ServerConfig:
    server = ServerConfig(host=section.string("host", ServerConfig.host), port=section.integer("port", 8080))
    section.done()
    if server.port > 65535:
        raise FarodError(f"server.port: must be <= 65535, got {server.port}")
    return server


def _request_timeout(election: _Section) -> float:
    """5 s, or less where the lease timings need it: half of what the renew deadline leaves for a write."""
    renew = election.data.get("renew_deadline_s", LeaderElectionConfig.renew_deadline_s)
    retry = election.data.get("retry_period_s", LeaderElectionConfig.retry_period_s)
    if not election.data.get("enabled", True) or not all(isinstance(v, (int, float)) for v in (renew, retry)):
        return KubernetesConfig.request_timeout_s
    return min(KubernetesConfig.request_timeout_s, max(renew - retry, 0.002) / 2)


def _kubernetes(section: _Section) -> KubernetesConfig:
    configmap = section.section("policy_configmap")
    election = section.section("leader_election")
    defaults = LeaderElectionConfig()
    kubernetes = KubernetesConfig(
        enabled=section.boolean("enabled", False),
        namespace=section.string("namespace", "default"),
        policy_configmap_name=configmap.string("name", KubernetesConfig.policy_configmap_name),
        policy_configmap_key=configmap.string("key", KubernetesConfig.policy_configmap_key),
        request_timeout_s=section.number("request_timeout_s", None) or _request_timeout(election),
        leader_election=LeaderElectionConfig(
            enabled=election.boolean("enabled", defaults.enabled),
            lease_name=election.string("lease_name", defaults.lease_name),
            lease_duration_s=election.number("lease_duration_s", defaults.lease_duration_s),
            renew_deadline_s=election.number("renew_deadline_s", defaults.renew_deadline_s),
            retry_period_s=election.number("retry_period_s", defaults.retry_period_s),
        ),
    )
    configmap.done()
    election.done()
    section.done()
    if kubernetes.leader_election.renew_deadline_s >= kubernetes.leader_election.lease_duration_s:
        raise FarodError("kubernetes.leader_election.renew_deadline_s: must be shorter than lease_duration_s")
    if not 0 < kubernetes.request_timeout_s <= 300:
        raise FarodError(f"kubernetes.request_timeout_s: must be in (0, 300], got {kubernetes.request_timeout_s:g}")
    election = kubernetes.leader_election
    if election.enabled and kubernetes.request_timeout_s >= election.renew_deadline_s - election.retry_period_s:
        raise FarodError("kubernetes.request_timeout_s: must be shorter than leader_election.renew_deadline_s minus "
                         "retry_period_s (a leader writes only while its lease outlasts the write's timeout)")
    return kubernetes


def _check_semantics(config: Config, *, policy_names: tuple[str, ...]) -> None:
    seen: dict[str, int] = {}
    for index, job in enumerate(config.jobs):
        if job.key in seen:
            raise FarodError(f"jobs[{index}]: {job.key} is already jobs[{seen[job.key]}]")
        seen[job.key] = index
    require_minimums_fit(config.jobs, config.quota)
    if config.quota_resource_quota and not config.kubernetes.enabled:
        raise FarodError("quota.from_resource_quota: needs kubernetes.enabled: true (farod reads it in the cluster)")
    if config.actuator.kind == "rayservice" and not config.kubernetes.enabled:
        raise FarodError("actuator.kind: rayservice needs kubernetes.enabled: true")
    if policy_names and config.policy.name not in policy_names:
        raise FarodError(f"policy.name: unknown policy {config.policy.name!r} (known: {', '.join(policy_names)})")


def _known_policies() -> tuple[str, ...]:
    """The policy registry's names; empty (no check) while the registry is not importable."""
    try:
        from farod.policies import LIVE_NAMES
    except ImportError:
        return ()
    return LIVE_NAMES
