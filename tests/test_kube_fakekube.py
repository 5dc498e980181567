"""The fake API server keeps the semantics the Kubernetes-facing code relies on (real client, HTTP)."""

from __future__ import annotations

import threading

import kubernetes
import pytest
from fakekube import FakeKube


@pytest.fixture
def kube():
    with FakeKube() as server:
        yield server


def test_missing_object_is_404_with_a_status_body(kube):
    core = kubernetes.client.CoreV1Api(kube.api_client())
    with pytest.raises(kubernetes.client.ApiException) as error:
        core.read_namespaced_config_map("absent", "default")
    assert error.value.status == 404
    assert '"kind": "Status"' in error.value.body and '"reason": "NotFound"' in error.value.body


def test_every_write_bumps_resource_version_and_stale_put_conflicts(kube):
    core = kubernetes.client.CoreV1Api(kube.api_client())
    created = core.create_namespaced_config_map("default", {"metadata": {"name": "c"}, "data": {"k": "1"}})
    created.data["k"] = "2"
    updated = core.replace_namespaced_config_map("c", "default", created)
    assert int(updated.metadata.resource_version) > int(created.metadata.resource_version)
    with pytest.raises(kubernetes.client.ApiException) as error:
        core.replace_namespaced_config_map("c", "default", created)  # still carries the old version
    assert error.value.status == 409
    with pytest.raises(kubernetes.client.ApiException) as error:
        core.create_namespaced_config_map("default", {"metadata": {"name": "c"}})
    assert error.value.status == 409 and "AlreadyExists" in error.value.body


def test_merge_patch_and_json_patch(kube):
    custom = kubernetes.client.CustomObjectsApi(kube.api_client())
    body = {"apiVersion": "ray.io/v1", "kind": "RayService", "metadata": {"name": "rs"},
            "spec": {"serveConfigV2": "a: 1\n", "keep": {"x": 1, "y": 2}}}
    custom.create_namespaced_custom_object("ray.io", "v1", "default", "rayservices", body)
    merged = custom.patch_namespaced_custom_object("ray.io", "v1", "default", "rayservices", "rs",
                                                   {"spec": {"keep": {"y": None, "z": 3}}})
    assert merged["spec"]["keep"] == {"x": 1, "z": 3}
    patched = custom.patch_namespaced_custom_object(
        "ray.io", "v1", "default", "rayservices", "rs",
        [{"op": "test", "path": "/spec/serveConfigV2", "value": "a: 1\n"},
         {"op": "replace", "path": "/spec/serveConfigV2", "value": "a: 2\n"}])
    assert patched["spec"]["serveConfigV2"] == "a: 2\n"
    assert patched["metadata"]["generation"] == 3
    with pytest.raises(kubernetes.client.ApiException) as error:
        custom.patch_namespaced_custom_object("ray.io", "v1", "default", "rayservices", "rs",
                                              [{"op": "test", "path": "/spec/serveConfigV2", "value": "a: 1\n"}])
    assert error.value.status == 422


def test_watch_streams_changes_for_one_name(kube):
    core = kubernetes.client.CoreV1Api(kube.api_client())
    core.create_namespaced_config_map("default", {"metadata": {"name": "other"}, "data": {}})
    core.create_namespaced_config_map("default", {"metadata": {"name": "watched"}, "data": {"v": "1"}})
    timer = threading.Timer(0.2, core.patch_namespaced_config_map, ("watched", "default", {"data": {"v": "2"}}))
    timer.start()
    seen = []
    watch = kubernetes.watch.Watch()
    for event in watch.stream(core.list_namespaced_config_map, "default",
                              field_selector="metadata.name=watched", timeout_seconds=5):
        seen.append((event["type"], event["object"].metadata.name, event["object"].data["v"]))
        if len(seen) == 2:
            watch.stop()
    timer.join()
    assert seen == [("ADDED", "watched", "1"), ("MODIFIED", "watched", "2")]
