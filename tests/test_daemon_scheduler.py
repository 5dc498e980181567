"""apscheduler wiring: decisions never overlap, stop waits for the running one, SIGTERM exits cleanly."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time

import yaml

from daemon_support import JOBS, StubSignals, free_port, http_status, wait_until
from farod.actuators.dryrun import DryRunActuator
from farod.daemon.config import parse_config
from farod.daemon.runner import Daemon


def config(policy="aiad", **intervals):
    return parse_config({
        "jobs": [{"application": job.application, "deployment": job.deployment, "slo_ms": job.slo_ms,
                  "service_time_ms": job.service_time_ms} for job in JOBS.values()],
        "quota": {"cpu": 8}, "policy": {"name": policy}, "actuator": {"kind": "dry-run"},
        "intervals": intervals or {"tick_s": 0.05, "plan_s": 0.1},
        "server": {"host": "127.0.0.1", "port": 0}})


def test_slow_decisions_never_overlap_and_stop_waits_for_the_running_one():
    daemon = Daemon(config("faro-fairsum"), actuator=DryRunActuator(), signals=StubSignals(JOBS))
    assert daemon.controller.policy.plan_interval_s is not None
    running, peak, kinds, finished = [0], [0], [], []
    lock = threading.Lock()
    real_decide = daemon.controller.decide

    def slow_decide(kind):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.2)  # four ticks' worth: the scheduler must wait, not pile up
        real_decide(kind)
        kinds.append(kind)
        with lock:
            running[0] -= 1
        finished.append(True)

    daemon.controller.decide = slow_decide
    for job in daemon.scheduler.get_jobs():  # the jobs were bound before the swap; re-bind them
        job.modify(func=slow_decide)
    daemon.start(serve_http=False)
    for job in daemon.scheduler.get_jobs():
        job.modify(func=slow_decide)
    wait_until(lambda: {"plan", "react"} <= set(kinds), timeout_s=20)
    daemon.stop()
    assert peak[0] == 1
    assert running[0] == 0  # stop() returned only after the decision in progress finished
    assert not daemon.scheduler.running  # shut down, so nothing runs after stop


def test_a_reactive_policy_gets_no_plan_job_and_reload_swaps_the_policy():
    daemon = Daemon(config("aiad", tick_s=10, plan_s=300), actuator=DryRunActuator(), signals=StubSignals(JOBS))
    daemon.start(serve_http=False)
    try:
        assert [job.id for job in daemon.scheduler.get_jobs()] == ["react"]
        daemon.reload(config("faro-fairsum", tick_s=10, plan_s=300))
        assert sorted(job.id for job in daemon.scheduler.get_jobs()) == ["plan", "react"]
        assert daemon.controller.policy.name == "aiad"  # until the next decision
        daemon.controller.decide("react")
        assert daemon.controller.policy.name == "faro-fairsum"
    finally:
        daemon.stop()


def test_farod_run_serves_health_and_exits_cleanly_on_sigterm(tmp_path):
    port = free_port()
    path = tmp_path / "farod.yaml"
    path.write_text(yaml.safe_dump({
        "prometheus": {"url": "http://127.0.0.1:9", "timeout_s": 1},  # nothing listens: hold everything
        "jobs": [{"application": "a", "deployment": "m", "slo_ms": 500, "service_time_ms": 100}],
        "quota": {"cpu": 4}, "policy": {"name": "aiad"},
        "actuator": {"kind": "dry-run", "rayserve": {"url": "http://127.0.0.1:9", "timeout_s": 1}},
        "intervals": {"tick_s": 0.5, "plan_s": 1}, "server": {"host": "127.0.0.1", "port": port}}))
    process = subprocess.Popen([sys.executable, "-m", "farod", "run", "--config", str(path)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: http_status(f"http://127.0.0.1:{port}/healthz") == 200, timeout_s=60)
        wait_until(lambda: http_status(f"http://127.0.0.1:{port}/readyz") == 503, timeout_s=30)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[-1]["event"] == "stopped"
    held = [line for line in lines if line["event"] == "decision"]
    assert held and all(line["applied"] is False for line in held)
    assert all(line["error"] in ("unreachable", "prometheus_unavailable") for line in held)
