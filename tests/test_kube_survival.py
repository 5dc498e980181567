"""No silent death, no frozen daemon: background threads outlive any exception, a dead one fails
/readyz, and a hung quota or Events call neither freezes decisions nor stalls a stop."""

from __future__ import annotations

import threading
import time

import pytest
from daemon_support import ScriptedPolicy, StubSignals, http_status, wait_until
from fakekube import FakeKube
from kube_support import incluster_config, put_rayservice

from farod.daemon.incluster import InCluster, parse_config_text
from farod.kube.background import Background

CONFIG = incluster_config(applications=("a",), request_timeout_s=0.3, lease=(3, 2, 0.2),
                          extra="intervals: {tick_s: 0.1, plan_s: 0.2}\nserver: {host: 127.0.0.1, port: 0}\n")


def _events(kube, reason):
    return [event for event in kube.list_objects("events.k8s.io", "v1", "events", "ml") if event["reason"] == reason]


def _serve_config(kube):
    return kube.get_object("ray.io", "v1", "rayservices", "ml", "serving")["spec"]["serveConfigV2"]


def _edit(kube, text):
    kube.put_object("", "v1", "configmaps", "ml", {"metadata": {"name": "farod-config"}, "data": {"farod.yaml": text}})


def _in_cluster(kube, text=CONFIG):
    put_rayservice(kube, ("a",))
    _edit(kube, text)
    config = parse_config_text(text)
    in_cluster = InCluster(config, config_text=text, api_client=kube.api_client(), identity="farod-0",
                           signals=StubSignals(config.jobs_by_key))
    in_cluster.watcher.watch_timeout_s = 1
    return in_cluster


@pytest.fixture
def kube():
    with FakeKube() as server:
        yield server


def test_the_policy_watch_survives_any_edit_and_any_stream_line(kube):
    in_cluster = _in_cluster(kube)
    watcher, registry = in_cluster.watcher, in_cluster.daemon.registry
    watcher.start()
    try:
        bad_edits = [CONFIG.replace("quota: {cpu: 4}", "quota: {cpu: 1" + "0" * 399 + "}"),
                     CONFIG.replace("policy: {name: aiad}", "policy: {name: aiad, params: {x: "
                                    + "[" * 1000 + "]" * 1000 + "}}")]
        for count, text in enumerate(bad_edits, start=1):
            _edit(kube, text)
            wait_until(lambda: len(_events(kube, "PolicyRejected")) == count, timeout_s=5, every_s=0.05)
            assert registry.get_sample_value("farod_policy_rejected") == 1
            assert "\n" not in watcher.last_error and in_cluster.daemon.config.policy.name == "aiad"
        for line in (b"\n", b"garbage, not an event\n", b'{"type": "MODIFIED"}\n',
                     b'{"type": "MODIFIED", "object": 7}\n'):
            kube.stream_raw("", "v1", "configmaps", "ml", line)
        _edit(kube, CONFIG.replace("policy: {name: aiad}", "policy: {name: fairshare}"))
        wait_until(lambda: in_cluster.daemon.config.policy.name == "fairshare", timeout_s=10, every_s=0.05)
        assert watcher.alive and registry.get_sample_value("farod_policy_rejected") == 0
        wait_until(lambda: len(_events(kube, "PolicyApplied")) == 1, timeout_s=5, every_s=0.05)
    finally:
        watcher.stop()


def test_a_background_run_that_raises_is_restarted():
    class Flaky(Background):
        restart_pause_s = 0.01

        def __init__(self):
            super().__init__(thread_name="flaky")
            self.rounds = 0

        def run(self):
            self.rounds += 1
            if self.rounds == 1:
                raise RuntimeError("a bug")
            self.stopping.wait()

    flaky = Flaky()
    flaky.start()
    wait_until(lambda: flaky.rounds == 2, timeout_s=5, every_s=0.01)
    assert flaky.alive
    flaky.stop_thread()
    assert not flaky.alive


def test_a_dead_background_thread_fails_readyz_and_says_which(kube):
    in_cluster = _in_cluster(kube)
    in_cluster.start()
    try:
        url = f"http://127.0.0.1:{in_cluster.daemon.port}/readyz"
        wait_until(lambda: http_status(url) == 200, timeout_s=10, every_s=0.05)
        in_cluster.watcher.stop_thread()  # the watch thread is gone
        assert http_status(url) == 503
        assert "background thread died: watch-farod-config" in in_cluster.daemon.unready_reason()
    finally:
        in_cluster.stop()


def test_a_hung_quota_call_neither_freezes_decisions_nor_stalls_the_stop(kube):
    text = CONFIG.replace("quota: {cpu: 4}", "quota: {from_resource_quota: {name: compute}}")
    kube.put_object("", "v1", "resourcequotas", "ml", {"metadata": {"name": "compute"},
                                                       "spec": {"hard": {"requests.cpu": "4"}}})
    in_cluster = _in_cluster(kube, text)
    in_cluster.start()
    url = f"http://127.0.0.1:{in_cluster.daemon.port}/readyz"
    wait_until(lambda: in_cluster.elector.is_leader and http_status(url) == 200, timeout_s=10, every_s=0.05)
    release = kube.hang(lambda method, path, body: "resourcequotas" in path)
    try:
        decisions = in_cluster.daemon.controller.decisions
        wait_until(lambda: http_status(url) == 503, timeout_s=10, every_s=0.05)
        assert in_cluster.daemon.controller.decisions > decisions  # each ended as a miss, none froze
        assert "could not read" in in_cluster.daemon.unready_reason()
        started = time.monotonic()
        in_cluster.stop()  # SIGTERM's path
        stopped_in = time.monotonic() - started
        lease = kube.get_object("coordination.k8s.io", "v1", "leases", "ml", "farod")
        assert "holderIdentity" not in lease["spec"]  # released: the standby takes over at once
        assert stopped_in < 3.0, stopped_in  # bounded by the 0.3 s request timeouts, not by the hang
    finally:
        release.set()


def test_a_hung_events_call_never_delays_a_decision(kube):
    in_cluster = _in_cluster(kube, CONFIG.replace("request_timeout_s: 0.3", "request_timeout_s: 1.5"))
    config = in_cluster.daemon.config
    in_cluster.daemon.controller.swap_policy(ScriptedPolicy(jobs=config.jobs_by_key, wants={"a/m": 3}))
    release = kube.hang(lambda method, path, body: "events" in path)
    in_cluster.sender.start()
    try:
        assert in_cluster.elector.step()
        durations = []
        for _ in range(3):  # the first scales up 1 -> 3: a ScaledUp Event, posted by the sender thread
            started = time.monotonic()
            record = in_cluster.daemon.controller.decide("react")
            durations.append(time.monotonic() - started)
        assert record["applied"] and _serve_config(kube).endswith("num_replicas: 3\n"), (record, _serve_config(kube))
        assert max(durations) < config.kubernetes.request_timeout_s, durations  # none waited for the post
        assert _events(kube, "ScaledUp") == []  # still held by the API server
        release.set()
        wait_until(lambda: _events(kube, "ScaledUp"), timeout_s=5, every_s=0.05)
    finally:
        release.set()
        in_cluster.release()


def test_with_every_api_call_hanging_a_decision_and_a_stop_still_end(kube):
    in_cluster = _in_cluster(kube)
    release = kube.hang(lambda method, path, body: True)
    try:
        in_cluster.start(serve_http=False)
        started = time.monotonic()
        record = in_cluster.daemon.controller.decide("react")  # the RayService read times out: a miss
        assert record["held"] and record["error"] == "timeout"
        assert not in_cluster.elector.is_leader
        in_cluster.stop()
        assert time.monotonic() - started < 5.0  # a few 0.3 s timeouts, not the hang
        assert not (in_cluster.watcher.alive or in_cluster.sender.alive)
    finally:
        release.set()
