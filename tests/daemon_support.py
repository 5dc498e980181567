"""Shared pieces of the daemon and fault tests: a fake clock, a scripted policy, signal sources, and
the real servers the fault tests run against (Prometheus from /usr/bin, an imitation of the Ray
dashboard's REST API, an exporter of Ray-Serve-shaped metrics), all on 127.0.0.1."""

from __future__ import annotations

import copy
import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import yaml
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from farod.jobs import JobSpec
from farod.policies.base import Decision, Observation, Policy
from farod.signals.prometheus import SIGNALS, JobSignals, PrometheusUnavailable, Reading

JOBS = {key: JobSpec(application=key.split("/")[0], deployment="m", slo_ms=500, service_time_ms=100, max_replicas=8)
        for key in ("a/m", "b/m")}


class FakeClock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class ScriptedPolicy(Policy):
    """Asks for ``wants`` at every plan and react; records what it observed."""

    name = "scripted"
    plan_interval_s = 300.0

    def __init__(self, *, jobs, wants: dict[str, int], name: str = "scripted"):
        super().__init__(jobs=jobs)
        self.wants = dict(wants)
        self.name = name
        self.seen: list[Observation] = []

    def plan(self, observation: Observation) -> Decision:
        self.seen.append(observation)
        return Decision(replicas=dict(self.wants), kind="plan", reason="scripted")

    def react(self, observation: Observation) -> Decision:
        self.seen.append(observation)
        return Decision(replicas=dict(self.wants), kind="react", reason="scripted")


class StubSignals:
    """Signals as the test sets them; ``down=True`` behaves like an unreachable Prometheus."""

    def __init__(self, jobs):
        self.jobs = jobs
        self.down = False
        self.status = {key: "ok" for key in jobs}

    def read(self, jobs, *, now):
        if self.down:
            raise PrometheusUnavailable("Prometheus at http://127.0.0.1:1 unreachable: refused")
        return {key: JobSignals(readings={name: Reading(None if self.status[key] == "missing" else 5.0,
                                                        self.status[key]) for name in SIGNALS}, age_s=1.0)
                for key in jobs}

    def arrivals(self, jobs, *, start, steps, step_s=60.0):
        if self.down:
            raise PrometheusUnavailable("down")
        return {key: np.full(steps, 300.0) for key in jobs}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition, *, timeout_s: float = 30.0, every_s: float = 0.2):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception:  # noqa: BLE001 - not there yet
            pass
        time.sleep(every_s)
    raise AssertionError(f"condition not met within {timeout_s} s")


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


# -- an imitation of the Ray dashboard's Serve REST API (Ray 2.60 shapes) ---------------------------

class FakeDashboard:
    """GET/PUT /api/serve/applications/ and POST .../scale, with injectable faults.

    ``fail`` maps a method ("GET", "PUT", "POST") to ``"500"`` or ``"hang"``; ``fail_on_call`` makes only
    the n-th request of that method fail. ``log`` records every mutating request.
    """

    def __init__(self, *, applications: dict[str, dict], hang_s: float = 3.0):
        self.details = {"proxy_location": "EveryNode", "http_options": {"host": "127.0.0.1", "port": 8000},
                        "grpc_options": {"port": 9000}, "target_capacity": None, "applications": {}}
        for name, spec in applications.items():
            self.add_application(name, **spec)
        self.fail: dict[str, str] = {}
        self.fail_on_call: dict[str, int] = {}
        self.calls: dict[str, int] = {}
        self.log: list[tuple[str, str, dict | None]] = []
        self.hang_s = hang_s
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def add_application(self, name: str, *, replicas: dict[str, int], external: bool = False,
                        autoscaling: bool = False, declarative: bool = True) -> None:
        deployments = {}
        for deployment, count in replicas.items():
            config = {"name": deployment, "num_replicas": count, "max_ongoing_requests": 1,
                      "ray_actor_options": {"num_cpus": 1.0}}
            if autoscaling:
                config["autoscaling_config"] = {"min_replicas": 1, "max_replicas": 4}
            deployments[deployment] = {"name": deployment, "status": "HEALTHY", "deployment_config": config,
                                       "target_num_replicas": count,
                                       "replicas": [{"state": "RUNNING"} for _ in range(count)]}
        app_config = {"name": name, "route_prefix": f"/{name}", "import_path": "pkg.mod:app", "args": {"k": 1},
                      "deployments": [{"name": d, "num_replicas": n, "user_config": {"x": 1}}
                                      for d, n in replicas.items()], "external_scaler_enabled": external}
        self.details["applications"][name] = {
            "name": name, "status": "RUNNING", "external_scaler_enabled": external, "deployments": deployments,
            "deployed_app_config": app_config if declarative else None, "source": "declarative"}

    def targets(self) -> dict[str, int]:
        return {f"{app}/{dep}": d["target_num_replicas"]
                for app, a in self.details["applications"].items() for dep, d in a["deployments"].items()}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _set(self, app: str, dep: str, replicas: int) -> None:
        deployment = self.details["applications"][app]["deployments"][dep]
        deployment["target_num_replicas"] = replicas
        deployment["deployment_config"]["num_replicas"] = replicas
        deployment["replicas"] = [{"state": "RUNNING"} for _ in range(replicas)]

    def _handler(self):
        dashboard = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _fault(self, method: str) -> bool:
                with dashboard._lock:
                    dashboard.calls[method] = dashboard.calls.get(method, 0) + 1
                    mode = dashboard.fail.get(method)
                    only = dashboard.fail_on_call.get(method)
                    if mode is None or (only is not None and dashboard.calls[method] != only):
                        return False
                if mode == "hang":
                    time.sleep(dashboard.hang_s)
                self._reply(500, {"error": "Internal Server Error"})
                return True

            def _reply(self, status: int, body) -> None:
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (timeout test)

            def _body(self):
                length = int(self.headers.get("Content-Length") or 0)
                return json.loads(self.rfile.read(length) or b"null")

            def do_GET(self):  # noqa: N802
                if self._fault("GET"):
                    return
                with dashboard._lock:
                    self._reply(200, copy.deepcopy(dashboard.details))

            def do_PUT(self):  # noqa: N802
                body = self._body()
                if self._fault("PUT"):
                    return
                with dashboard._lock:
                    dashboard.log.append(("PUT", self.path, body))
                    for app in body["applications"]:
                        # An unchanged app config leaves its replicas alone, also those set through the
                        # scale API (as Ray 2.60 does; the e2e scenario mixes both paths).
                        if app == dashboard.details["applications"][app["name"]]["deployed_app_config"]:
                            continue
                        for deployment in app.get("deployments", []):
                            dashboard._set(app["name"], deployment["name"], deployment["num_replicas"])
                        dashboard.details["applications"][app["name"]]["deployed_app_config"] = app
                self._reply(200, {})

            def do_POST(self):  # noqa: N802
                body = self._body()
                if self._fault("POST"):
                    return
                parts = self.path.strip("/").split("/")  # api v1 applications APP deployments DEP scale
                app, dep = parts[3], parts[5]
                with dashboard._lock:
                    dashboard.log.append(("POST", self.path, body))
                    application = dashboard.details["applications"].get(app)
                    if application is None or dep not in application["deployments"]:
                        return self._reply(404, {"error": "Application or Deployment not found"})
                    dashboard._set(app, dep, body["target_num_replicas"])
                self._reply(200, {"message": "Scaling request received."})

        return Handler


# -- real Prometheus, scraping an exporter of Ray-Serve-shaped series ---------------------------------

class RayLikeExporter:
    """Ray Serve metric names and labels (as Ray 2.60 exports them) for jobs, served on 127.0.0.1."""

    def __init__(self, jobs):
        self.registry = CollectorRegistry()
        labels = ("application", "deployment", "replica")
        self.router = Counter("ray_serve_num_router_requests", "", ("application", "deployment", "handle"),
                              registry=self.registry)
        self.healthy = Gauge("ray_serve_deployment_replica_healthy", "", labels, registry=self.registry)
        self.processing = Gauge("ray_serve_replica_processing_queries", "", labels, registry=self.registry)
        self.queued = Gauge("ray_serve_deployment_queued_queries", "", ("application", "deployment", "handle"),
                            registry=self.registry)
        # Never observed: its rates are 0/0, which Prometheus answers with NaN.
        self.latency = Histogram("ray_serve_http_request_latency_ms", "", ("application", "route"),
                                 buckets=(100, 500, 1000), registry=self.registry)
        for job in jobs.values():
            self.latency.labels(job.application, f"/{job.application}")
            self.healthy.labels(job.application, job.deployment, "r1").set(1)
            self.processing.labels(job.application, job.deployment, "r1").set(1)
            self.queued.labels(job.application, job.deployment, "h").set(0)
        self.jobs = jobs
        self.port = free_port()
        self.server, self.thread = start_http_server(self.port, addr="127.0.0.1", registry=self.registry)
        self._stop = threading.Event()
        threading.Thread(target=self._count, daemon=True).start()

    def _count(self):
        """10 requests/s per job, by elapsed time (a busy machine delays the loop, not the rate)."""
        last = time.monotonic()
        while not self._stop.wait(0.1):
            now = time.monotonic()
            for job in self.jobs.values():
                self.router.labels(job.application, job.deployment, "h").inc(10 * (now - last))
            last = now

    def close(self):
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()


class PrometheusServer:
    """/usr/bin/prometheus on 127.0.0.1 (a free port), scraping ``targets`` every second."""

    def __init__(self, workdir: Path, *, targets: list[str], rules: Path | None = None):
        self.workdir = workdir
        self.port = free_port()
        config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                  "scrape_configs": [{"job_name": "ray", "static_configs": [{"targets": targets}]}]}
        if rules is not None:
            config["rule_files"] = [str(rules)]
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = None

    def start(self) -> None:
        binary = shutil.which("prometheus") or "/usr/bin/prometheus"
        self.process = subprocess.Popen(
            [binary, f"--config.file={self.workdir / 'prometheus.yml'}", f"--storage.tsdb.path={self.workdir / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=subprocess.DEVNULL, stderr=open(self.workdir / "prometheus.log", "a"))
        wait_until(lambda: http_status(f"{self.url}/-/ready") == 200, timeout_s=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    @classmethod
    def holding(cls, workdir: Path, openmetrics: str) -> "PrometheusServer":
        """A started server (no scrape targets) whose TSDB holds ``openmetrics``, written with promtool."""
        (workdir / "history.om").write_text(openmetrics)
        subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", "--quiet",
                        str(workdir / "history.om"), str(workdir / "tsdb")], check=True, capture_output=True)
        server = cls(workdir, targets=[])
        server.start()
        return server
