"""The daemon's configuration: one YAML file, validated at the boundary by one declarative schema.

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
refuses to start, so every problem is one :class:`FarodError` line naming the field path
(:mod:`farod.schema`), unknown keys are errors (a typo such as ``max_replica`` must not silently fall
back to a default), and the semantic checks a bad allocation would otherwise reveal hours later run
here: ``min > max``, minimums that alone exceed the quota, a resource the quota does not name, a
policy that does not exist or runs only in the simulator, the same job twice, lease timings a leader
could not keep, a CA file that is not there.

Bounds (so that no value can overflow a timer or allocate without end): timeouts up to 300 s,
``tick_s`` up to an hour, ``plan_s`` and staleness up to a day, leader-election timings up to an
hour, ``backfill_days`` up to 28 and ``backfill_hours`` up to 672, quotas and resources up to 1e6,
replica counts up to 10 000, times in ms up to an hour. Application and deployment names are 1-63 of
``A-Z a-z 0-9 . _ -``, starting with a letter or digit, without ``..`` (they become URL path segments
and label values).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from farod.credentials import check_transport
from farod import forecast
from farod.errors import FarodError, FieldError
from farod.jobs import JobSpec, require_minimums_fit, tail_problem
from farod.logs import LOG_LEVELS
from farod.planfile import HOUR_MS, MAX_REPLICAS
from farod.schema import DAY_S, Model, amounts, fail, first_duplicate, integer, nested, number, text, validate
from farod.yamlfile import read_yaml

ACTUATOR_KINDS = ("rayserve", "rayservice", "dry-run")
TIMEOUT = number(gt=0, le=300)
MAX_BACKFILL_DAYS = 28
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


def _served_name(value: str) -> str | None:
    if _NAME.fullmatch(value) and ".." not in value:
        return None
    return "must be 1-63 of A-Z a-z 0-9 . _ - starting with a letter or digit, without '..'"


ServedName = text(pattern_check=_served_name, max_length=63,
                  schema={"pattern": f"^{_NAME.pattern}$", "not": {"pattern": "[.][.]"}})


def _http_url(value: str) -> str | None:
    if not value.startswith(("http://", "https://")):
        return "must start with http:// or https://"
    if "@" in value.split("/")[2]:  # refused without echoing the value: it holds a password
        raise fail("credentials in the URL are not allowed; use bearer_token_file")
    return None


URL = text(pattern_check=_http_url, max_length=2048, schema={"pattern": "^https?://"})
File = text(optional=True, max_length=4096)


class EndpointConfig(Model):
    """An HTTP endpoint farod calls (Prometheus, the Ray dashboard): where, with which token and TLS."""

    url: URL
    bearer_token_file: File = None
    tls_verify: bool = True
    ca_file: File = None
    allow_insecure_http: bool = False  # a bearer token over plain http to a non-loopback host
    timeout_s: TIMEOUT = 5.0


class PrometheusConfig(EndpointConfig):
    url: URL = "http://127.0.0.1:9090"
    use_recording_rules: bool = True
    backfill_hours: number(ge=0, le=24 * MAX_BACKFILL_DAYS) = 24.0  # recent history plans see at least
    backfill_days: integer(ge=0, le=MAX_BACKFILL_DAYS) = 7  # whole earlier UTC days the forecasters learn from
    window_s: number(gt=0, le=3600) = 30.0  # span of rate/latency readings; Ray publishes every ~10 s
    stale_after_s: number(gt=0, le=DAY_S) = 60.0  # a job whose newest sample is older than this is stale
    misses_before_unready: integer(ge=1, le=1000) = 3  # consecutive failed decisions before /readyz fails
    # Only series with this namespace label (the RayService's, under kube-prometheus-stack): equal
    # application/deployment names in other namespaces stay out. None: every series Prometheus has.
    namespace: text(max_length=63, optional=True) = None


class RayServeConfig(EndpointConfig):
    url: URL = "http://127.0.0.1:8265"
    take_over_autoscaling: bool = False


class RayServiceConfig(Model):
    namespace: text(max_length=63) = "default"
    name: text(max_length=63, optional=True) = None


class ActuatorConfig(Model):
    kind: Literal[ACTUATOR_KINDS] = "rayserve"  # type: ignore[valid-type]
    rayserve: RayServeConfig = RayServeConfig()
    rayservice: RayServiceConfig = RayServiceConfig()

    @model_validator(mode="after")
    def _rayservice_named(self):
        if self.kind == "rayservice" and self.rayservice.name is None:
            raise fail("required", field=("rayservice", "name"))
        return self


class NamedConfig(Model):
    """A policy or forecaster: a registry name and its parameters."""

    name: text(max_length=63)
    params: dict[str, Any] = {}


class ForecasterConfig(NamedConfig):
    """The predictive policies' forecast model and its parameters (:mod:`farod.forecast`)."""

    name: text(max_length=63) = "default"
    params: dict[str, Any] = {}

    @model_validator(mode="after")
    def _model_takes_params(self):
        try:
            forecast.check(self.name, self.params)
        except FieldError as exc:
            raise fail(exc.problem, field=tuple(exc.field.split("."))) from None
        return self


class IntervalsConfig(Model):
    tick_s: number(gt=0, le=3600) = 10.0
    plan_s: number(gt=0, le=DAY_S) = 300.0

    @model_validator(mode="after")
    def _plan_not_shorter(self):
        if self.plan_s < self.tick_s:
            raise fail(f"{self.plan_s:g} is shorter than tick_s {self.tick_s:g}", field="plan_s")
        return self


class SafetyConfig(Model):
    """Whole-cluster step limits per decision; 0 means no limit."""

    max_replicas_added: integer(ge=0, le=100_000) = 0
    max_replicas_removed: integer(ge=0, le=100_000) = 0


class ServerConfig(Model):
    host: text(max_length=253) = "0.0.0.0"
    port: integer(ge=0, le=65535) = 8080


class LeaderElectionConfig(Model):
    enabled: bool = True
    lease_name: text(max_length=63) = "farod"
    lease_duration_s: number(gt=0, le=3600) = 15.0
    renew_deadline_s: number(gt=0, le=3600) = 10.0
    retry_period_s: number(gt=0, le=3600) = 2.0

    @model_validator(mode="after")
    def _timings_keepable(self):
        if self.renew_deadline_s >= self.lease_duration_s:
            raise fail("must be shorter than lease_duration_s", field="renew_deadline_s")
        if self.retry_period_s >= self.renew_deadline_s:
            raise fail(f"must be shorter than renew_deadline_s ({self.renew_deadline_s:g}): a leader must be able "
                       f"to retry a renewal before its deadline, got {self.retry_period_s:g}", field="retry_period_s")
        return self


class ConfigMapRef(Model):
    name: text(max_length=253) = "farod-config"
    key: text(max_length=253) = "farod.yaml"


class KubernetesConfig(Model):
    enabled: bool = False
    namespace: text(max_length=63) = "default"
    policy_configmap: ConfigMapRef = ConfigMapRef()
    request_timeout_s: TIMEOUT = 5.0  # every Kubernetes API call gives up after this (less for short leases)
    leader_election: LeaderElectionConfig = LeaderElectionConfig()

    @model_validator(mode="before")
    @classmethod
    def _request_timeout_for_the_lease(cls, data: Any) -> Any:
        """Not given: 5 s, or less where the lease needs it -- half of what the renew deadline leaves a write."""
        if not isinstance(data, Mapping) or data.get("request_timeout_s") is not None:
            return data
        election = data.get("leader_election") or {}
        election = election if isinstance(election, Mapping) else {}
        renew = election.get("renew_deadline_s", LeaderElectionConfig.model_fields["renew_deadline_s"].default)
        retry = election.get("retry_period_s", LeaderElectionConfig.model_fields["retry_period_s"].default)
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) < 1e9 for v in (renew, retry))
        if election.get("enabled", True) is False or not numbers:
            return data
        default = cls.model_fields["request_timeout_s"].default
        return {**data, "request_timeout_s": min(default, max(renew - retry, 0.002) / 2)}

    @property
    def policy_configmap_name(self) -> str:
        return self.policy_configmap.name

    @property
    def policy_configmap_key(self) -> str:
        return self.policy_configmap.key

    @model_validator(mode="after")
    def _writes_within_the_lease(self):
        election = self.leader_election
        if election.enabled and self.request_timeout_s >= election.renew_deadline_s - election.retry_period_s:
            raise fail("must be shorter than leader_election.renew_deadline_s minus retry_period_s (a leader "
                       "writes only while its lease outlasts the write's timeout)", field="request_timeout_s")
        return self


class JobConfig(Model):
    """One served model, as the config file gives it (becomes a :class:`~farod.jobs.JobSpec`)."""

    application: ServedName
    deployment: ServedName
    slo_ms: number(gt=0, le=HOUR_MS)
    service_time_ms: number(gt=0, le=HOUR_MS, optional=True) = None  # None: learned from the processing time
    # One request's p99 without waiting (its profile), between 1 and 5 times service_time_ms.
    service_tail_ms: number(gt=0, le=HOUR_MS, optional=True) = None
    min_replicas: integer(ge=0, le=MAX_REPLICAS) = 1
    max_replicas: integer(ge=1, le=MAX_REPLICAS, optional=True) = None
    weight: number(gt=0, le=1e6) = 1.0
    resources: amounts(ge=0, le=1e6, empty_message="must be a non-empty mapping of resource -> amount") = {"cpu": 1.0}
    # The deployment's own max_queued_requests (None: Serve's default, no limit): what farod writes back
    # when a plan lifts an admission limit (policy parameter admission).
    max_queued_requests: integer(ge=1, le=1_000_000, optional=True) = None

    @model_validator(mode="after")
    def _bounds_in_order(self):
        if self.max_replicas is not None and self.min_replicas > self.max_replicas:
            raise fail(f"{self.min_replicas} is above max_replicas {self.max_replicas}", field="min_replicas")
        return self

    @model_validator(mode="after")
    def _tail_over_service(self):
        if self.service_tail_ms is not None:
            if self.service_time_ms is None:
                raise fail("needs service_time_ms (the tail is profiled with it)", field="service_tail_ms")
            problem = tail_problem(self.service_tail_ms, self.service_time_ms)
            if problem:
                raise fail(problem, field="service_tail_ms")
        return self


Job = nested(JobConfig, lambda job: JobSpec(**job.model_dump()), JobSpec)


class ResourceQuotaRef(Model):
    name: text(max_length=253)


class QuotaConfig(Model):
    """``{cpu: 8, ...}`` (amounts, > 0) or ``{from_resource_quota: {name: ...}}`` (read in the cluster)."""

    from_resource_quota: ResourceQuotaRef | None = None
    model_config = {**Model.model_config, "extra": "allow"}

    @model_validator(mode="after")
    def _one_source(self):
        extra = dict(self.model_extra or {})
        if self.from_resource_quota is not None and extra:
            raise fail("unknown field", field=sorted(map(str, extra))[0])
        if self.from_resource_quota is None and not extra:
            raise fail("must name at least one resource, e.g. {cpu: 8}")
        return self


_Quota = amounts(gt=0, le=1e6)


def quota_amount_schema() -> dict:
    """The JSON schema of one static quota amount (for the chart)."""
    return _QuotaAmounts.model_json_schema()["properties"]["quota"]["additionalProperties"]


class Config(Model):
    prometheus: PrometheusConfig = PrometheusConfig()
    jobs: Annotated[tuple[Job, ...], Field(strict=False, min_length=1, max_length=10_000)]
    quota_config: Annotated[QuotaConfig, Field(alias="quota")]
    policy: NamedConfig
    forecaster: ForecasterConfig = ForecasterConfig()
    actuator: ActuatorConfig = ActuatorConfig()
    intervals: IntervalsConfig = IntervalsConfig()
    safety: SafetyConfig = SafetyConfig()
    server: ServerConfig = ServerConfig()
    kubernetes: KubernetesConfig = KubernetesConfig()
    log_level: Literal[LOG_LEVELS] = "info"  # type: ignore[valid-type]  # lines below it are dropped

    @property
    def quota(self) -> dict[str, float]:
        """The static quota; empty when read from a ResourceQuota."""
        if self.quota_config.from_resource_quota is not None:
            return {}
        return validate(_QuotaAmounts, {"quota": self.quota_config.model_extra}).quota

    @property
    def quota_resource_quota(self) -> str | None:
        """The Kubernetes ResourceQuota to read at every decision, if any."""
        reference = self.quota_config.from_resource_quota
        return None if reference is None else reference.name

    @property
    def jobs_by_key(self) -> dict[str, JobSpec]:
        return {job.key: job for job in self.jobs}


class _QuotaAmounts(Model):
    quota: _Quota


def load_config(path: str | os.PathLike, *, policy_names: tuple[str, ...] | None = None) -> Config:
    """Read and validate a YAML config file; ``policy_names`` defaults to the live policy registry."""
    return parse_config(read_yaml(path), policy_names=policy_names)


def parse_config(data: Any, *, policy_names: tuple[str, ...] | None = None) -> Config:
    """Validate an already-parsed config document (a dict, as from YAML or a ConfigMap)."""
    config = validate(Config, data)
    config.quota  # noqa: B018 - the amounts are checked here, not at the first decision
    _check_semantics(config, policy_names=_live_policies() if policy_names is None else policy_names)
    return config


def _check_semantics(config: Config, *, policy_names: tuple[str, ...]) -> None:
    repeated = first_duplicate([job.key for job in config.jobs])
    if repeated:
        raise FarodError(f"jobs[{repeated[1]}]: {config.jobs[repeated[1]].key} is already jobs[{repeated[0]}]")
    if config.quota:
        for index, job in enumerate(config.jobs):
            for resource in sorted(set(job.resources) - set(config.quota)):
                raise FarodError(f"jobs[{index}].resources.{resource}: the quota does not name {resource!r} "
                                 f"(it has {', '.join(config.quota)}); farod cannot limit what it does not count")
    require_minimums_fit(config.jobs, config.quota)
    if config.quota_resource_quota and not config.kubernetes.enabled:
        raise FarodError("quota.from_resource_quota: needs kubernetes.enabled: true (farod reads it in the cluster)")
    if config.actuator.kind == "rayservice" and not config.kubernetes.enabled:
        raise FarodError("actuator.kind: rayservice needs kubernetes.enabled: true")
    if policy_names and config.policy.name not in policy_names:
        raise FarodError(_unknown_policy(config.policy.name, policy_names))
    _check_files(config)
    check_transport(url=config.prometheus.url, token_file=config.prometheus.bearer_token_file,
                    allow_insecure_http=config.prometheus.allow_insecure_http, setting="prometheus")
    rayserve = config.actuator.rayserve
    if config.actuator.kind != "rayservice":
        check_transport(url=rayserve.url, token_file=rayserve.bearer_token_file,
                        allow_insecure_http=rayserve.allow_insecure_http, setting="actuator.rayserve")


def _check_files(config: Config) -> None:
    """A CA file that is not there fails every request later; say so now."""
    for where, path in (("prometheus.ca_file", config.prometheus.ca_file),
                        ("actuator.rayserve.ca_file", config.actuator.rayserve.ca_file)):
        if path is not None and not os.path.isfile(path):
            raise FarodError(f"{where}: no such file {path!r}")


def _unknown_policy(name: str, live: tuple[str, ...]) -> str:
    try:
        from farod.policies import NAMES
    except ImportError:
        NAMES = ()
    if name in NAMES:
        return f"policy.name: {name} is simulation only (farod compare/simulate); live policies: {', '.join(live)}"
    return f"policy.name: unknown policy {name!r} (known: {', '.join(live)})"


def _live_policies() -> tuple[str, ...]:
    """The live policy registry's names; empty (no check) while the registry is not importable."""
    try:
        from farod.policies import LIVE_NAMES
    except ImportError:
        return ()
    return LIVE_NAMES
