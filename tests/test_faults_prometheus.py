"""Real Prometheus (/usr/bin/prometheus on 127.0.0.1) scraping Ray-Serve-shaped series: readings, and
Prometheus killed mid-run -- hold everything, fail /readyz, keep /healthz, recover when it is back."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from daemon_support import JOBS, PrometheusServer, RayLikeExporter, ScriptedPolicy, http_status, wait_until
from farod.actuators.dryrun import DryRunActuator
from farod.daemon.controller import Controller
from farod.daemon.metrics import DaemonMetrics
from farod.daemon.server import start_server
from farod.signals.prometheus import PrometheusSignals, PrometheusUnavailable, queries


@pytest.fixture
def stack(tmp_path):
    exporter = RayLikeExporter(JOBS)
    prometheus = PrometheusServer(tmp_path, targets=[f"127.0.0.1:{exporter.port}"])
    prometheus.start()
    yield exporter, prometheus
    prometheus.stop()
    exporter.close()


def signals_for(prometheus) -> PrometheusSignals:
    return PrometheusSignals(url=prometheus.url, window_s=5, stale_after_s=10, timeout_s=2)


def test_readings_from_raw_series_and_nan_rejected(stack):
    _, prometheus = stack
    signals = signals_for(prometheus)
    # The first seconds of a series give rate() too few samples to be near the true rate.
    read = wait_until(lambda: (lambda r: r if 5 <= (r["a/m"].value("request_rate") or 0) <= 15 else None)(
        signals.read(JOBS, now=time.time())))
    a = read["a/m"]
    assert a.value("running_replicas") == 1 and a.value("ongoing_requests") == 1
    assert a.readings["mean_latency_ms"].status == "missing"  # 0/0 = NaN: rejected, not a value
    assert a.readings["p99_latency_ms"].status == "missing"
    assert not a.stale and a.age_s is not None and a.age_s < 10
    counts = wait_until(lambda: (lambda h: h if np.isfinite(h["a/m"]).sum() >= 2 else None)(
        signals.arrivals(JOBS, start=time.time() // 2 * 2 - 18, steps=10, step_s=2)))
    assert all(value >= 0 for value in counts["a/m"][np.isfinite(counts["a/m"])])


def test_recording_rules_fall_back_to_raw_series_per_job():
    with_rules = queries(window_s=30, use_recording_rules=True)
    assert with_rules["request_rate"].startswith("(application_deployment:ray_serve_deployment_requests:rate1m) or (")
    assert "application_deployment" not in queries(window_s=30, use_recording_rules=False)["request_rate"]


def test_an_unreachable_prometheus_raises_unavailable():
    signals = PrometheusSignals(url="http://127.0.0.1:9", timeout_s=1)
    with pytest.raises(PrometheusUnavailable, match="unreachable"):
        signals.read(JOBS, now=time.time())


def test_prometheus_killed_mid_run_holds_then_recovers(stack):
    _, prometheus = stack
    actuator = DryRunActuator()
    actuator.applied.update({"a/m": 3, "b/m": 3})
    policy = ScriptedPolicy(jobs=JOBS, wants={"a/m": 3, "b/m": 3})
    registry = CollectorRegistry()
    controller = Controller(jobs=JOBS, policy=policy, signals=signals_for(prometheus), actuator=actuator,
                            metrics=DaemonMetrics(registry=registry), quota=lambda: {"cpu": 10}, tick_s=0.1,
                            max_backoff_s=0.4, misses_before_unready=3)
    server = start_server(host="127.0.0.1", port=0, registry=registry, ready=lambda: controller.ready)
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        wait_until(lambda: controller.decide("react")["jobs"]["a/m"]["stale"] is False)
        assert http_status(f"{base}/readyz") == 200
        lowest = dict(actuator.applied)

        prometheus.stop()
        policy.wants = {"a/m": 1, "b/m": 1}  # the policy would scale down: the outage must prevent it
        wait_until(lambda: controller.decide("react") is not None and controller.misses >= 3, every_s=0.1)
        for _ in range(5):
            controller.decide("react")
            lowest = {key: min(lowest[key], value) for key, value in actuator.applied.items()}
            time.sleep(0.1)
        assert lowest == {"a/m": 3, "b/m": 3}
        assert http_status(f"{base}/readyz") == 503 and http_status(f"{base}/healthz") == 200
        assert registry.get_sample_value("farod_signal_stale",
                                         {"application": "a", "deployment": "m", "signal": "prometheus"}) == 1
        assert "farod_signal_stale" in urlread(f"{base}/metrics")

        prometheus.start()
        wait_until(lambda: (lambda record: record is not None and record.get("applied") and
                            not record["jobs"]["a/m"]["stale"])(controller.decide("react")), timeout_s=30)
        assert controller.ready and http_status(f"{base}/readyz") == 200
        assert actuator.applied == {"a/m": 1, "b/m": 1}  # decisions resume
    finally:
        server.shutdown()
        server.server_close()


def test_http_endpoints_are_read_only():
    registry = CollectorRegistry()
    server = start_server(host="127.0.0.1", port=0, registry=registry, ready=lambda: True)
    try:
        request = urllib.request.Request(f"http://127.0.0.1:{server.server_port}/metrics", data=b"x", method="POST")
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=5)
        assert caught.value.code == 405
    finally:
        server.shutdown()
        server.server_close()


def urlread(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()
