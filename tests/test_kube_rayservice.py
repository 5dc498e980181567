"""The KubeRay actuator: serveConfigV2 rewritten byte for byte, optimistic concurrency, clear refusals."""

from __future__ import annotations

import difflib
import json
import pathlib

import jsonschema
import pytest
import yaml
from fakekube import FakeKube

from farod.actuators.base import ActuationError, DeploymentState
from farod.actuators.rayservice import RayServiceActuator, rewrite_num_replicas
from farod.jobs import JobSpec

SCHEMA = json.loads((pathlib.Path(__file__).parent / "schemas" / "rayservice.schema.json").read_text())

SERVE_CONFIG = """\
# Serve config kept in Git: comments, order and quoting must survive farod.
proxy_location: EveryNode
http_options:
  host: 0.0.0.0
applications:
  - name: serve-cluster0   # first model
    route_prefix: /c0
    import_path: "models.classifier:app"
    runtime_env: {pip: ["torch==2.3.0"]}
    deployments:
      - name: classifier  # pinned by hand before farod
        num_replicas:   2
        ray_actor_options:
          num_cpus: 1
  - name: serve-cluster1
    route_prefix: /c1
    import_path: 'models.classifier:app'
    deployments:
      - {name: classifier, max_ongoing_requests: 1}
      - name: tokenizer
        autoscaling_config: {min_replicas: 1, max_replicas: 4}
"""

JOBS = {
    "serve-cluster0/classifier": JobSpec(application="serve-cluster0", deployment="classifier", slo_ms=720),
    "serve-cluster1/classifier": JobSpec(application="serve-cluster1", deployment="classifier", slo_ms=720),
}
TOKENIZER = JobSpec(application="serve-cluster1", deployment="tokenizer", slo_ms=720)


def _rayservice(text=SERVE_CONFIG):
    return {"apiVersion": "ray.io/v1", "kind": "RayService", "metadata": {"name": "serving"},
            "spec": {"serveConfigV2": text, "rayClusterConfig": {"rayVersion": "2.60.0"}},
            "status": {"activeServiceStatus": {"applicationStatuses": {"serve-cluster0": {
                "serveDeploymentStatuses": {"classifier": {"status": "HEALTHY"}}}}}}}


@pytest.fixture
def kube():
    with FakeKube() as server:
        server.put_object("ray.io", "v1", "rayservices", "ml", _rayservice())
        yield server


@pytest.fixture
def actuator(kube):
    return RayServiceActuator(api_client=kube.api_client(), namespace="ml", name="serving")


def _stored(kube) -> dict:
    return kube.get_object("ray.io", "v1", "rayservices", "ml", "serving")


def _changed_lines(before: str, after: str) -> list[str]:
    diff = difflib.ndiff(before.splitlines(keepends=True), after.splitlines(keepends=True))
    return [line for line in diff if line[:2] in ("- ", "+ ")]


def test_read_reports_targets_and_autoscaling(actuator):
    states = actuator.read({**JOBS, "serve-cluster1/tokenizer": TOKENIZER,
                            "absent/x": JobSpec(application="absent", deployment="x", slo_ms=1)})
    assert states == {
        "serve-cluster0/classifier": DeploymentState(target_replicas=2, running_replicas=2),
        "serve-cluster1/classifier": DeploymentState(target_replicas=1, running_replicas=1),
        "serve-cluster1/tokenizer": DeploymentState(target_replicas=1, running_replicas=1, autoscaling=True),
    }


def test_apply_rewrites_only_num_replicas(kube, actuator):
    actuator.apply({"serve-cluster0/classifier": 5, "serve-cluster1/classifier": 3}, JOBS)
    stored = _stored(kube)
    text = stored["spec"]["serveConfigV2"]
    assert _changed_lines(SERVE_CONFIG, text) == [
        "-         num_replicas:   2\n",
        "+         num_replicas:   5\n",
        "-       - {name: classifier, max_ongoing_requests: 1}\n",
        "+       - {name: classifier, num_replicas: 3, max_ongoing_requests: 1}\n",
    ]
    assert stored["spec"]["rayClusterConfig"] == {"rayVersion": "2.60.0"}
    jsonschema.validate(stored, SCHEMA)
    jsonschema.validate(yaml.safe_load(text), {"$defs": SCHEMA["$defs"], "$ref": "#/$defs/ServeConfig"})
    assert {key: state.target_replicas for key, state in actuator.read(JOBS).items()} == {
        "serve-cluster0/classifier": 5, "serve-cluster1/classifier": 3}


def test_block_mapping_without_num_replicas_gets_one_line_after_name():
    text = "applications:\n- name: a\n  deployments:\n  - name: m   # model\n    user_config: {k: 1}\n"
    assert rewrite_num_replicas(text, {("a", "m"): 4}) == (
        "applications:\n- name: a\n  deployments:\n  - name: m   # model\n    num_replicas: 4\n"
        "    user_config: {k: 1}\n")


def test_reasserting_the_same_targets_writes_nothing(kube, actuator):
    version = _stored(kube)["metadata"]["resourceVersion"]
    actuator.apply({"serve-cluster0/classifier": 2}, JOBS)
    assert _stored(kube)["metadata"]["resourceVersion"] == version
    assert [request[0] for request in kube.requests] == ["GET"]


def test_conflict_is_retried_on_the_new_text(kube, actuator):
    """Another writer edits the RayService between our read and our write: 409, re-read, re-apply."""
    writes = {"done": False}

    def concurrent_writer(method, path, body):
        if method == "PATCH" and not writes["done"]:
            writes["done"] = True
            obj = _stored(kube)
            text = obj["spec"]["serveConfigV2"]
            obj["spec"]["serveConfigV2"] = text.replace("route_prefix: /c1", "route_prefix: /v2")
            kube.put_object("ray.io", "v1", "rayservices", "ml", obj)

    kube.before(concurrent_writer)
    actuator.apply({"serve-cluster0/classifier": 6}, JOBS)
    text = _stored(kube)["spec"]["serveConfigV2"]
    assert "route_prefix: /v2" in text and "num_replicas:   6" in text  # both edits survive
    assert [request.method for request in kube.requests] == ["GET", "PATCH", "GET", "PATCH"]


def test_endless_conflicts_give_up_with_reason_conflict(kube):
    def always_newer(method, path, body):
        if method == "PATCH":
            kube.put_object("ray.io", "v1", "rayservices", "ml", _stored(kube))

    kube.before(always_newer)
    actuator = RayServiceActuator(api_client=kube.api_client(), namespace="ml", name="serving",
                                  max_conflict_retries=2)
    with pytest.raises(ActuationError) as error:
        actuator.apply({"serve-cluster0/classifier": 6}, JOBS)
    assert error.value.reason == "conflict"
    assert "num_replicas:   2" in _stored(kube)["spec"]["serveConfigV2"]


@pytest.mark.parametrize("targets, jobs, reason, message", [
    ({"t": 2}, {"t": TOKENIZER}, "autoscaling_conflict", "has its own autoscaling_config"),
    ({"x": 2}, {"x": JobSpec(application="serve-cluster0", deployment="nope", slo_ms=1)}, "not_found",
     "lists no deployment 'nope'"),
])
def test_refusals_change_nothing(kube, actuator, targets, jobs, reason, message):
    before = _stored(kube)
    with pytest.raises(ActuationError, match=message) as error:
        actuator.apply({**targets, "serve-cluster0/classifier": 9}, {**jobs, **JOBS})
    assert error.value.reason == reason
    assert _stored(kube) == before


def test_missing_rayservice_is_not_found(kube):
    actuator = RayServiceActuator(api_client=kube.api_client(), namespace="ml", name="other")
    with pytest.raises(ActuationError) as error:
        actuator.read(JOBS)
    assert error.value.reason == "not_found" and "rayservice ml/other: 404" in str(error.value)
