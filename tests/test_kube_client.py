"""Credentials come from a kubeconfig file or the in-cluster service account, errors in one line."""

from __future__ import annotations

import time

import kubernetes
import pytest
import urllib3
from fakekube import FakeKube

from farod.errors import FarodError
from farod.kube.client import connect


def test_kubeconfig_file_reaches_the_server(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with FakeKube() as kube:
        kubeconfig = tmp_path / "config"
        kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
            f"clusters: [{{name: fake, cluster: {{server: '{kube.url}'}}}}]\n"
            "users: [{name: u, user: {token: from-a-file}}]\n"
            "contexts: [{name: c, context: {cluster: fake, user: u, namespace: ml}}]\n")
        api_client = connect(kubeconfig=str(kubeconfig))
        kubernetes.client.CoreV1Api(api_client).create_namespaced_config_map("ml", {"metadata": {"name": "x"}})
        assert kube.get_object("", "v1", "configmaps", "ml", "x")["metadata"]["name"] == "x"


def test_missing_credentials_are_one_line(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(FarodError, match=r"^kubernetes: cannot load credentials from ~/.kube/config \(not running"):
        connect()
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    # a pod without a mounted token (also when these tests run inside a real pod)
    monkeypatch.setattr(kubernetes.config.incluster_config, "SERVICE_TOKEN_FILENAME", str(tmp_path / "no-token"))
    with pytest.raises(FarodError, match=r"^kubernetes: cannot load credentials from the in-cluster service account"):
        connect()


def test_a_hung_call_gives_up_after_one_timeout_without_retries(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with FakeKube() as kube:
        kubeconfig = tmp_path / "config"
        kubeconfig.write_text(f"apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters: [{{name: fake, cluster: "
                              f"{{server: '{kube.url}'}}}}]\nusers: [{{name: u, user: {{}}}}]\n"
                              "contexts: [{name: c, context: {cluster: fake, user: u}}]\n")
        arrivals = []
        release = kube.hang(lambda method, path, body: arrivals.append(time.monotonic()) or True)
        core = kubernetes.client.CoreV1Api(connect(kubeconfig=str(kubeconfig)))
        with pytest.raises(urllib3.exceptions.ReadTimeoutError):
            core.read_namespaced_config_map("x", "ml", _request_timeout=0.3)
        release.set()
        assert len(arrivals) == 1  # urllib3's default would have sent it four times
