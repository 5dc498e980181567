"""Per-job readings from Prometheus: every reading is a value, stale, or missing -- never a guess.

Example::

    source = PrometheusSignals(url="http://127.0.0.1:9090", window_s=30)
    signals = source.read(jobs, now=time.time())
    signals["serve-cluster0/classifier"].readings["request_rate"]
    # -> Reading(value=12.4, status='ok')
    source.arrivals(jobs, start=time.time() // 60 * 60 - 120, steps=3)["serve-cluster0/classifier"]
    # -> array([731., 702., 688.])

Why the care: the daemon acts on these numbers, and "no data" must never look like "no load" -- a
rate of zero would shrink a job to its minimum. So a query that returns no series for a job is
*missing*, a series whose newest sample is older than ``stale_after_s`` makes every reading of the job
*stale*, and NaN or Inf (a histogram with no requests, a 0/0 mean) is rejected as missing. The
daemon holds such a job and exports ``farod_signal_stale``. When Prometheus itself cannot be queried
(refused, timeout, 5xx, unparsable answer) :class:`PrometheusUnavailable` is raised and the daemon
holds everything.

Queries prefer farod's recording rules (``rules/farod.rules.yaml``, 1-minute windows evaluated by
Prometheus) and fall back to the raw Ray Serve metrics (Ray 2.60 names, checked against a live
``ray start`` metrics endpoint) with ``<rule> or <raw>``: one round trip, and a job the rules do not
cover yet (rules not loaded, first minute after start) is still read from the raw series.

- ``request_rate`` (req/s): the rule over replica-side completions, else the router's arrivals;
- ``p99_latency_ms``, ``mean_latency_ms``: end to end at the HTTP proxy, per application;
- ``ongoing_requests``: requests executing at replicas plus requests queued in handles;
- ``running_replicas``: healthy replicas;
- ``processing_time_ms``: mean model execution time (learns the service time when it is not given).

Only ``request_rate`` is required for a decision (replica counts also come from the actuator, which
asks the cluster). Ray's OpenTelemetry exporter only exports a gauge in the intervals it was set --
the replica health gauge appears every health check and vanishes in between -- so gauges are read as
``avg_over_time``/``max_over_time`` over the window; a bare gauge would flicker between present and
missing. Freshness is the age of the newest sample of the router's request counter, which Ray exports
every interval.

The HTTP side -- credentials, TLS, retries, chunking, and the check that every answer is usable --
is :class:`~farod.signals.client.PrometheusClient`; anything unusable raises
:class:`~farod.signals.client.PrometheusUnavailable`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping

import numpy as np

from farod.jobs import JobSpec
from farod.signals.client import PrometheusClient, PrometheusUnavailable

__all__ = ["SIGNALS", "REQUIRED_SIGNALS", "JobSignals", "PrometheusSignals", "PrometheusUnavailable", "Reading",
           "queries"]

SIGNALS = ("request_rate", "p99_latency_ms", "mean_latency_ms", "ongoing_requests", "running_replicas",
           "processing_time_ms")
# Signals a job cannot be decided without; the others only inform (a job with no HTTP traffic has no p99;
# replica counts also come from the actuator, which asks the cluster itself).
REQUIRED_SIGNALS = ("request_rate",)

_ROUTER_REQUESTS = 'ray_serve_num_router_requests(_total)?'
# The proxy's 503s per deployment: what an admission limit (max_queued_requests) rejects before the
# router counts a request (Ray 2.60's router counts only the requests it admits).
_REJECTED = 'ray_serve_num_deployment_http_error_requests(_total)?'
# Series are grouped by namespace too, so a raw query's series carry the same labels as the recording
# rules' (which keep namespace) and `rule or raw` returns one series per job, not both.
_BY_JOB = "namespace, application, deployment"
_BY_APP = "namespace, application"


def selector(metric: str, namespace: str | None = None, *extra: str) -> str:
    """A PromQL selector of ``metric`` (a regex when it has one, for the router counter's two names),
    limited to ``namespace`` when one is given, with any ``extra`` label matchers."""
    matchers = [f"namespace={json.dumps(namespace)}"] if namespace else []
    matchers += extra
    if "(" in metric:
        return "{" + ", ".join([f'__name__=~"{metric}"', *matchers]) + "}"
    return metric + ("{" + ", ".join(matchers) + "}" if matchers else "")


def router_requests(namespace: str | None = None) -> str:
    """Ray Serve's router request counter (named with or without ``_total`` across Ray versions)."""
    return selector(_ROUTER_REQUESTS, namespace)


def demand(namespace: str | None = None) -> str:
    """Every request that reached a deployment: the router's count plus the 503s the proxy answered
    for it (an admission limit's rejections; the router counter has no ``error_code``, so one
    selector takes both). The forecasters must see the demand, not only what a limit let in."""
    return selector(f"{_ROUTER_REQUESTS}|{_REJECTED}", namespace, 'error_code=~"503|"')


@dataclasses.dataclass(frozen=True)
class Reading:
    value: float | None
    status: str  # "ok", "stale" or "missing"

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclasses.dataclass(frozen=True, kw_only=True)
class JobSignals:
    readings: Mapping[str, Reading]
    age_s: float | None  # age of the newest sample behind the job's series; None: no series at all

    @property
    def stale(self) -> bool:
        return any(not self.readings[name].ok for name in REQUIRED_SIGNALS)

    def value(self, name: str) -> float | None:
        reading = self.readings[name]
        return reading.value if reading.ok else None


def queries(*, window_s: float, use_recording_rules: bool, namespace: str | None = None) -> dict[str, str]:
    """PromQL per signal, each returning one series per (application, deployment) or per application,
    every selector limited to ``namespace`` when one is given."""
    w = f"{int(round(window_s))}s"
    processing_w = f"{int(round(max(window_s, 60.0)))}s"

    def over(metric: str, window: str = w) -> str:
        return f"{selector(metric, namespace)}[{window}]"

    raw = {
        "request_rate": f"sum by ({_BY_JOB}) (rate({router_requests(namespace)}[{w}]))",
        "p99_latency_ms": f"histogram_quantile(0.99, sum by ({_BY_APP}, le) "
                          f"(rate({over('ray_serve_http_request_latency_ms_bucket')})))",
        "mean_latency_ms": f"sum by ({_BY_APP}) (rate({over('ray_serve_http_request_latency_ms_sum')})) / "
                           f"sum by ({_BY_APP}) (rate({over('ray_serve_http_request_latency_ms_count')}))",
        "ongoing_requests": f"sum by ({_BY_JOB}) (avg_over_time({over('ray_serve_replica_processing_queries')})) + "
                            f"sum by ({_BY_JOB}) (avg_over_time({over('ray_serve_deployment_queued_queries')}))",
        "running_replicas": f"sum by ({_BY_JOB}) (max_over_time({over('ray_serve_deployment_replica_healthy')}))",
        "processing_time_ms": f"sum by ({_BY_JOB}) (rate({over('ray_serve_deployment_processing_latency_ms_sum', processing_w)})) / "
                              f"sum by ({_BY_JOB}) (rate({over('ray_serve_deployment_processing_latency_ms_count', processing_w)}))",
    }
    if not use_recording_rules:
        return raw
    rules = {
        "request_rate": "application_deployment:ray_serve_deployment_requests:rate1m",
        "p99_latency_ms": "application:ray_serve_http_request_latency_ms:p99_1m",
        "ongoing_requests": "application_deployment:ray_serve_ongoing_requests:sum",
        "running_replicas": "application_deployment:ray_serve_deployment_replica_healthy:sum",
        "processing_time_ms": "application_deployment:ray_serve_deployment_processing_latency_ms:mean1m",
    }
    return {name: f"({selector(rules[name], namespace)}) or ({expr})" if name in rules else expr
            for name, expr in raw.items()}


class PrometheusSignals:
    """Reads :data:`SIGNALS` for a set of jobs through :class:`~farod.signals.client.PrometheusClient`."""

    def __init__(
        self,
        *,
        url: str,
        window_s: float = 30.0,
        stale_after_s: float = 60.0,
        timeout_s: float = 5.0,
        bearer_token_file: str | None = None,
        tls_verify: bool = True,
        ca_file: str | None = None,
        allow_insecure_http: bool = False,
        use_recording_rules: bool = True,
        namespace: str | None = None,
    ):
        self.client = PrometheusClient(url=url, timeout_s=timeout_s, bearer_token_file=bearer_token_file,
                                       tls_verify=tls_verify, ca_file=ca_file, allow_insecure_http=allow_insecure_http)
        self.window_s = window_s
        self.stale_after_s = stale_after_s
        self.namespace = namespace
        self._queries = queries(window_s=window_s, use_recording_rules=use_recording_rules, namespace=namespace)

    def read(self, jobs: Mapping[str, JobSpec], *, now: float) -> dict[str, JobSignals]:
        """Every signal of every job at ``now``; raises :class:`PrometheusUnavailable`."""
        ages = self._by_job(f"time() - max by ({_BY_JOB}) (timestamp({router_requests(self.namespace)}))", now=now)
        by_job = {name: self._by_job(expr, now=now) for name, expr in self._queries.items()}
        signals = {}
        for key, job in jobs.items():
            age = ages.get((job.application, job.deployment))
            stale = age is not None and age > self.stale_after_s
            readings = {}
            for name in SIGNALS:
                value = by_job[name].get((job.application, job.deployment), by_job[name].get((job.application, None)))
                readings[name] = _reading(value, stale=stale)
            signals[key] = JobSignals(readings=readings, age_s=age)
        return signals

    def arrivals(self, jobs: Mapping[str, JobSpec], *, start: float, steps: int, step_s: float = 60.0,
                 ) -> dict[str, np.ndarray]:
        """Arrivals per step of every job: element i counts the step ending at ``start + i * step_s``
        (:func:`demand`: admitted or rejected by an admission limit).

        NaN where Prometheus has no sample (a job with no series is all NaN): a gap is not zero load.
        """
        expr = f"sum by ({_BY_JOB}) (increase({demand(self.namespace)}[{int(step_s)}s]))"
        series = self.client.range_query(expr, start=start, end=start + (steps - 1) * step_s, step_s=step_s)
        by_job = {(s.labels.get("application"), s.labels.get("deployment")): s.values for s in series}
        return {key: by_job.get((job.application, job.deployment), np.full(steps, np.nan)).copy()
                for key, job in jobs.items()}

    def _by_job(self, expr: str, *, now: float) -> dict[tuple, float | None]:
        return {(labels.get("application"), labels.get("deployment")): value
                for labels, value in self.client.instant(expr, at=now)}


def _reading(value: float | None, *, stale: bool) -> Reading:
    if value is None:
        return Reading(None, "missing")
    return Reading(value, "stale" if stale else "ok")
