"""KubeRay: scale Serve deployments by rewriting ``num_replicas`` inside a RayService's serveConfigV2.

Example::

    actuator = RayServiceActuator(api_client=connect(), namespace="ml", name="serving")
    actuator.read(jobs)["serve-cluster0/classifier"]
    # -> DeploymentState(target_replicas=2, running_replicas=2, autoscaling=False)
    actuator.apply({"serve-cluster0/classifier": 4}, jobs)
    rewrite_num_replicas("applications:\\n- name: a\\n  deployments:\\n  - name: m\\n    num_replicas: 2\\n",
                         {("a", "m"): 4})
    # -> 'applications:\\n- name: a\\n  deployments:\\n  - name: m\\n    num_replicas: 4\\n'

``spec.serveConfigV2`` is a YAML *string* that people write by hand and keep in Git: comments,
key order, quoting and indentation matter to them, and GitOps tools diff it byte for byte. Loading
and re-dumping it would rewrite all of that. So :func:`rewrite_num_replicas` composes the YAML only
to learn *where* each ``num_replicas`` value sits (node marks) and splices the new numbers into the
original text; a deployment without the key gets one line after its ``name``. The result is loaded
again and compared with the intended config, so a splice that went wrong is never written.
Admission limits (``max_queued_requests``, a deployment option of the Serve config) are spliced the
same way in the same patch; a lifted limit writes back the job's own ``max_queued_requests``, or
removes the key's line (where it is not alone on its line, ``-1``, Serve's "no limit", is written).

All targets go out in one merge patch of ``spec.serveConfigV2`` that carries the
``metadata.resourceVersion`` it was computed from (so RBAC needs only ``patch``, and no other field is
sent back): KubeRay, a GitOps controller or a person may edit the RayService at the same time, and
the API server answers 409 to a patch whose resourceVersion is stale. Then the actuator reads again
and redoes the rewrite on the new text, up to ``max_conflict_retries`` times (after a short jittered
pause). Right before each patch it asks ``may_write(timeout_s)`` -- with leader election, whether
this process still leads for the whole time the patch may take -- and writes nothing otherwise. Re-asserting unchanged targets writes nothing. A deployment with its
own ``autoscaling_config`` (or ``num_replicas: auto``) would fight farod and is refused.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping

import kubernetes
import urllib3
import yaml

from farod.actuators.base import (Actuator, ActuationError, DeploymentState, WriteGate, always_write, check_may_write,
                                  wanted_queue_limits)
from farod.jobs import JobSpec

GROUP, VERSION, PLURAL = "ray.io", "v1", "rayservices"


def _mapping_get(node: yaml.MappingNode, key: str):
    """(key node, value node) of ``key`` in a composed mapping, or (None, None)."""
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            return key_node, value_node
    return None, None


def _named_items(sequence, name: str):
    if not isinstance(sequence, yaml.SequenceNode):
        return None
    for item in sequence.value:
        if isinstance(item, yaml.MappingNode):
            _, name_node = _mapping_get(item, "name")
            if isinstance(name_node, yaml.ScalarNode) and name_node.value == name:
                return item
    return None


def _deployment_node(root, application: str, deployment: str) -> yaml.MappingNode:
    if not isinstance(root, yaml.MappingNode):
        raise ActuationError("serveConfigV2: not a YAML mapping", reason="rejected")
    app = _named_items(_mapping_get(root, "applications")[1], application)
    if app is None:
        raise ActuationError(f"serveConfigV2: no application {application!r}", reason="not_found")
    found = _named_items(_mapping_get(app, "deployments")[1], deployment)
    if found is None:
        raise ActuationError(
            f"serveConfigV2: application {application!r} lists no deployment {deployment!r} "
            "(add it under deployments: so farod can set its num_replicas)",
            reason="not_found",
        )
    return found


def _compose(text: str):
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise ActuationError(f"serveConfigV2: not valid YAML: {str(exc).splitlines()[0]}", reason="rejected") from None


def _autoscaling(node: yaml.MappingNode) -> bool:
    _, replicas = _mapping_get(node, "num_replicas")
    has_config = _mapping_get(node, "autoscaling_config")[1] is not None
    return has_config or (isinstance(replicas, yaml.ScalarNode) and replicas.value == "auto")


def read_num_replicas(text: str, application: str, deployment: str) -> tuple[int, bool]:
    """(num_replicas, has its own autoscaling) of one deployment; Serve's default is 1."""
    node = _deployment_node(_compose(text), application, deployment)
    _, replicas = _mapping_get(node, "num_replicas")
    if _autoscaling(node) or replicas is None:
        return 1, _autoscaling(node)
    try:
        return int(replicas.value), False
    except ValueError:
        raise ActuationError(
            f"serveConfigV2: {application}/{deployment} num_replicas {replicas.value!r} is not an integer",
            reason="rejected",
        ) from None


def _splice(text: str, node: yaml.MappingNode, key: str, value: int) -> tuple[int, int, str]:
    """(start, end, new text) that sets ``key`` to ``value`` in ``node``."""
    _, present = _mapping_get(node, key)
    if present is not None:
        return present.start_mark.index, present.end_mark.index, str(value)
    name_key, name_value = _mapping_get(node, "name")
    if node.flow_style:
        return name_value.end_mark.index, name_value.end_mark.index, f", {key}: {value}"
    line_end = text.find("\n", name_value.end_mark.index)
    line_end = len(text) if line_end < 0 else line_end
    return line_end, line_end, "\n" + " " * name_key.start_mark.column + f"{key}: {value}"


def _unset(text: str, node: yaml.MappingNode, key: str) -> tuple[int, int, str] | None:
    """(start, end, new text) that removes ``key`` from ``node`` (its line, if the pair is alone on it;
    else -1, Serve's default); None if ``node`` has no ``key``."""
    key_node, value = _mapping_get(node, key)
    if key_node is None:
        return None
    line_start = text.rfind("\n", 0, key_node.start_mark.index) + 1
    line_end = text.find("\n", value.end_mark.index)
    line_end = len(text) if line_end < 0 else line_end
    alone = (not node.flow_style and not text[line_start:key_node.start_mark.index].strip()
             and not text[value.end_mark.index:line_end].split("#")[0].strip())
    if not alone:
        return _splice(text, node, key, -1)
    return line_start, line_end + 1, ""


def rewrite_num_replicas(text: str, targets: Mapping[tuple[str, str], int],
                         queue_limits: Mapping[tuple[str, str], int | None] | None = None) -> str:
    """``text`` with ``num_replicas`` set per (application, deployment), and ``max_queued_requests`` for
    those in ``queue_limits`` (None: removed); every other byte kept."""
    root = _compose(text)
    edits = []
    original = text
    for (application, deployment), replicas in targets.items():
        node = _deployment_node(root, application, deployment)
        if _autoscaling(node):
            raise ActuationError(
                f"{application}/{deployment}: has its own autoscaling_config in serveConfigV2; "
                "remove it to let farod scale this deployment",
                reason="autoscaling_conflict",
            )
        edits.append(_splice(text, node, "num_replicas", replicas))
    for (application, deployment), limit in (queue_limits or {}).items():
        node = _deployment_node(root, application, deployment)
        edits.append(_splice(text, node, "max_queued_requests", limit) if limit is not None
                     else _unset(text, node, "max_queued_requests"))
    for start, end, replacement in sorted((edit for edit in edits if edit is not None), reverse=True):
        text = text[:start] + replacement + text[end:]
    _check_rewrite(original, text, targets, queue_limits or {})
    return text


def _check_rewrite(original: str, rewritten: str, targets: Mapping[tuple[str, str], int],
                   queue_limits: Mapping[tuple[str, str], int | None]) -> None:
    """The rewritten config must load as the original with only the targets and limits changed."""
    expected, actual = yaml.safe_load(original), yaml.safe_load(rewritten)
    for key, deployment in _deployments(expected):
        if key in targets:
            deployment["num_replicas"] = targets[key]
        if queue_limits.get(key, 0) is None:
            deployment.pop("max_queued_requests", None)
        elif key in queue_limits:
            deployment["max_queued_requests"] = queue_limits[key]
    for key, deployment in _deployments(actual):
        if queue_limits.get(key, 0) is None and deployment.get("max_queued_requests") == -1:
            del deployment["max_queued_requests"]  # Serve's "no limit", as the key left out
    if actual != expected:
        raise ActuationError("serveConfigV2: rewrite changed more than num_replicas and max_queued_requests; "
                             "not applied", reason="rejected")


def _deployments(config):
    """((application, deployment), deployment mapping) of a loaded Serve config."""
    for application in config.get("applications") or []:
        for deployment in application.get("deployments") or []:
            yield (application.get("name"), deployment.get("name")), deployment


class RayServiceActuator(Actuator):
    """Reads and scales the deployments of one KubeRay RayService."""

    name = "rayservice"

    def __init__(
        self,
        *,
        api_client: kubernetes.client.ApiClient,
        namespace: str,
        name: str,
        max_conflict_retries: int = 5,
        timeout_s: float = 5.0,
        may_write: WriteGate = always_write,
    ):
        if not name:
            raise ValueError("name: the RayService to scale must be given")
        self._api = kubernetes.client.CustomObjectsApi(api_client)
        self.namespace, self.rayservice = namespace, name
        self.max_conflict_retries, self.timeout_s = max_conflict_retries, timeout_s
        self.may_write = may_write

    def _call(self, function, *args):
        where = f"rayservice {self.namespace}/{self.rayservice}"
        try:
            return function(GROUP, VERSION, self.namespace, PLURAL, *args, _request_timeout=self.timeout_s)
        except kubernetes.client.ApiException as exc:
            if exc.status == 409:
                raise
            reason = {401: "unauthorized", 403: "unauthorized", 404: "not_found"}
            kind = reason.get(exc.status, "http_5xx" if (exc.status or 0) >= 500 else "rejected")
            raise ActuationError(f"{where}: {exc.status} {exc.reason}", reason=kind) from None
        except urllib3.exceptions.TimeoutError:
            raise ActuationError(f"{where}: no answer within {self.timeout_s:g} s", reason="timeout") from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise ActuationError(f"{where}: {str(exc)[:200]}", reason="unreachable") from None

    def _get(self) -> dict:
        return self._call(self._api.get_namespaced_custom_object, self.rayservice)

    def read(self, jobs: Mapping[str, JobSpec]) -> Mapping[str, DeploymentState]:
        obj = self._get()
        text = (obj.get("spec") or {}).get("serveConfigV2") or ""
        statuses = ((obj.get("status") or {}).get("activeServiceStatus") or {}).get("applicationStatuses") or {}
        states = {}
        for key, job in jobs.items():
            try:
                replicas, autoscaling = read_num_replicas(text, job.application, job.deployment)
            except ActuationError as exc:
                if exc.reason == "not_found":
                    continue  # a missing job is left out
                raise
            status = (
                ((statuses.get(job.application) or {}).get("serveDeploymentStatuses") or {}).get(job.deployment) or {}
            ).get("status")
            # The RayService status has no replica counts: HEALTHY means the target is running.
            running = replicas if status in (None, "HEALTHY") else 0
            states[key] = DeploymentState(target_replicas=replicas, running_replicas=running, autoscaling=autoscaling)
        return states

    def apply(self, targets: Mapping[str, int], jobs: Mapping[str, JobSpec],
              queue_limits: Mapping[str, int | None] | None = None) -> None:
        wanted = {(jobs[key].application, jobs[key].deployment): int(replicas) for key, replicas in targets.items()}
        limits = {(jobs[key].application, jobs[key].deployment): limit
                  for key, limit in wanted_queue_limits(queue_limits, targets, jobs).items()}
        for _ in range(self.max_conflict_retries + 1):
            obj = self._get()
            text = (obj.get("spec") or {}).get("serveConfigV2")
            if not isinstance(text, str):
                raise ActuationError(
                    f"rayservice {self.namespace}/{self.rayservice}: spec.serveConfigV2 is not set", reason="rejected"
                )
            rewritten = rewrite_num_replicas(text, wanted, limits)
            if rewritten == text:
                return  # re-asserting what is already there writes nothing
            patch = {"metadata": {"resourceVersion": obj["metadata"]["resourceVersion"]},
                     "spec": {"serveConfigV2": rewritten}}
            check_may_write(self.may_write, self.timeout_s, f"rayservice {self.namespace}/{self.rayservice}")
            try:
                self._call(self._api.patch_namespaced_custom_object, self.rayservice, patch)
                return
            except kubernetes.client.ApiException:  # 409: someone wrote in between; redo on the new text
                time.sleep(random.uniform(0.0, 0.1))
                continue
        raise ActuationError(
            f"rayservice {self.namespace}/{self.rayservice}: still conflicting after "
            f"{self.max_conflict_retries} retries",
            reason="conflict",
        )
