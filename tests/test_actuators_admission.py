"""Admission limits through every actuator: max_queued_requests written next to num_replicas, lifted
back to the deployment's own setting, and nothing written without a decision or a leader."""

from __future__ import annotations

import dataclasses

import pytest
import yaml
from daemon_support import FakeDashboard
from fakekube import FakeKube
from test_kube_rayservice import JOBS as SERVICE_JOBS
from test_kube_rayservice import SERVE_CONFIG, _changed_lines, _rayservice, _stored

from farod.actuators.base import ActuationError
from farod.actuators.dryrun import DryRunActuator
from farod.actuators.rayserve import RayServeActuator
from farod.actuators.rayservice import RayServiceActuator, rewrite_num_replicas
from farod.jobs import JobSpec

C0, C1 = "serve-cluster0/classifier", "serve-cluster1/classifier"


@pytest.fixture
def kube():
    with FakeKube() as server:
        server.put_object("ray.io", "v1", "rayservices", "ml", _rayservice())
        yield server


def test_rayservice_writes_the_limit_in_the_same_patch_and_a_lift_restores_the_text_byte_for_byte(kube):
    actuator = RayServiceActuator(api_client=kube.api_client(), namespace="ml", name="serving")
    actuator.apply({C0: 3, C1: 1}, SERVICE_JOBS, {C0: 7, C1: 2})
    limited = _stored(kube)["spec"]["serveConfigV2"]
    assert _changed_lines(SERVE_CONFIG, limited) == [
        "+         max_queued_requests: 7\n",
        "-         num_replicas:   2\n",
        "+         num_replicas:   3\n",
        "-       - {name: classifier, max_ongoing_requests: 1}\n",
        "+       - {name: classifier, max_queued_requests: 2, num_replicas: 1, max_ongoing_requests: 1}\n",
    ]
    patches = [request for request in kube.requests if request[0] == "PATCH"]
    assert len(patches) == 1
    actuator.apply({C0: 2, C1: 1}, SERVICE_JOBS, {C0: None, C1: 2})  # C0's limit lifted, C1's kept
    lifted = _stored(kube)["spec"]["serveConfigV2"]
    assert lifted.replace("max_queued_requests: 2, num_replicas: 1, ", "") == SERVE_CONFIG
    assert yaml.safe_load(lifted)["applications"][1]["deployments"][0]["max_queued_requests"] == 2


def test_rayservice_lifts_to_the_jobs_own_setting_and_reasserting_writes_nothing(kube):
    own = {key: dataclasses.replace(job, max_queued_requests=100) for key, job in SERVICE_JOBS.items()}
    actuator = RayServiceActuator(api_client=kube.api_client(), namespace="ml", name="serving")
    actuator.apply({C0: 2}, own, {C0: 5})
    actuator.apply({C0: 2}, own, {C0: None})
    text = _stored(kube)["spec"]["serveConfigV2"]
    assert _changed_lines(SERVE_CONFIG, text) == ["+         max_queued_requests: 100\n"]
    writes = len(kube.requests)
    actuator.apply({C0: 2}, own, {C0: None})
    actuator.apply({C0: 2}, own)  # no limit decision: the setting is left alone
    assert [request[0] for request in kube.requests[writes:]] == ["GET", "GET"]


def test_a_limit_that_is_not_alone_on_its_line_is_lifted_to_serves_no_limit():
    text = "applications:\n- name: a\n  deployments:\n  - {name: m, max_queued_requests: 3}\n"
    assert rewrite_num_replicas(text, {("a", "m"): 2}, {("a", "m"): None}) == (
        "applications:\n- name: a\n  deployments:\n  - {name: m, num_replicas: 2, max_queued_requests: -1}\n")


def test_rayservice_checks_leadership_before_a_limit_only_change(kube):
    actuator = RayServiceActuator(api_client=kube.api_client(), namespace="ml", name="serving",
                                  may_write=lambda within_s: False)
    with pytest.raises(ActuationError) as caught:
        actuator.apply({C0: 2}, SERVICE_JOBS, {C0: 4})
    assert caught.value.reason == "not_leader"
    assert _stored(kube)["spec"]["serveConfigV2"] == SERVE_CONFIG


DASH_JOBS = {f"{app}/m": JobSpec(application=app, deployment="m", slo_ms=500, service_time_ms=100)
             for app in ("ext", "decl")}


@pytest.fixture
def dashboard():
    server = FakeDashboard(applications={"ext": {"replicas": {"m": 2}, "external": True},
                                         "decl": {"replicas": {"m": 2, "other": 1}}})
    yield server
    server.close()


def deployment_entry(put: dict, app: str, name: str = "m") -> dict:
    config = next(config for config in put["applications"] if config["name"] == app)
    return next(entry for entry in config["deployments"] if entry["name"] == name)


def test_rayserve_puts_the_limit_into_the_application_config_and_a_lift_removes_it(dashboard):
    actuator = RayServeActuator(url=dashboard.url, timeout_s=2)
    before = {app: dashboard.details["applications"][app]["deployed_app_config"] for app in ("ext", "decl")}
    # ext's limit goes through the PUT too (the scale API has no limit), with its target as num_replicas.
    actuator.apply({"ext/m": 3, "decl/m": 2}, DASH_JOBS, {"ext/m": 6, "decl/m": 4})
    assert [method for method, _, _ in dashboard.log] == ["PUT"]
    put = dashboard.log[0][2]
    assert deployment_entry(put, "ext") == {"name": "m", "num_replicas": 3, "user_config": {"x": 1},
                                            "max_queued_requests": 6}
    assert deployment_entry(put, "decl") == {"name": "m", "num_replicas": 2, "user_config": {"x": 1},
                                             "max_queued_requests": 4}
    assert deployment_entry(put, "decl", "other") == {"name": "other", "num_replicas": 1, "user_config": {"x": 1}}
    assert dashboard.targets()["ext/m"] == 3
    # Re-asserting writes nothing; lifting both gives back the configs as they were deployed.
    actuator.apply({"ext/m": 3, "decl/m": 2}, DASH_JOBS, {"ext/m": 6, "decl/m": 4})
    assert len(dashboard.log) == 1
    actuator.apply({"ext/m": 3, "decl/m": 2}, DASH_JOBS, {"ext/m": None, "decl/m": None})
    lifted = dashboard.log[-1][2]
    assert deployment_entry(lifted, "decl") == deployment_entry({"applications": [before["decl"]]}, "decl")
    assert deployment_entry(lifted, "ext") == {"name": "m", "num_replicas": 3, "user_config": {"x": 1}}
    assert len(dashboard.log) == 2


def test_rayserve_limits_ask_for_leadership_right_before_the_put(dashboard):
    asked = []
    actuator = RayServeActuator(url=dashboard.url, timeout_s=2, may_write=lambda within_s: asked.append(within_s))
    with pytest.raises(ActuationError) as caught:
        actuator.apply({"decl/m": 2}, DASH_JOBS, {"decl/m": 4})
    assert caught.value.reason == "not_leader" and asked == [2] and dashboard.log == []


def test_dry_run_records_the_limits_it_would_write():
    actuator = DryRunActuator()
    own = {"a/m": JobSpec(application="a", deployment="m", slo_ms=720, max_queued_requests=50),
           "b/m": JobSpec(application="b", deployment="m", slo_ms=720)}
    actuator.apply({"a/m": 2, "b/m": 1}, own, {"a/m": 3, "b/m": 9})
    actuator.apply({"a/m": 2, "b/m": 1}, own, {"a/m": None})
    assert actuator.queue_limits == {"a/m": 50, "b/m": 9}
