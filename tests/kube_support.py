"""The daemon config and RayService the in-cluster tests share (jobs ``<app>/m`` in namespace ``ml``)."""

from __future__ import annotations


def incluster_config(*, applications=("a", "b"), extra: str = "", request_timeout_s: float | None = None,
                     lease: tuple[float, float, float] = (15, 10, 2)) -> str:
    """farod.yaml for a rayservice actuator on ``ml/serving``; ``lease``: duration, renew deadline, retry."""
    jobs = "".join(f"  - {{application: {app}, deployment: m, slo_ms: 500, service_time_ms: 100, max_replicas: 8}}\n"
                   for app in applications)
    timeout = f"  request_timeout_s: {request_timeout_s}\n" if request_timeout_s is not None else ""
    duration, deadline, retry = lease
    return (f'prometheus: {{url: "http://127.0.0.1:1"}}\njobs:\n{jobs}quota: {{cpu: 4}}\npolicy: {{name: aiad}}\n'
            "actuator: {kind: rayservice, rayservice: {namespace: ml, name: serving}}\n" + extra +
            f"kubernetes:\n  enabled: true\n  namespace: ml\n{timeout}"
            "  policy_configmap: {name: farod-config, key: farod.yaml}\n"
            f"  leader_election: {{enabled: true, lease_name: farod, lease_duration_s: {duration:g}, "
            f"renew_deadline_s: {deadline:g}, retry_period_s: {retry:g}}}\n")


def serve_config(applications=("a", "b"), replicas: int = 1) -> str:
    return "applications:\n" + "".join(f"- name: {app}\n  deployments:\n  - name: m\n    num_replicas: {replicas}\n"
                                       for app in applications)


def put_rayservice(kube, applications=("a", "b")) -> None:
    kube.put_object("ray.io", "v1", "rayservices", "ml", {"metadata": {"name": "serving"},
                                                           "spec": {"serveConfigV2": serve_config(applications)}})
