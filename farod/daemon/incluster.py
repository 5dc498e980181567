"""``farod run`` inside Kubernetes: plug :mod:`farod.kube` into the daemon's hooks.

Example::

    daemon = InCluster(load_config("/etc/farod/farod.yaml"), config_text=text).daemon
    run_in_cluster(config, config_text=text)      # what `farod run` does when kubernetes.enabled

The daemon knows nothing about Kubernetes; it exposes hooks and this module fills them:

- ``is_leader``: a :class:`~farod.kube.leader.LeaderElector` on the Lease
  ``kubernetes.leader_election.lease_name`` (or always True when leader election is off); the
  actuator asks it again right before each write (:meth:`LeaderElector.may_write`);
- ``quota``: with ``quota.from_resource_quota`` the namespace ResourceQuota, re-read at every
  decision, minus what pods farod does not manage request (the namespace's Ray pods are farod's);
- ``actuator``: the KubeRay :class:`~farod.actuators.rayservice.RayServiceActuator` for
  ``actuator.kind: rayservice`` (the others the daemon builds itself);
- :meth:`Daemon.reload`: fed by a :class:`~farod.kube.policy_watch.PolicyWatcher` on the policy
  ConfigMap (``farod_policy_rejected`` is 1 while the last edit was refused);
- ``controller.listeners``: applied decisions become ``ScaledUp`` / ``ScaledDown`` /
  ``QuotaSaturated`` Events regarding the RayService (or, without one, farod's own pod), posted from a
  thread of their own so a slow API server never delays a decision;
- :attr:`Daemon.threads`: the elector, the watch and the Event sender, so ``/readyz`` fails if one dies.

Every Kubernetes call gives up after ``kubernetes.request_timeout_s``.

Stopping (SIGTERM) stops the daemon between decisions first, then releases the Lease, so the
successor starts actuating only after this process no longer can.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

import kubernetes
from prometheus_client import Gauge

from farod.actuators.base import Actuator
from farod.actuators.rayservice import RayServiceActuator
from farod.daemon.config import Config, parse_config
from farod.daemon.record import DecisionRecord
from farod.daemon.runner import Daemon, build_actuator
from farod.kube.client import connect
from farod.kube.events import EventRecorder, EventSender, ScalingEvents, rayservice_ref
from farod.kube.leader import LeaderElector
from farod.kube.policy_watch import PolicyWatcher
from farod.kube.quota import read_resource_quota
from farod.policies.guards import quota_used
from farod.yamlfile import parse_yaml

# KubeRay labels every Ray pod (head and workers) ray.io/is-ray-node=yes; its RayCluster name (and so
# the ray.io/cluster label) is the RayService's name plus a suffix that changes on upgrades, so the
# pods farod manages are the namespace's Ray pods.
MANAGED_PODS = "ray.io/is-ray-node=yes"


def parse_config_text(text: str, *, source: str = "configmap") -> Config:
    """Validate farod.yaml text (a ConfigMap edit) exactly as ``farod validate`` validates a file."""
    data = parse_yaml(text, source=source)
    return parse_config(data)


class InCluster:
    """The daemon wired to the Kubernetes API; :meth:`start` / :meth:`stop` run the side threads."""

    def __init__(
        self,
        config: Config,
        *,
        config_text: str | None = None,
        api_client: kubernetes.client.ApiClient | None = None,
        identity: str | None = None,
        **daemon_options,
    ):
        kube = config.kubernetes
        self.api_client = api_client or connect()
        self.identity = identity or os.environ.get("POD_NAME") or socket.gethostname()
        self.namespace = kube.namespace
        self.timeout_s = kube.request_timeout_s
        self.elector = self._elector(config) if kube.leader_election.enabled else None
        self.daemon = Daemon(
            config,
            is_leader=(lambda: self.elector.is_leader) if self.elector else None,
            quota=self._quota(config),
            actuator=daemon_options.pop("actuator", None) or self._actuator(config),
            **daemon_options,
        )
        self.rejected = Gauge("farod_policy_rejected", "1 while the last policy ConfigMap edit was rejected",
                              registry=self.daemon.registry)
        self.recorder = EventRecorder(api_client=self.api_client, namespace=self.namespace, instance=self.identity,
                                      timeout_s=self.timeout_s)
        self.watcher = PolicyWatcher(
            api_client=self.api_client, namespace=self.namespace, name=kube.policy_configmap_name,
            key=kube.policy_configmap_key, parse=parse_config_text, events=self.recorder,
            initial=config, initial_text=config_text, on_apply=self.daemon.reload,
            on_rejected=lambda rejected: self.rejected.set(1 if rejected else 0), request_timeout_s=self.timeout_s)
        self.scaling = ScalingEvents(recorder=self.recorder, regarding=self._regarding(config))
        self.sender = EventSender()
        self.daemon.controller.listeners.append(self._report_scaling)
        self.daemon.threads.extend(filter(None, (self.elector, self.watcher, self.sender)))

    def _elector(self, config: Config) -> LeaderElector:
        election = config.kubernetes.leader_election
        return LeaderElector(api_client=self.api_client, namespace=self.namespace, lease_name=election.lease_name,
                             identity=self.identity, lease_duration_s=election.lease_duration_s,
                             renew_deadline_s=election.renew_deadline_s, retry_period_s=election.retry_period_s,
                             request_timeout_s=self.timeout_s)

    def _may_write(self, within_s: float) -> bool:
        return self.elector is None or self.elector.may_write(within_s)

    def _quota(self, config: Config):
        if not config.quota_resource_quota:
            return None  # the daemon uses the config's static quota
        return lambda: read_resource_quota(api_client=self.api_client, namespace=self.namespace,
                                           name=config.quota_resource_quota, managed_selector=MANAGED_PODS,
                                           timeout_s=self.timeout_s)

    def _actuator(self, config: Config) -> Actuator:
        if config.actuator.kind == "rayservice":
            target = config.actuator.rayservice
            return RayServiceActuator(api_client=self.api_client, namespace=target.namespace, name=target.name,
                                      timeout_s=self.timeout_s, may_write=self._may_write)
        return build_actuator(config, may_write=self._may_write)  # the Ray Serve one asks before each write

    def _regarding(self, config: Config) -> Mapping[str, str]:
        if config.actuator.kind == "rayservice":
            return rayservice_ref(config.actuator.rayservice.namespace, config.actuator.rayservice.name)
        return {"apiVersion": "v1", "kind": "Pod", "namespace": self.namespace, "name": self.identity}

    def _report_scaling(self, record: DecisionRecord) -> None:
        if not record.get("applied") or not record.get("targets"):
            return
        targets = record["targets"]
        before = {key: job["replicas"] for key, job in record.get("jobs", {}).items()}
        used = quota_used(targets, jobs=self.daemon.config.jobs_by_key, quota=record.get("quota") or {})
        self.sender.submit(lambda: self.scaling.observe(before=before, after=targets, quota_used=used))

    def start(self, *, serve_http: bool = True) -> None:
        if self.elector:
            self.elector.start()
        self.watcher.start()
        self.sender.start()
        self.daemon.start(serve_http=serve_http)

    def stop(self) -> None:
        self.daemon.stop()  # the running decision finishes first
        self.release()

    def release(self) -> None:
        """Stop watching and give the Lease up (after the daemon stopped actuating)."""
        self.watcher.stop()
        self.sender.stop_thread()
        if self.elector:
            self.elector.stop()  # a successor takes over at its next retry, not after the lease expires


def run_in_cluster(config: Config, *, config_text: str | None = None) -> int:
    """``farod run`` with ``kubernetes.enabled``: until SIGTERM, then hand the Lease over."""
    in_cluster = InCluster(config, config_text=config_text)
    in_cluster.daemon.stop_on_signals()
    in_cluster.start()
    try:
        in_cluster.daemon.wait()  # until SIGTERM; stops the daemon between decisions
    finally:
        in_cluster.release()
    return 0
