"""Scaling Events (aggregated) and the quota read from a namespace ResourceQuota."""

from __future__ import annotations

import pytest
from daemon_support import FakeClock
from fakekube import FakeKube
from fakekube.server import ApiError

from farod.errors import FarodError
from farod.kube.events import EventRecorder, ScalingEvents, rayservice_ref
from farod.kube.quota import read_resource_quota


@pytest.fixture
def kube():
    with FakeKube() as server:
        yield server


def _events(kube):
    return kube.list_objects("events.k8s.io", "v1", "events", "ml")


def test_scaling_events_speak_once_per_change_not_per_tick(kube):
    clock = FakeClock(1_700_000_000.0)
    recorder = EventRecorder(api_client=kube.api_client(), namespace="ml", instance="farod-0", clock=clock)
    scaling = ScalingEvents(recorder=recorder, regarding=rayservice_ref("ml", "serving"))
    scaling.observe(before={"a/m": 2, "b/m": 3}, after={"a/m": 4, "b/m": 1}, quota_used={"cpu": 1.0})
    for _ in range(5):  # re-asserting the same targets every tick is not news
        clock.now += 10
        scaling.observe(before={"a/m": 4, "b/m": 1}, after={"a/m": 4, "b/m": 1}, quota_used={"cpu": 1.0})
    events = sorted(_events(kube), key=lambda event: event["reason"])
    assert [(e["reason"], e["type"], e["note"]) for e in events] == [
        ("QuotaSaturated", "Warning", "quota fully allocated: cpu; jobs grow only by shrinking others"),
        ("ScaledDown", "Normal", "b/m 3->1"),
        ("ScaledUp", "Normal", "a/m 2->4"),
    ]
    assert {e["regarding"]["kind"] for e in events} == {"RayService"}
    assert {e["reportingController"] for e in events} == {"farod.io/farod"}
    # the quota frees up, then fills again: a new QuotaSaturated, folded into the first one's series
    scaling.observe(before={"a/m": 4}, after={"a/m": 3}, quota_used={"cpu": 0.8})
    scaling.observe(before={"a/m": 3}, after={"a/m": 4}, quota_used={"cpu": 1.0})
    saturated = [e for e in _events(kube) if e["reason"] == "QuotaSaturated"]
    assert len(saturated) == 1 and saturated[0]["series"]["count"] == 2


def test_repeats_outside_the_series_window_are_new_events(kube):
    clock = FakeClock(1_700_000_000.0)
    recorder = EventRecorder(api_client=kube.api_client(), namespace="ml", instance="farod-0", clock=clock,
                             series_window_s=60)
    ref = rayservice_ref("ml", "serving")
    for _ in range(3):
        assert recorder.post(regarding=ref, reason="ScaledUp", note="a/m 1->2", action="Scale")
    clock.now += 61
    assert recorder.post(regarding=ref, reason="ScaledUp", note="a/m 1->2", action="Scale")
    counts = sorted((e.get("series") or {}).get("count", 1) for e in _events(kube))
    assert counts == [1, 3]


def test_events_live_in_the_namespace_of_what_they_regard(kube):
    recorder = EventRecorder(api_client=kube.api_client(), namespace="farod-system", instance="farod-0")
    for _ in range(2):
        assert recorder.post(regarding=rayservice_ref("ml", "serving"), reason="ScaledUp", note="a/m 1->2",
                             action="Scale")
    assert kube.list_objects("events.k8s.io", "v1", "events", "farod-system") == []
    assert [e["series"]["count"] for e in _events(kube)] == [2]


def test_event_api_errors_are_logged_not_raised(kube):
    def refuse_events(method, path, body):
        if "/events" in path:
            raise ApiError(500, "InternalError", "etcd timeout")

    recorder = EventRecorder(api_client=kube.api_client(), namespace="ml", instance="farod-0")
    kube.before(refuse_events)
    assert not recorder.post(regarding=rayservice_ref("ml", "serving"), reason="ScaledUp", note="x", action="Scale")
    kube.hooks.clear()
    assert recorder.post(regarding=rayservice_ref("ml", "serving"), reason="ScaledUp", note="x", action="Scale")
    assert len(_events(kube)) == 1


def _pod(name, labels, cpu, memory="1Gi", gpu=None, phase="Running", init_cpu=None):
    resources = {"requests": {"cpu": cpu, "memory": memory, **({"nvidia.com/gpu": gpu} if gpu else {})}}
    spec = {"containers": [{"name": "main", "image": "x", "resources": resources}]}
    if init_cpu:
        spec["initContainers"] = [{"name": "init", "image": "x", "resources": {"requests": {"cpu": init_cpu}}}]
    return {"metadata": {"name": name, "labels": labels}, "spec": spec, "status": {"phase": phase}}


def test_quota_is_hard_limit_minus_unmanaged_requests(kube):
    kube.put_object("", "v1", "resourcequotas", "ml", {
        "metadata": {"name": "compute-quota"},
        "spec": {"hard": {"requests.cpu": "32", "requests.memory": "64Gi", "requests.nvidia.com/gpu": "4",
                          "pods": "100"}},
    })
    managed = {"ray.io/is-ray-node": "yes", "ray.io/cluster": "serving-x7k2p"}
    pods = [
        _pod("ray-worker-1", managed, "4", gpu="1"),                    # farod's: not subtracted
        _pod("web", {"app": "web"}, "1500m", memory="2Gi"),            # 1.5 CPU, 2 GiB
        _pod("batch", {"app": "batch"}, "500m", gpu="2", init_cpu="3"),  # init container dominates: 3 CPU
        _pod("done", {"app": "job"}, "8", phase="Succeeded"),          # finished: not counted
    ]
    for pod in pods:
        kube.put_object("", "v1", "pods", "ml", pod)
    quota = read_resource_quota(api_client=kube.api_client(), namespace="ml", name="compute-quota",
                                managed_selector="ray.io/is-ray-node=yes")
    gib = 1024 ** 3
    assert quota == {"cpu": 32 - 1.5 - 3, "memory": 64 * gib - 2 * gib - 1 * gib, "gpu": 2.0}


def test_quota_never_goes_negative_and_missing_quota_is_one_line(kube):
    kube.put_object("", "v1", "resourcequotas", "ml", {"metadata": {"name": "q"}, "spec": {"hard": {"cpu": "1"}}})
    kube.put_object("", "v1", "pods", "ml", _pod("big", {}, "4"))
    assert read_resource_quota(api_client=kube.api_client(), namespace="ml", name="q",
                               managed_selector="ray.io/is-ray-node=yes") == {"cpu": 0.0}
    with pytest.raises(FarodError, match=r"^quota.from_resource_quota: ml/absent: 404"):
        read_resource_quota(api_client=kube.api_client(), namespace="ml", name="absent", managed_selector="x=y")


def test_unreachable_api_server_is_a_one_line_quota_error(kube):
    api_client = kube.api_client()
    api_client.configuration.host = "http://127.0.0.1:9"
    api_client.configuration.retries = 0
    with pytest.raises(FarodError, match=r"^quota.from_resource_quota: ml/q: API server unreachable"):
        read_resource_quota(api_client=api_client, namespace="ml", name="q", managed_selector="x=y")
