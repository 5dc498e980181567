"""Connect to the Kubernetes API with credentials that come from files, never from arguments.

Example::

    api_client = connect()                      # in a pod: the mounted service account
    api_client = connect(kubeconfig="~/.kube/config")

Inside a pod the service-account token, CA and namespace are mounted files
(``/var/run/secrets/kubernetes.io/serviceaccount``); the client re-reads the token when it rotates.
Outside, a kubeconfig file. Either way the token never passes through farod's config, command line,
logs or metrics. The client never retries on its own (urllib3 would retry a timed-out GET three
times): every call ends within its one request timeout, and farod's loops do the retrying.
"""

from __future__ import annotations

import os

import kubernetes
import urllib3

from farod.errors import FarodError

SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
# What a call to the API server can raise when the server refuses (ApiException) or cannot be reached
# (urllib3's MaxRetryError, ProtocolError, ReadTimeoutError are not OSErrors).
API_ERRORS = (kubernetes.client.ApiException, urllib3.exceptions.HTTPError, OSError)


def connect(*, kubeconfig: str | None = None) -> kubernetes.client.ApiClient:
    """An ``ApiClient`` for the in-cluster service account, else for ``kubeconfig`` (or $KUBECONFIG)."""
    configuration = kubernetes.client.Configuration()
    in_cluster = kubeconfig is None and bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
    try:
        if in_cluster:
            kubernetes.config.load_incluster_config(client_configuration=configuration)
        else:
            kubernetes.config.load_kube_config(
                config_file=os.path.expanduser(kubeconfig) if kubeconfig else None,
                client_configuration=configuration,
            )
    except (kubernetes.config.ConfigException, OSError) as exc:
        where = ("the in-cluster service account" if in_cluster
                 else kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config (not running in a pod)")
        raise FarodError(f"kubernetes: cannot load credentials from {where}: {exc}") from None
    configuration.retries = False
    return kubernetes.client.ApiClient(configuration)


def current_namespace(default: str = "default") -> str:
    """The pod's namespace when running in a cluster, else ``default``."""
    try:
        with open(SERVICE_ACCOUNT_NAMESPACE, encoding="utf-8") as handle:
            return handle.read().strip() or default
    except OSError:
        return default
