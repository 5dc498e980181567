"""The quota farod may hand out, read from a namespace ResourceQuota at every decision.

Example::

    read_resource_quota(api_client=api_client, namespace="ml", name="compute-quota",
                        managed_selector="ray.io/is-ray-node=yes")
    # -> {'cpu': 28.5, 'gpu': 4.0, 'memory': 103079215104.0}

The ResourceQuota's hard ``requests.cpu``, ``requests.nvidia.com/gpu`` and ``requests.memory`` (or
their short forms ``cpu``, ``memory``) cap what every pod in the namespace requests together. farod
owns part of that -- the pods selected by ``managed_selector`` -- so what it can allocate is the hard
limit minus what the *other* pods request, counted as the quota controller does (the larger of the
summed containers and the largest init container, plus pod overhead; finished pods do not count).
Memory is in bytes, GPUs and CPUs in units. A quota that cannot be read raises
:class:`farod.errors.FarodError`; the daemon then holds.
"""

from __future__ import annotations

from collections.abc import Mapping

import kubernetes
from kubernetes.utils import parse_quantity

from farod.errors import FarodError
from farod.kube.client import API_ERRORS

# ResourceQuota key -> (pod request key, farod resource name)
QUOTA_RESOURCES = {
    "requests.cpu": ("cpu", "cpu"),
    "cpu": ("cpu", "cpu"),
    "requests.memory": ("memory", "memory"),
    "memory": ("memory", "memory"),
    "requests.nvidia.com/gpu": ("nvidia.com/gpu", "gpu"),
}
FINISHED_PHASES = ("Succeeded", "Failed")


def _selected(labels: Mapping[str, str] | None, selector: str) -> bool:
    """Equality-based label selector (``k=v,k2=v2``; ``k`` alone means the label exists)."""
    labels = labels or {}
    for term in filter(None, (part.strip() for part in selector.split(","))):
        key, sep, value = term.partition("=")
        key, value = key.rstrip("!="), value.lstrip("=")
        if (key not in labels) if not sep else (labels.get(key) != value):
            return False
    return True


def _requests(resources) -> dict[str, float]:
    requests = (resources.requests if resources else None) or {}
    return {key: float(parse_quantity(value)) for key, value in requests.items()}


def pod_requests(pod) -> dict[str, float]:
    """What one pod counts against a ResourceQuota's ``requests.*``."""
    total: dict[str, float] = {}
    for container in pod.spec.containers or []:
        for key, value in _requests(container.resources).items():
            total[key] = total.get(key, 0.0) + value
    for container in pod.spec.init_containers or []:
        for key, value in _requests(container.resources).items():
            total[key] = max(total.get(key, 0.0), value)
    for key, value in (pod.spec.overhead or {}).items():
        total[key] = total.get(key, 0.0) + float(parse_quantity(value))
    return total


def read_resource_quota(
    *, api_client: kubernetes.client.ApiClient, namespace: str, name: str, managed_selector: str,
    timeout_s: float = 5.0,
) -> dict[str, float]:
    """Hard limits of ResourceQuota ``name`` minus the requests of pods farod does not manage.

    Each of the two calls gives up after ``timeout_s``: a hung API server is a miss, not a frozen decision.
    """
    core = kubernetes.client.CoreV1Api(api_client)
    try:
        quota = core.read_namespaced_resource_quota(name, namespace, _request_timeout=timeout_s)
        pods = core.list_namespaced_pod(namespace, _request_timeout=timeout_s).items
    except kubernetes.client.ApiException as exc:
        raise FarodError(f"quota.from_resource_quota: {namespace}/{name}: {exc.status} {exc.reason}") from None
    except API_ERRORS as exc:
        raise FarodError(f"quota.from_resource_quota: {namespace}/{name}: API server unreachable: "
                         f"{str(exc)[:200]}") from None
    hard = (quota.spec.hard if quota.spec else None) or {}
    unmanaged = [
        pod_requests(pod)
        for pod in pods
        if (pod.status is None or pod.status.phase not in FINISHED_PHASES)
        and not _selected(pod.metadata.labels, managed_selector)
    ]
    available: dict[str, float] = {}
    for quota_key, (request_key, resource) in QUOTA_RESOURCES.items():
        if quota_key not in hard or resource in available:
            continue
        used = sum(requests.get(request_key, 0.0) for requests in unmanaged)
        available[resource] = max(0.0, float(parse_quantity(hard[quota_key])) - used)
    if not available:
        raise FarodError(
            f"quota.from_resource_quota: {namespace}/{name} sets none of {', '.join(QUOTA_RESOURCES)}"
        )
    return available
