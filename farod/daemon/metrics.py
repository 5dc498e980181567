"""What farod exports on ``/metrics``: the names of docs/metrics.md, on a registry of its own.

Example::

    >>> registry = CollectorRegistry()
    >>> metrics = DaemonMetrics(registry=registry)
    >>> metrics.target_replicas.labels(application="a", deployment="m").set(3)
    >>> registry.get_sample_value("farod_target_replicas", {"application": "a", "deployment": "m"})
    3.0

A registry of its own (not prometheus_client's global one) keeps the page to farod's series -- no
process or GC collectors from whatever else is imported -- and lets tests build as many daemons as
they like. Units are base units (seconds, requests per second, ratios). One extra gauge serves the
recording rules: ``farod_slo_seconds{application,deployment,le}``, the job's SLO with ``le`` set to
the largest Ray latency bucket boundary at or below it, which ``rules/farod.rules.yaml`` joins with
Ray's latency histogram to compute SLO attainment.

Only the leader exports the per-job series and the cluster-wide ones (targets, forecasts, latency,
utility, admission limits, staleness, SLOs, quota use, policy info): they live on a registry of their
own that the page shows while ``leading()`` is true, checked at every scrape (as is ``farod_leader``).
A standby keeps deciding (warm forecasters) but shows only its own health -- ``farod_leader``,
decision durations, actuation errors -- so with two replicas every job still has exactly one series
and a dashboard one line.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

JOB = ("application", "deployment")
# farod_actuation_errors_total's reasons, exported at 0 from the start so rate() and alerts see them.
ACTUATION_ERROR_REASONS = ("timeout", "unreachable", "http_5xx", "rejected", "unauthorized", "not_found",
                           "autoscaling_conflict", "imperative_app", "quota", "conflict", "not_leader")
# Ray Serve's default request latency buckets (ray.serve._private.constants.DEFAULT_LATENCY_BUCKET_MS).
RAY_LATENCY_BUCKETS_MS = (1, 2, 5, 10, 20, 50, 100, 200, 300, 400, 500, 1000, 2000, 5000, 10000, 60000, 120000,
                          300000, 600000)


class _WhileLeading:
    """A collector that shows ``registry`` only while ``leading()``."""

    def __init__(self, registry: CollectorRegistry, leading: Callable[[], bool]):
        self.registry, self.leading = registry, leading

    def collect(self):
        return self.registry.collect() if self.leading() else iter(())


class DaemonMetrics:
    def __init__(self, *, registry: CollectorRegistry, leading: Callable[[], bool] | None = None):
        """``leading``: whether this instance leads now; None exports everything (no leader election)."""
        self.registry = registry
        leader_only = CollectorRegistry()
        registry.register(_WhileLeading(leader_only, leading or (lambda: True)))
        self.target_replicas = Gauge("farod_target_replicas", "Replicas farod asks the cluster for",
                                     JOB, registry=leader_only)
        self.forecast_rps = Gauge("farod_forecast_requests_per_second", "Forecast arrival rate, next step",
                                  (*JOB, "quantile"), registry=leader_only)
        self.predicted_latency = Gauge("farod_predicted_latency_seconds",
                                       "Latency the model predicts at the target replicas (worst forecast step)",
                                       JOB, registry=leader_only)
        self.utility = Gauge("farod_utility", "Utility the last plan expects for the job", JOB, registry=leader_only)
        self.quota_used = Gauge("farod_quota_used_ratio", "Fraction of the quota the targets use", ("resource",),
                                registry=leader_only)
        self.decision_duration = Histogram("farod_decision_duration_seconds",
                                           "Wall time of one decision: read, decide, actuate",
                                           buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
                                           registry=registry)
        self.actuation_errors = Counter("farod_actuation_errors", "Decisions the actuator could not apply",
                                        ("reason",), registry=registry)
        for reason in ACTUATION_ERROR_REASONS:
            self.actuation_errors.labels(reason=reason)
        self.signal_stale = Gauge("farod_signal_stale", "1 while a signal of the job is stale or missing",
                                  (*JOB, "signal"), registry=leader_only)
        self.policy_info = Gauge("farod_policy_info", "The policy in charge (value 1)", ("policy",),
                                 registry=leader_only)
        self.leader = Gauge("farod_leader", "1 while this instance may actuate", registry=registry)
        if leading is not None:
            self.leader.set_function(lambda: 1.0 if leading() else 0.0)  # live at every scrape
        self.admission_limit = Gauge("farod_admission_limit_requests",
                                     "Admission limit (max_queued_requests) farod holds in force; absent: none",
                                     JOB, registry=leader_only)
        self.slo = Gauge("farod_slo_seconds", "The job's latency SLO; le: Ray bucket boundary at or below it",
                         (*JOB, "le"), registry=leader_only)

    def set_policy(self, name: str) -> None:
        self.policy_info.clear()
        self.policy_info.labels(policy=name).set(1)

    def set_slo(self, *, application: str, deployment: str, slo_ms: float) -> None:
        boundary = max((b for b in RAY_LATENCY_BUCKETS_MS if b <= slo_ms), default=RAY_LATENCY_BUCKETS_MS[0])
        self.slo.labels(application=application, deployment=deployment, le=f"{float(boundary)}").set(slo_ms / 1000)
