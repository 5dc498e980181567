"""Kubernetes-facing I/O for the daemon: leader election, policy hot reload, Events, quota.

One concept per module, each usable on its own and tested against a real ``kubernetes`` client
talking HTTP to a fake API server (``tests/fakekube``):

- :mod:`farod.kube.client` -- an ``ApiClient`` from the in-cluster service account or a kubeconfig
  file (credentials from files only);
- :mod:`farod.kube.leader` -- a ``coordination.k8s.io/v1`` Lease: only the leader actuates;
- :mod:`farod.kube.policy_watch` -- watch the policy ConfigMap, keep the last good config;
- :mod:`farod.kube.events` -- ``events.k8s.io/v1`` Events, aggregated into series, and the scaling
  events (``ScaledUp``, ``ScaledDown``, ``QuotaSaturated``);
- :mod:`farod.kube.quota` -- the quota as a namespace ResourceQuota minus what farod does not manage;
- :mod:`farod.kube.background` -- the thread the Lease renewal and the watch run on.

This package sits beside :mod:`farod.signals` and :mod:`farod.actuators` (it does I/O) and imports
neither them nor :mod:`farod.daemon`; :mod:`farod.daemon.incluster` wires them into the daemon's
hooks and injects its config parser.
The KubeRay actuator lives with the other actuators (:mod:`farod.actuators.rayservice`) and takes the
``ApiClient`` built here.
"""
