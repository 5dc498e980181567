"""The Ray Serve actuator against an imitation of the dashboard's REST API: both scaling paths, what a
PUT preserves, and faults -- 500s, timeouts, a deployment deleted under farod. Nothing may scale down."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from daemon_support import FakeClock, FakeDashboard, ScriptedPolicy, StubSignals
from farod.actuators.base import ActuationError
from farod.actuators.rayserve import RayServeActuator
from farod.daemon.controller import Controller
from farod.daemon.metrics import DaemonMetrics
from farod.jobs import JobSpec

JOBS = {f"{app}/m": JobSpec(application=app, deployment="m", slo_ms=500, service_time_ms=100)
        for app in ("ext1", "ext2", "decl")}


@pytest.fixture
def dashboard():
    server = FakeDashboard(applications={"ext1": {"replicas": {"m": 2}, "external": True},
                                         "ext2": {"replicas": {"m": 2}, "external": True},
                                         "decl": {"replicas": {"m": 2, "other": 1}},
                                         "bystander": {"replicas": {"x": 3}}}, hang_s=2.0)
    yield server
    server.close()


def actuator_for(dashboard, **kwargs):
    return RayServeActuator(url=dashboard.url, timeout_s=0.5, **kwargs)


def test_reads_targets_and_running_replicas(dashboard):
    state = actuator_for(dashboard).read(JOBS)
    assert {key: s.target_replicas for key, s in state.items()} == {"ext1/m": 2, "ext2/m": 2, "decl/m": 2}
    assert state["decl/m"].running_replicas == 2 and not state["decl/m"].autoscaling


def test_external_apps_use_the_scale_api_and_the_put_preserves_everything_else(dashboard):
    before = dashboard.details["applications"]["decl"]["deployed_app_config"]
    actuator_for(dashboard).apply({"ext1/m": 1, "ext2/m": 3, "decl/m": 4}, JOBS)
    assert dashboard.targets() == {"ext1/m": 1, "ext2/m": 3, "decl/m": 4, "decl/other": 1, "bystander/x": 3}
    methods = [(method, path.split("/")[4] if method == "POST" else "") for method, path, _ in dashboard.log]
    assert methods == [("POST", "ext1"), ("PUT", ""), ("POST", "ext2")]  # downscale first, upscale last
    put = next(body for method, _, body in dashboard.log if method == "PUT")
    assert put["http_options"] == {"host": "127.0.0.1", "port": 8000} and put["proxy_location"] == "EveryNode"
    decl = next(app for app in put["applications"] if app["name"] == "decl")
    expected = {**before, "deployments": [{"name": "m", "num_replicas": 4, "user_config": {"x": 1}},
                                          {"name": "other", "num_replicas": 1, "user_config": {"x": 1}}]}
    assert decl == expected  # only num_replicas of the farod job changed
    assert {app["name"] for app in put["applications"]} == {"ext1", "ext2", "decl", "bystander"}


def test_reasserting_unchanged_targets_sends_nothing(dashboard):
    actuator_for(dashboard).apply({"ext1/m": 2, "ext2/m": 2, "decl/m": 2}, JOBS)
    assert dashboard.log == []


@pytest.mark.parametrize("mode, reason", [("500", "http_5xx"), ("hang", "timeout")])
def test_dashboard_faults_raise_with_a_reason_and_change_nothing(dashboard, mode, reason):
    dashboard.fail["PUT"] = mode
    with pytest.raises(ActuationError) as caught:
        actuator_for(dashboard).apply({"ext1/m": 3, "decl/m": 4}, JOBS)
    assert caught.value.reason == reason
    dashboard.fail.clear()
    # ext1 was scaled up only after the PUT, which failed: nothing changed at all.
    assert dashboard.targets()["ext1/m"] == 2 and dashboard.targets()["decl/m"] == 2


def test_a_failing_second_scale_call_rolls_back_the_first(dashboard):
    dashboard.fail["POST"] = "500"
    dashboard.fail_on_call["POST"] = 2
    with pytest.raises(ActuationError):
        actuator_for(dashboard).apply({"ext1/m": 1, "ext2/m": 1}, JOBS)
    assert dashboard.targets()["ext1/m"] == 2 and dashboard.targets()["ext2/m"] == 2  # no partial decision


def test_autoscaling_deployments_are_refused_unless_taken_over(dashboard):
    dashboard.add_application("auto", replicas={"m": 2}, autoscaling=True)
    jobs = {**JOBS, "auto/m": JobSpec(application="auto", deployment="m", slo_ms=500)}
    with pytest.raises(ActuationError, match="autoscaling_config") as caught:
        actuator_for(dashboard).apply({"auto/m": 3, "ext1/m": 1}, jobs)
    assert caught.value.reason == "autoscaling_conflict" and dashboard.log == []
    actuator_for(dashboard, take_over_autoscaling=True).apply({"auto/m": 3}, jobs)
    put = dashboard.log[-1][2]
    auto = next(app for app in put["applications"] if app["name"] == "auto")
    assert auto["deployments"][0]["num_replicas"] == 3 and "autoscaling_config" not in auto["deployments"][0]


def test_an_imperative_application_blocks_a_put_instead_of_being_deleted(dashboard):
    dashboard.add_application("handmade", replicas={"y": 1}, declarative=False)
    with pytest.raises(ActuationError) as caught:
        actuator_for(dashboard).apply({"decl/m": 3}, JOBS)
    assert caught.value.reason == "imperative_app" and dashboard.log == []



def test_every_write_asks_for_leadership_right_before_it_is_sent(dashboard):
    asked = []
    leading = iter([True])  # the leader for the first write only: the Lease is lost while it is in flight
    actuator = actuator_for(dashboard, may_write=lambda within_s: asked.append(within_s) or next(leading, False))
    with pytest.raises(ActuationError, match="PUT /api/serve/applications/: no longer the leader") as caught:
        actuator.apply({"ext1/m": 1, "ext2/m": 3, "decl/m": 4}, JOBS)
    assert caught.value.reason == "not_leader"
    # the downscale went out; the PUT, the upscale and the rollback of the downscale (a write too) did not
    assert [method for method, _, _ in dashboard.log] == ["POST"] and asked == [0.5, 0.5, 0.5]
    assert dashboard.targets()["ext1/m"] == 1 and dashboard.targets()["decl/m"] == 2


def build_controller(dashboard, wants):
    registry = CollectorRegistry()
    clock = FakeClock()
    controller = Controller(jobs=JOBS, policy=ScriptedPolicy(jobs=JOBS, wants=wants), signals=StubSignals(JOBS),
                            actuator=actuator_for(dashboard), metrics=DaemonMetrics(registry=registry),
                            quota=lambda: {"cpu": 20}, clock=clock)
    return controller, registry, clock


def test_daemon_survives_dashboard_500s_and_timeouts_and_retries(dashboard):
    controller, registry, clock = build_controller(dashboard, {"ext1/m": 1, "ext2/m": 4, "decl/m": 1})
    for mode in ("500", "hang"):
        dashboard.fail["GET"] = mode
        record = controller.decide("react")
        assert record["applied"] is False and record["held"] is True
        clock.advance(60)  # past the retry backoff
    assert registry.get_sample_value("farod_actuation_errors_total", {"reason": "http_5xx"}) == 1
    assert registry.get_sample_value("farod_actuation_errors_total", {"reason": "timeout"}) == 1
    assert dashboard.targets()["decl/m"] == 2 and dashboard.targets()["ext1/m"] == 2  # nothing scaled down
    dashboard.fail.clear()
    assert controller.decide("react")["applied"] is True
    assert dashboard.targets()["ext2/m"] == 4 and dashboard.targets()["decl/m"] == 1


def test_a_deployment_deleted_under_farod_is_held_and_the_rest_goes_on(dashboard):
    controller, registry, _ = build_controller(dashboard, {"ext1/m": 2, "ext2/m": 3, "decl/m": 2})
    controller.decide("plan")
    del dashboard.details["applications"]["ext1"]
    record = controller.decide("react")
    assert record["applied"] is True and "ext1/m" not in record["targets"]
    assert record["jobs"]["ext1/m"]["present"] is False
    assert registry.get_sample_value("farod_signal_stale",
                                     {"application": "ext1", "deployment": "m", "signal": "deployment"}) == 1
    assert dashboard.targets() == {"ext2/m": 3, "decl/m": 2, "decl/other": 1, "bystander/x": 3}
    assert not any("ext1" in path for _, path, _ in dashboard.log[-2:])  # not re-created
