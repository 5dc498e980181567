"""A small in-process Kubernetes API server for tests: real HTTP, real client, real semantics.

No kube-apiserver can run on the build machines, and a mock of the client would test nothing the
cluster does. :class:`FakeKube` serves the REST paths the ``kubernetes`` client uses on 127.0.0.1
and keeps the semantics farod relies on:

- every write bumps one global ``resourceVersion``; a PUT (or a patch carrying
  ``metadata.resourceVersion``) with a stale version gets ``409 Conflict``;
- missing objects get ``404`` with a ``Status`` body, duplicates ``409 AlreadyExists``;
- PATCH as merge-patch (RFC 7386; strategic merge is treated the same) or json-patch (RFC 6902);
- ``?watch=true`` streams ``{"type": ..., "object": ...}`` lines with chunked encoding, from the
  requested ``resourceVersion`` on, honouring ``fieldSelector=metadata.name=...``;
- the kinds farod touches: Leases, Events (core and events.k8s.io), ConfigMaps, ResourceQuotas,
  Pods and the KubeRay RayService custom resource.

Tests set up and inspect objects without HTTP (:meth:`FakeKube.put_object`,
:meth:`FakeKube.get_object`, :meth:`FakeKube.list_objects`), read the request log
(:attr:`FakeKube.requests`: verb, object, client, arrival and answer times), can run a hook before any
request (:meth:`FakeKube.before`) to play a concurrent writer or fail a call, hold requests unanswered
(:meth:`FakeKube.hang`), and enforce a Role (``FakeKube(role=Role(rules))``: 403 for anything it does
not grant, listed in :attr:`FakeKube.denied`).

Example::

    with FakeKube() as kube:
        api = kubernetes.client.CoreV1Api(kube.api_client())
        api.create_namespaced_config_map("default", {"metadata": {"name": "x"}, "data": {}})
"""

from .rbac import Role
from .server import FakeKube

__all__ = ["FakeKube", "Role"]
