"""The daemon's and `farod trace export`'s Prometheus queries with `prometheus.namespace`, against a real
Prometheus holding equal application/deployment names in two namespaces.

An hour of history written with promtool: in namespace ``team-a`` the job a/m serves 60 requests a
minute on 2 replicas, in ``team-b`` the same names serve 600 a minute on 5 replicas; as behind
kube-prometheus-stack, farod's request-rate recording rule also has a series per namespace (1.5 and
12 req/s: values the raw counter cannot give, so a reading shows which query answered).
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from daemon_support import PrometheusServer
from farod.jobs import JobSpec
from farod.signals.prometheus import PrometheusSignals, queries
from farod.traces.export import export_minutes

T0 = (math.floor(time.time() / 3600) - 3) * 3600  # three hours ago, on the hour: inside the retention
MINUTES = 60
NOW = T0 + 45 * 60
JOBS = {"a/m": JobSpec(application="a", deployment="m", slo_ms=500)}
PER_MINUTE = {"team-a": 60, "team-b": 600}
REPLICAS = {"team-a": 2, "team-b": 5}
RULE_RATE = {"team-a": 1.5, "team-b": 12.0}
RATE_RULE = "application_deployment:ray_serve_deployment_requests:rate1m"


def history() -> str:
    lines = ["# TYPE ray_serve_num_router_requests counter"]
    steps = range(0, MINUTES * 60, 15)
    for namespace, per_minute in PER_MINUTE.items():
        labels = f'namespace="{namespace}",application="a",deployment="m"'
        lines += [f"ray_serve_num_router_requests_total{{{labels}}} {per_minute * s / 60:g} {T0 + s}" for s in steps]
    lines.append("# TYPE ray_serve_deployment_replica_healthy gauge")
    for namespace, replicas in REPLICAS.items():
        for replica in range(replicas):
            labels = f'namespace="{namespace}",application="a",deployment="m",replica="r{replica}"'
            lines += [f"ray_serve_deployment_replica_healthy{{{labels}}} 1 {T0 + s}" for s in steps]
    lines.append(f"# TYPE {RATE_RULE} gauge")
    for namespace, rate in RULE_RATE.items():
        labels = f'namespace="{namespace}",application="a",deployment="m"'
        lines += [f"{RATE_RULE}{{{labels}}} {rate:g} {T0 + s}" for s in steps]
    return "\n".join([*lines, "# EOF", ""])


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    server = PrometheusServer.holding(tmp_path_factory.mktemp("namespaces"), history())
    yield server
    server.stop()


@pytest.mark.parametrize("namespace", ["team-a", "team-b"])
def test_readings_come_from_the_configured_namespace_only(prometheus, namespace):
    signals = PrometheusSignals(url=prometheus.url, namespace=namespace).read(JOBS, now=NOW)["a/m"]
    assert not signals.stale
    assert signals.value("request_rate") == pytest.approx(RULE_RATE[namespace])  # the rule's series alone
    assert signals.value("running_replicas") == REPLICAS[namespace]
    raw = PrometheusSignals(url=prometheus.url, namespace=namespace, use_recording_rules=False).read(JOBS, now=NOW)
    assert raw["a/m"].value("request_rate") == pytest.approx(PER_MINUTE[namespace] / 60)


def test_rule_or_raw_gives_one_series_per_job_and_namespace(prometheus):
    """The raw query keeps the namespace label as the recording rules do, so `rule or raw` does not
    return both (the reading would then depend on the order of the answer)."""
    client = PrometheusSignals(url=prometheus.url).client
    expr = queries(window_s=30, use_recording_rules=True)["request_rate"]
    found = sorted((labels["namespace"], value) for labels, value in client.instant(expr, at=NOW))
    assert found == [("team-a", pytest.approx(1.5)), ("team-b", pytest.approx(12.0))]
    one = queries(window_s=30, use_recording_rules=True, namespace="team-b")["request_rate"]
    assert [labels["namespace"] for labels, _ in client.instant(one, at=NOW)] == ["team-b"]


@pytest.mark.parametrize("namespace", ["team-a", "team-b"])
def test_arrivals_and_trace_export_read_the_configured_namespace(prometheus, namespace):
    signals = PrometheusSignals(url=prometheus.url, namespace=namespace)
    arrivals = signals.arrivals(JOBS, start=T0 + 10 * 60, steps=30)["a/m"]
    assert np.allclose(arrivals, PER_MINUTE[namespace])
    export = export_minutes(signals.client, list(JOBS.values()), start=T0 + 10 * 60, minutes=30, namespace=namespace)
    assert not export.gaps.any()
    assert (export.counts == PER_MINUTE[namespace]).all()
    assert (export.measures["replicas"] == REPLICAS[namespace]).all()
