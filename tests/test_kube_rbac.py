"""The chart's Role against the calls the daemon really makes, and the restart checksum.

The fake API server enforces the Role that ``helm template`` renders (403 for anything it does not
grant, resourceNames included) while a daemon built from the chart's own rendered config runs leader
election, the policy watch, the ResourceQuota quota, Events and the RayService actuator: every call
it makes is recorded, and none may be refused.
"""

from __future__ import annotations

import kubernetes
import pytest
from daemon_support import ScriptedPolicy, StubSignals, wait_until
from fakekube import FakeKube, Role
from helm_support import by_kind, render

from farod.daemon.incluster import InCluster, parse_config_text

SETS = ["actuator.rayservice.name=serving", "quota.fromResourceQuota.name=compute", "policy.name=aiad",
        "policy.params=null",
        "leaderElection.leaseDurationSeconds=4", "leaderElection.renewDeadlineSeconds=2",
        "leaderElection.retryPeriodSeconds=1", "prometheus.url=http://127.0.0.1:1"]
SERVE_CONFIG = "applications:\n- name: serve-cluster0\n  deployments:\n  - name: classifier\n    num_replicas: 1\n"
# Every kind of call the daemon makes in the run below: (verb, resource).
EXPECTED_CALLS = {("get", "rayservices"), ("patch", "rayservices"), ("watch", "configmaps"),
                  ("create", "leases"), ("get", "leases"), ("update", "leases"), ("create", "events"),
                  ("patch", "events"), ("get", "resourcequotas"), ("list", "pods")}


def _rules(docs) -> dict[tuple, list[str]]:
    return {(group, resource, tuple(rule.get("resourceNames", ()))): rule["verbs"]
            for rule in by_kind(docs)["Role"][0]["rules"]
            for group in rule["apiGroups"] for resource in rule["resources"]}


def test_the_role_names_the_objects_the_code_names():
    common = {("", "configmaps", ("farod",)): ["get", "list", "watch"],
              ("coordination.k8s.io", "leases", ("farod",)): ["get", "update"],
              ("coordination.k8s.io", "leases", ()): ["create"],
              ("events.k8s.io", "events", ()): ["create", "patch"]}
    assert _rules(render()) == {("ray.io", "rayservices", ("my-rayservice",)): ["get", "patch"], **common}
    assert _rules(render(sets=SETS)) == {("ray.io", "rayservices", ("serving",)): ["get", "patch"], **common,
                                         ("", "resourcequotas", ("compute",)): ["get"], ("", "pods", ()): ["list"]}
    assert _rules(render(sets=["actuator.kind=dry-run", "leaderElection.enabled=false", "replicaCount=1"])) == {
        ("", "configmaps", ("farod",)): ["get", "list", "watch"], ("events.k8s.io", "events", ()): ["create", "patch"]}


def _checksum(*sets: str) -> str:
    deployment = by_kind(render(sets=list(sets)))["Deployment"][0]
    return deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"]


def test_helm_upgrade_restarts_the_pod_only_for_restart_only_changes():
    default = _checksum()
    for live in ("policy.name=aiad", "quota.resources.cpu=9", "intervals.tickSeconds=20", "safety.maxReplicasAdded=2"):
        assert _checksum(live) == default, live  # applied by the ConfigMap watch, no restart
    for restart in ("prometheus.url=http://other:9090", "quota.fromResourceQuota.name=compute",
                    "leaderElection.leaseDurationSeconds=20", "prometheus.timeoutSeconds=9", "service.port=9000",
                    "actuator.rayservice.name=x"):
        assert _checksum(restart) != default, restart
    assert by_kind(render(sets=["podAnnotations.team=ml"]))["Deployment"][0]["spec"]["template"]["metadata"][
        "annotations"]["team"] == "ml"


@pytest.fixture
def enforcing():
    docs = render(sets=SETS)
    with FakeKube(role=Role(by_kind(docs)["Role"][0]["rules"])) as kube:
        configmap = next(doc for doc in by_kind(docs)["ConfigMap"] if "farod.yaml" in doc.get("data", {}))
        yield kube, configmap


def test_the_fake_api_server_enforces_the_role(enforcing):
    kube, _ = enforcing
    core = kubernetes.client.CoreV1Api(kube.api_client())
    with pytest.raises(kubernetes.client.ApiException) as refused:
        core.list_namespaced_config_map("ml")  # every ConfigMap: not granted, only farod's own
    assert refused.value.status == 403
    with pytest.raises(kubernetes.client.ApiException) as refused:
        kubernetes.client.CustomObjectsApi(kube.api_client()).get_namespaced_custom_object(
            "ray.io", "v1", "ml", "rayservices", "someone-elses")
    assert refused.value.status == 403
    assert [(r.verb, r.resource, r.name) for r in kube.denied] == [("list", "configmaps", None),
                                                                  ("get", "rayservices", "someone-elses")]


def test_every_call_of_a_full_daemon_run_is_granted_by_the_rendered_role(enforcing):
    kube, configmap = enforcing
    text = configmap["data"]["farod.yaml"]
    kube.put_object("", "v1", "configmaps", "ml", {"metadata": {"name": configmap["metadata"]["name"]},
                                                   "data": configmap["data"]})
    kube.put_object("ray.io", "v1", "rayservices", "ml", {"metadata": {"name": "serving"},
                                                           "spec": {"serveConfigV2": SERVE_CONFIG}})
    kube.put_object("", "v1", "resourcequotas", "ml", {"metadata": {"name": "compute"},
                                                       "spec": {"hard": {"requests.cpu": "8"}}})
    config = parse_config_text(text)
    in_cluster = InCluster(config, config_text=text, api_client=kube.api_client(), identity="farod-0",
                           signals=StubSignals(config.jobs_by_key))
    in_cluster.watcher.watch_timeout_s = 1
    in_cluster.start(serve_http=False)
    try:
        wait_until(lambda: in_cluster.elector.is_leader, timeout_s=10, every_s=0.05)
        in_cluster.daemon.controller.swap_policy(ScriptedPolicy(jobs=config.jobs_by_key,
                                                                wants={"serve-cluster0/classifier": 3}))
        assert in_cluster.daemon.controller.decide("react")["applied"]
        bad = text.replace('name: "aiad"', 'name: "no-such-policy"')
        for edit, rejected in ((bad, True), (text, False), (bad, True)):  # the second rejection: a series patch
            kube.put_object("", "v1", "configmaps", "ml", {"metadata": {"name": configmap["metadata"]["name"]},
                                                           "data": {"farod.yaml": edit}})
            wait_until(lambda: in_cluster.watcher.rejected == rejected, timeout_s=5, every_s=0.05)
        wait_until(lambda: {("patch", "events"), ("create", "events")} <= {(r.verb, r.resource) for r in kube.requests},
                   timeout_s=5, every_s=0.05)
    finally:
        in_cluster.stop()  # releases the Lease (get + update)
    assert kube.denied == []
    made = {(request.verb, request.resource) for request in kube.requests}
    assert made == EXPECTED_CALLS, made ^ EXPECTED_CALLS
