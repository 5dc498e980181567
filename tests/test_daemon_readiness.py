"""/readyz fails, saying why, on a stalled decision or a broken check; the HTTP thread survives both."""

from __future__ import annotations

import threading
import urllib.request

from prometheus_client import CollectorRegistry

from daemon_support import JOBS, StubSignals, http_status, wait_until
from farod.actuators.dryrun import DryRunActuator
from farod.daemon.runner import Daemon
from farod.daemon.server import start_server
from test_daemon_scheduler import config


def _body(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.read().decode()


def test_a_decision_that_never_returns_fails_readyz():
    daemon = Daemon(config(tick_s=0.05, plan_s=0.1), actuator=DryRunActuator(), signals=StubSignals(JOBS),
                    stall_after_s=0.3, stop_grace_s=0.5)
    hung, entered = threading.Event(), threading.Event()

    def hanging_decide(kind):
        entered.set()
        hung.wait(30)  # a call without a timeout

    daemon.controller.decide = hanging_decide
    daemon.start()
    url = f"http://127.0.0.1:{daemon.port}/readyz"
    try:
        assert entered.wait(10)
        wait_until(lambda: http_status(url) == 503, timeout_s=10, every_s=0.05)
        assert "a decision has been running for more than 0.3 s" in _body(url)
        daemon.stop()  # returns after its grace, the decision still hung
        assert hung.is_set() is False
    finally:
        hung.set()


def test_a_readiness_check_that_raises_is_a_503_and_the_server_keeps_serving():
    def broken():
        raise RuntimeError("bug in a check")

    server = start_server(host="127.0.0.1", port=0, registry=CollectorRegistry(), ready=broken)
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        assert http_status(f"{base}/readyz") == 503
        assert "readiness check failed: RuntimeError('bug in a check')" in _body(f"{base}/readyz")
        assert http_status(f"{base}/healthz") == 200
    finally:
        server.shutdown()
        server.server_close()
