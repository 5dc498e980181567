"""Any Prometheus answer farod cannot use is a miss, exactly like an outage: every job held (never scaled
down), the miss counted, /readyz 503 after the same number of misses, a logged hold line, no traceback.
The answers come from a small HTTP server on 127.0.0.1; the good path runs against a real Prometheus in
test_faults_prometheus.py and test_daemon_history.py."""

from __future__ import annotations

import time

import pytest
import structlog
from prometheus_client import CollectorRegistry

from daemon_support import JOBS, FakeClock, ScriptedPolicy, http_status
from farod.actuators.dryrun import DryRunActuator
from farod.daemon.controller import Controller
from farod.daemon.metrics import DaemonMetrics
from farod.daemon.server import start_server
from farod.signals.client import PrometheusClient, PrometheusUnavailable
from farod.signals.prometheus import PrometheusSignals
from http_fakes import EMPTY_MATRIX, AnswerServer, vector

def matrix(*points) -> dict:
    """A range answer: one good sample, then ``points``."""
    return {"status": "success", "data": {"resultType": "matrix",
                                          "result": [{"metric": {}, "values": [[940, "1"], *points]}]}}


RATE = ({"application": "a", "deployment": "m"}, [1000.5, "12.5"])
MALFORMED = {
    "html": ("<html>502 Bad Gateway</html>", 200),
    "truncated": ('{"status": "success", "data": {"resultType": "vector", "result": [', 200),
    "empty body": ("", 200),
    "nested 100000 deep": ("[" * 100000 + "]" * 100000, 200),
    "a JSON list": ("[1, 2, 3]", 200),
    "error body with 200": ('{"status": "error", "errorType": "bad_data", "error": "parse error"}', 200),
    "error status with data": ('{"status": "error", "error": "x", "data": {"resultType": "vector", "result": []}}',
                               200),
    "no data": ('{"status": "success"}', 200),
    "data not an object": ('{"status": "success", "data": [1]}', 200),
    "result not a list": ('{"status": "success", "data": {"resultType": "vector", "result": {"a": 1}}}', 200),
    "result items not objects": ('{"status": "success", "data": {"resultType": "vector", "result": [1, 2]}}', 200),
    "labels not strings": (vector(({"application": 7}, [1000.5, "1"])), 200),
    "labels not a mapping": (vector(("a", [1000.5, "1"])), 200),
    "value not a pair": (vector(({"application": "a"}, "12.5")), 200),
    "value a JSON number": (vector(({"application": "a"}, [1000.5, 12.5])), 200),
    "value not a number": (vector(({"application": "a"}, [1000.5, "twelve"])), 200),
    "value null": (vector(({"application": "a"}, [1000.5, None])), 200),
    "timestamp a string": (vector(({"application": "a"}, ["1000.5", "1"])), 200),
    "timestamp NaN": ('{"status": "success", "data": {"resultType": "vector", "result": '
                      '[{"metric": {}, "value": [NaN, "1"]}]}}', 200),
    "range series without values": ('{"status": "success", "data": {"resultType": "matrix", "result": '
                                    '[{"metric": {}}]}}', 200),
    "range point not a pair": (matrix([1000, "1", "2"]), 200),
    "range value a JSON number": (matrix([1000, 1.0]), 200),
    "range value not a number": (matrix([1000, "one"]), 200),
    "range timestamp a string": (matrix(["1000", "1"]), 200),
    "range timestamp NaN": ('{"status": "success", "data": {"resultType": "matrix", "result": '
                            '[{"metric": {}, "values": [[1000, "1"], [NaN, "1"]]}]}}', 200),
    "HTTP 500 with an error": ('{"status": "error", "error": "internal"}', 500),
    "HTTP 422": ('{"status": "error", "errorType": "execution", "error": "query timed out"}', 422),
}


@pytest.fixture
def server():
    fake = AnswerServer()
    yield fake
    fake.close()


def serve(server: AnswerServer, answer) -> None:
    body, status = answer
    server.answer(body, status=status)
    server.answer(body, status=status, path="/api/v1/query_range")


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_an_unusable_answer_raises_unavailable_in_one_line(server, name):
    serve(server, MALFORMED[name])
    client = PrometheusClient(url=server.url, timeout_s=2, retries=0)
    query = (client.range_query if name.startswith("range") else client.instant)
    with pytest.raises(PrometheusUnavailable) as caught:
        if name.startswith("range"):
            query("up", start=1000.0, end=1060.0)
        else:
            query("up", at=1000.5)
    message = str(caught.value)
    assert message.startswith("Prometheus answered ") and "\n" not in message and len(message) < 400


def test_nan_and_inf_values_are_missing_readings_not_values(server):
    nan = ({"application": "b", "deployment": "m"}, [1000.5, "NaN"])
    server.answer(vector(RATE, nan, ({"application": "c", "deployment": "m"}, [1000.5, "+Inf"])))
    read = PrometheusSignals(url=server.url, timeout_s=2).read(JOBS, now=1000.5)
    assert read["a/m"].value("request_rate") == 12.5
    assert read["b/m"].readings["request_rate"].status == "missing" and read["b/m"].stale
    assert PrometheusClient(url=server.url).instant("x", at=1000.5)[2][1] is None  # +Inf


@pytest.mark.parametrize("fault", ["outage", "error body with 200", "value not a number", "html",
                                   "labels not strings"])
def test_an_unusable_answer_is_a_miss_like_an_outage(server, fault):
    server.answer(vector(RATE, ({"application": "b", "deployment": "m"}, [1000.5, "3"])))
    server.answer(EMPTY_MATRIX, path="/api/v1/query_range")  # the history: no arrivals yet
    clock = FakeClock()
    actuator = DryRunActuator()
    actuator.applied.update({"a/m": 3, "b/m": 3})
    policy = ScriptedPolicy(jobs=JOBS, wants={"a/m": 3, "b/m": 3})
    registry = CollectorRegistry()
    controller = Controller(jobs=JOBS, policy=policy, signals=PrometheusSignals(url=server.url, timeout_s=2),
                            actuator=actuator, metrics=DaemonMetrics(registry=registry), quota=lambda: {"cpu": 10},
                            clock=clock, tick_s=10, misses_before_unready=3)
    http = start_server(host="127.0.0.1", port=0, registry=registry, ready=lambda: controller.ready)
    readyz = f"http://127.0.0.1:{http.server_port}/readyz"
    try:
        assert controller.decide("react")["applied"] and http_status(readyz) == 200
        if fault == "outage":
            server.close()
        else:
            serve(server, MALFORMED[fault])
        policy.wants = {"a/m": 1, "b/m": 1}  # would scale down: an unusable answer must prevent it
        with structlog.testing.capture_logs() as logs:
            for misses in (1, 2, 3):
                clock.advance(60)  # past the backoff
                record = controller.decide("react")
                assert record["held"] and record["error"] == "prometheus_unavailable" and record["misses"] == misses
                assert "Traceback" not in record["error_message"] and "\n" not in record["error_message"]
                assert http_status(readyz) == (503 if misses == 3 else 200)
        assert actuator.applied == {"a/m": 3, "b/m": 3}
        assert [entry["misses"] for entry in logs if entry["event"] == "decision" and entry.get("held")] == [1, 2, 3]
        assert registry.get_sample_value("farod_signal_stale",
                                         {"application": "a", "deployment": "m", "signal": "prometheus"}) == 1
    finally:
        http.shutdown()
        http.server_close()


def test_a_retried_503_is_bounded_and_ignores_retry_after(server):
    server.answer('{"status": "error", "error": "overloaded"}', status=503,
                  headers={"Content-Type": "application/json", "Retry-After": "3600"})
    started = time.monotonic()
    with pytest.raises(PrometheusUnavailable, match=r"^Prometheus answered HTTP 503: overloaded$"):
        PrometheusClient(url=server.url, timeout_s=2, retries=2).instant("up", at=1000.5)
    assert len(server.seen) == 3 and time.monotonic() - started < 30  # not an hour
