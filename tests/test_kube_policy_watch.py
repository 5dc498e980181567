"""Policy hot reload: ConfigMap edits through a real watch; valid ones apply, invalid ones are rejected."""

from __future__ import annotations

import pathlib

import pytest
import yaml
from daemon_support import wait_until
from fakekube import FakeKube

from farod.daemon.config import parse_config
from farod.errors import FarodError
from farod.kube.events import EventRecorder
from farod.kube.policy_watch import PolicyWatcher

EXAMPLE = (pathlib.Path(__file__).resolve().parent.parent / "config" / "farod.example.yaml").read_text()


def parse_text(text: str):
    """The daemon's validator over the ConfigMap's YAML text."""
    try:
        return parse_config(yaml.safe_load(text))
    except yaml.YAMLError as exc:
        raise FarodError(f"farod.yaml: not valid YAML: {str(exc).splitlines()[0]}") from None


def _configmap(text: str) -> dict:
    return {"metadata": {"name": "farod-config"}, "data": {"farod.yaml": text}}


def _events(kube):
    return [(event["reason"], event["type"], event["note"], event["regarding"]["name"])
            for event in sorted(kube.list_objects("events.k8s.io", "v1", "events", "ml"),
                                key=lambda event: int(event["metadata"]["resourceVersion"]))]




@pytest.fixture
def kube():
    with FakeKube() as server:
        server.put_object("", "v1", "configmaps", "ml", _configmap(EXAMPLE))
        yield server


@pytest.fixture
def watcher(kube):
    api_client = kube.api_client()
    watcher = PolicyWatcher(api_client=api_client, namespace="ml", name="farod-config", key="farod.yaml",
                            parse=parse_text, events=EventRecorder(api_client=api_client, namespace="ml",
                                                                   instance="farod-0"),
                            watch_timeout_s=1)
    watcher.start()
    wait_until(lambda: watcher.generation == 1, timeout_s=5)
    yield watcher
    watcher.stop()


def test_initial_configmap_is_applied(kube, watcher):
    assert watcher.current.policy.name == "faro-fairsum"
    assert not watcher.rejected
    wait_until(lambda: [event[0] for event in _events(kube)] == ["PolicyApplied"], timeout_s=5)


def test_valid_edit_is_applied_and_announced(kube, watcher):
    kube.put_object("", "v1", "configmaps", "ml", _configmap(EXAMPLE.replace("name: faro-fairsum", "name: aiad")))
    wait_until(lambda: watcher.generation == 2, timeout_s=5)
    assert watcher.current.policy.name == "aiad"
    wait_until(lambda: [event[:2] for event in _events(kube)] == [("PolicyApplied", "Normal")] * 2, timeout_s=5)


def test_invalid_edit_keeps_the_last_good_config_and_says_why(kube, watcher):
    rejections = []
    watcher._on_rejected = rejections.append
    kube.put_object("", "v1", "configmaps", "ml", _configmap(EXAMPLE.replace("slo_ms: 720", "slo_ms: -5", 1)))
    wait_until(lambda: len(_events(kube)) == 2, timeout_s=5)
    assert watcher.rejected
    assert watcher.current.policy.name == "faro-fairsum" and watcher.generation == 1
    reason, kind, note, regarding = _events(kube)[-1]
    assert (reason, kind, regarding) == ("PolicyRejected", "Warning", "farod-config")
    assert note == watcher.last_error and "jobs[0].slo_ms" in note
    assert rejections == [True]
    # a later valid edit clears the rejection
    kube.put_object("", "v1", "configmaps", "ml", _configmap(EXAMPLE.replace("quantile: 0.6", "quantile: 0.7")))
    wait_until(lambda: watcher.generation == 2, timeout_s=5)
    assert not watcher.rejected and rejections == [True, False]


def test_broken_yaml_and_missing_key_are_rejected(kube, watcher):
    kube.put_object("", "v1", "configmaps", "ml", _configmap("jobs: [\n"))
    wait_until(lambda: watcher.rejected, timeout_s=5)
    assert "not valid YAML" in watcher.last_error
    kube.put_object("", "v1", "configmaps", "ml", {"metadata": {"name": "farod-config"}, "data": {"other": "x"}})
    wait_until(lambda: "no key 'farod.yaml'" in (watcher.last_error or ""), timeout_s=5)
    assert watcher.generation == 1
    wait_until(lambda: len(_events(kube)) == 3, timeout_s=5)
    assert [event[0] for event in _events(kube)] == ["PolicyApplied", "PolicyRejected", "PolicyRejected"]


def test_unrelated_changes_do_not_reapply(kube, watcher):
    obj = kube.get_object("", "v1", "configmaps", "ml", "farod-config")
    obj["metadata"]["labels"] = {"touched": "yes"}
    kube.put_object("", "v1", "configmaps", "ml", obj)
    # A real edit after it: watch events arrive in order, so a wrong re-apply would come first.
    kube.put_object("", "v1", "configmaps", "ml", _configmap(EXAMPLE.replace("name: faro-fairsum", "name: aiad")))
    wait_until(lambda: len(_events(kube)) >= 2, timeout_s=5)
    assert watcher.current.policy.name == "aiad" and watcher.generation == 2
    assert [event[0] for event in _events(kube)] == ["PolicyApplied"] * 2
