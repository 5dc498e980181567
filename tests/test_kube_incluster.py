"""The daemon wired to the Kubernetes API (farod.daemon.incluster) against the fake API server:
only the leader actuates the RayService, scaling becomes Events, ConfigMap edits reload or are refused,
and stopping releases the Lease."""

from __future__ import annotations


import pytest
import yaml
from daemon_support import FakeClock, FakeDashboard, ScriptedPolicy, StubSignals, wait_until
from fakekube import FakeKube
from kube_support import incluster_config, serve_config

from farod.actuators.base import ActuationError
from farod.daemon.incluster import InCluster, parse_config_text
from farod.errors import FarodError

CONFIG = incluster_config()
SERVE_CONFIG = serve_config()


def _events(kube, reason=None):
    events = sorted(kube.list_objects("events.k8s.io", "v1", "events", "ml"),
                    key=lambda event: int(event["metadata"]["resourceVersion"]))
    return [event for event in events if reason is None or event["reason"] == reason]


def _serve_config(kube):
    return kube.get_object("ray.io", "v1", "rayservices", "ml", "serving")["spec"]["serveConfigV2"]


def _edit(kube, text):
    kube.put_object("", "v1", "configmaps", "ml", {"metadata": {"name": "farod-config"}, "data": {"farod.yaml": text}})


@pytest.fixture
def cluster():
    with FakeKube() as kube:
        kube.put_object("ray.io", "v1", "rayservices", "ml", {"metadata": {"name": "serving"},
                                                               "spec": {"serveConfigV2": SERVE_CONFIG}})
        _edit(kube, CONFIG)
        config = parse_config_text(CONFIG)
        in_cluster = InCluster(config, config_text=CONFIG, api_client=kube.api_client(), identity="farod-0",
                               signals=StubSignals(config.jobs_by_key), clock=FakeClock())
        in_cluster.watcher.watch_timeout_s = 1
        in_cluster.daemon.controller.swap_policy(ScriptedPolicy(jobs=config.jobs_by_key, wants={"a/m": 3, "b/m": 1}))
        in_cluster.watcher.start()
        in_cluster.sender.start()
        yield kube, in_cluster
        in_cluster.release()


def test_only_the_leader_scales_and_scaling_becomes_events(cluster):
    kube, in_cluster = cluster
    controller = in_cluster.daemon.controller
    record = controller.decide("react")
    assert record["leader"] is False and "num_replicas: 1" in _serve_config(kube)
    assert _events(kube, "ScaledUp") == []
    assert in_cluster.elector.step()
    for _ in range(3):  # re-asserted every tick, reported once
        record = controller.decide("react")
    assert record["applied"] and record["targets"] == {"a/m": 3, "b/m": 1}
    assert _serve_config(kube) == SERVE_CONFIG.replace("num_replicas: 1", "num_replicas: 3", 1)
    saturated = wait_until(lambda: _events(kube, "QuotaSaturated"), timeout_s=5)
    # 3 + 1 replicas of 1 CPU fill the 4-CPU quota
    assert [e["note"] for e in _events(kube, "ScaledUp")] == ["a/m 1->3"]
    assert len(saturated) == 1 and saturated[0]["regarding"] == {"apiVersion": "ray.io/v1", "kind": "RayService",
                                                                 "namespace": "ml", "name": "serving"}


def test_configmap_edits_reload_or_are_rejected_with_a_metric(cluster):
    kube, in_cluster = cluster
    registry = in_cluster.daemon.registry
    _edit(kube, CONFIG.replace("policy: {name: aiad}", "policy: {name: fairshare}"))
    wait_until(lambda: _events(kube, "PolicyApplied"), timeout_s=5)
    policy_events = [event["reason"] for event in _events(kube) if event["reason"].startswith("Policy")]
    assert policy_events == ["PolicyApplied"]  # the text farod started with is not news
    assert in_cluster.daemon.config.policy.name == "fairshare"
    _edit(kube, CONFIG.replace("quota: {cpu: 4}", "quota: {cpu: -4}"))
    wait_until(lambda: _events(kube, "PolicyRejected"), timeout_s=5)
    assert "quota.cpu" in _events(kube, "PolicyRejected")[0]["note"]
    assert registry.get_sample_value("farod_policy_rejected") == 1
    assert in_cluster.daemon.config.policy.name == "fairshare"
    _edit(kube, CONFIG.replace("max_replicas: 8}\n  - {application: b", "max_replicas: 9}\n  - {application: b"))
    wait_until(lambda: len(_events(kube, "PolicyRejected")) == 2, timeout_s=5)
    assert "needs a restart" in _events(kube, "PolicyRejected")[1]["note"]


def test_stopping_releases_the_lease(cluster):
    kube, in_cluster = cluster
    assert in_cluster.elector.step()
    lease = kube.get_object("coordination.k8s.io", "v1", "leases", "ml", "farod")
    assert lease["spec"]["holderIdentity"] == "farod-0"
    in_cluster.stop()
    lease = kube.get_object("coordination.k8s.io", "v1", "leases", "ml", "farod")
    assert "holderIdentity" not in lease["spec"]


def test_configmap_text_errors_name_the_line():
    with pytest.raises(FarodError, match=r"^configmap:\d+: not valid YAML \(expected"):
        parse_config_text("jobs:\n  - [unclosed\n")
    assert yaml.safe_load(CONFIG)["kubernetes"]["enabled"] is True


def test_quota_from_a_resource_quota_is_read_at_every_decision():
    text = CONFIG.replace("quota: {cpu: 4}", "quota: {from_resource_quota: {name: compute}}")
    with FakeKube() as kube:
        kube.put_object("", "v1", "resourcequotas", "ml", {"metadata": {"name": "compute"},
                                                           "spec": {"hard": {"requests.cpu": "10"}}})
        config = parse_config_text(text)
        in_cluster = InCluster(config, config_text=text, api_client=kube.api_client(), identity="farod-0",
                               signals=StubSignals(config.jobs_by_key), clock=FakeClock())
        quota = in_cluster.daemon.controller.quota
        assert quota() == {"cpu": 10.0}
        pod = {"metadata": {"name": "web", "labels": {"app": "web"}}, "status": {"phase": "Running"},
               "spec": {"containers": [{"name": "web", "image": "x", "resources": {"requests": {"cpu": "2500m"}}}]}}
        kube.put_object("", "v1", "pods", "ml", pod)
        ray_pod = {**pod, "metadata": {"name": "ray-worker", "labels": {"ray.io/is-ray-node": "yes"}}}
        kube.put_object("", "v1", "pods", "ml", ray_pod)
        assert quota() == {"cpu": 7.5}


def test_a_quota_edit_is_applied_live_and_a_restart_only_edit_is_refused(cluster):
    kube, in_cluster = cluster
    controller = in_cluster.daemon.controller
    assert controller.decide("react")["quota"] == {"cpu": 4.0}
    _edit(kube, CONFIG.replace("quota: {cpu: 4}", "quota: {cpu: 6}"))
    wait_until(lambda: _events(kube, "PolicyApplied"), timeout_s=5)
    assert controller.decide("react")["quota"] == {"cpu": 6.0}  # applied means applied
    restart_only = [(CONFIG.replace('url: "http://127.0.0.1:1"', 'url: "http://127.0.0.1:2"'), "prometheus"),
                    (CONFIG.replace("quota: {cpu: 4}", "quota: {from_resource_quota: {name: compute}}"),
                     "quota.from_resource_quota"),
                    (CONFIG.replace("lease_duration_s: 15", "lease_duration_s: 16"), "kubernetes")]
    for count, (text, field) in enumerate(restart_only, start=1):
        _edit(kube, text.replace("quota: {cpu: 4}", "quota: {cpu: 5}"))
        wait_until(lambda: len(_events(kube, "PolicyRejected")) == count, timeout_s=5)
        note = sorted(_events(kube, "PolicyRejected"), key=lambda e: int(e["metadata"]["resourceVersion"]))[-1]["note"]
        assert note.startswith(f"{field}") and "needs a restart" in note
        assert controller.decide("react")["quota"] == {"cpu": 6.0}  # nothing of a refused edit applies


def test_the_ray_serve_actuator_asks_the_lease_before_each_write():
    dashboard = FakeDashboard(applications={"a": {"replicas": {"m": 1}, "external": True}})
    text = CONFIG.replace("actuator: {kind: rayservice, rayservice: {namespace: ml, name: serving}}",
                          f'actuator: {{kind: rayserve, rayserve: {{url: "{dashboard.url}"}}}}')
    try:
        with FakeKube() as kube:
            config = parse_config_text(text)
            in_cluster = InCluster(config, config_text=text, api_client=kube.api_client(), identity="farod-0",
                                   signals=StubSignals(config.jobs_by_key), clock=FakeClock())
            jobs = config.jobs_by_key
            with pytest.raises(ActuationError) as refused:  # not (yet) the leader
                in_cluster.daemon.controller.actuator.apply({"a/m": 3}, jobs)
            assert refused.value.reason == "not_leader" and dashboard.log == []
            assert in_cluster.elector.step()
            in_cluster.daemon.controller.actuator.apply({"a/m": 3}, jobs)
            assert dashboard.targets()["a/m"] == 3
    finally:
        dashboard.close()
