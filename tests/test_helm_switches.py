"""helm/farod's pod switches, each rendered on and off: PodDisruptionBudget, priorityClassName,
topologySpreadConstraints, extraEnv, podAnnotations, logLevel; the credential settings of Prometheus and the
Ray dashboard (allowInsecureHttp, tlsVerify, caFile)."""

from __future__ import annotations

import kubernetes_validate
import pytest
import yaml

from farod.daemon.config import parse_config
from farod.errors import FarodError
from helm_support import CHART, by_kind, helm, render

KUBERNETES_VERSION = "1.30.0"


def pod_spec(docs: list[dict]) -> dict:
    return by_kind(docs)["Deployment"][0]["spec"]["template"]["spec"]


def farod_config(docs: list[dict]):
    configmap = next(doc for doc in docs if doc["kind"] == "ConfigMap" and "farod.yaml" in doc.get("data", {}))
    return parse_config(yaml.safe_load(configmap["data"]["farod.yaml"]))


@pytest.mark.parametrize("sets, budget", [
    ([], True),  # default: 2 replicas
    (["replicaCount=3"], True),
    (["replicaCount=1"], False),  # a budget on one pod would block every node drain
    (["podDisruptionBudget.enabled=false"], False),
])
def test_pod_disruption_budget_only_with_more_than_one_replica(sets, budget):
    docs = render(sets=sets)
    pdbs = by_kind(docs).get("PodDisruptionBudget", [])
    assert len(pdbs) == int(budget)
    if budget:
        pdb = pdbs[0]
        kubernetes_validate.validate(pdb, KUBERNETES_VERSION, strict=True)
        assert pdb["spec"]["minAvailable"] == 1
        pod_labels = by_kind(docs)["Deployment"][0]["spec"]["template"]["metadata"]["labels"]
        assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def test_pod_disruption_budget_takes_a_percentage():
    pdb = by_kind(render(sets=["podDisruptionBudget.minAvailable=50%"]))["PodDisruptionBudget"][0]
    assert pdb["spec"]["minAvailable"] == "50%"


def test_priority_class_name():
    assert "priorityClassName" not in pod_spec(render())
    assert pod_spec(render(sets=["priorityClassName=farod-critical"]))["priorityClassName"] == "farod-critical"


def test_topology_spread_constraints_select_the_pods_unless_told_otherwise():
    assert "topologySpreadConstraints" not in pod_spec(render())
    zone = ["topologySpreadConstraints[0].maxSkew=1", "topologySpreadConstraints[0].whenUnsatisfiable=ScheduleAnyway",
            "topologySpreadConstraints[0].topologyKey=topology.kubernetes.io/zone"]
    docs = render(sets=zone)
    [constraint] = pod_spec(docs)["topologySpreadConstraints"]
    assert constraint["topologyKey"] == "topology.kubernetes.io/zone" and constraint["maxSkew"] == 1
    assert constraint["labelSelector"]["matchLabels"] == {"app.kubernetes.io/name": "farod",
                                                          "app.kubernetes.io/instance": "farod"}
    kubernetes_validate.validate(by_kind(docs)["Deployment"][0], KUBERNETES_VERSION, strict=True)
    own = render(sets=[*zone, "topologySpreadConstraints[0].labelSelector.matchLabels.tier=control"])
    assert pod_spec(own)["topologySpreadConstraints"][0]["labelSelector"] == {"matchLabels": {"tier": "control"}}


def test_extra_env_follows_the_chart_env():
    container = pod_spec(render(sets=["extraEnv[0].name=HTTPS_PROXY", "extraEnv[0].value=http://proxy:3128"]))[
        "containers"][0]
    names = [env["name"] for env in container["env"]]
    assert names == ["POD_NAME", "POD_NAMESPACE", "HTTPS_PROXY"]
    assert container["env"][-1]["value"] == "http://proxy:3128"


def test_pod_annotations():
    metadata = by_kind(render(sets=["podAnnotations.team=ml"]))["Deployment"][0]["spec"]["template"]["metadata"]
    assert metadata["annotations"]["team"] == "ml"


@pytest.mark.parametrize("level", ["debug", "info", "warning", "error"])
def test_log_level_reaches_the_config(level):
    assert farod_config(render(sets=[f"logLevel={level}"])).log_level == level


def test_lint_strict_with_every_switch():
    result = helm("lint", "--strict", str(CHART), "--set", "priorityClassName=p,logLevel=debug,replicaCount=3",
                  "--set", "extraEnv[0].name=A,extraEnv[0].value=b,podAnnotations.a=b",
                  "--set", "topologySpreadConstraints[0].maxSkew=1,topologySpreadConstraints[0].topologyKey=k,"
                           "topologySpreadConstraints[0].whenUnsatisfiable=DoNotSchedule")
    assert result.returncode == 0, result.stdout + result.stderr


def test_kuberay_pod_monitor_example_scrapes_every_ray_pod_in_the_release_namespace():
    monitor = yaml.safe_load((CHART / "examples" / "kuberay-podmonitor.yaml").read_text())
    assert (monitor["apiVersion"], monitor["kind"]) == ("monitoring.coreos.com/v1", "PodMonitor")
    assert monitor["spec"]["selector"]["matchLabels"] == {"ray.io/is-ray-node": "yes"}  # head and workers
    [endpoint] = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] == "metrics" and "honorLabels" not in endpoint  # namespace stays Prometheus'
    window_s = farod_config(render()).prometheus.window_s
    assert 2 * int(endpoint["interval"].removesuffix("s")) <= window_s  # two samples per reading window


@pytest.mark.parametrize("section, field", [("prometheus", "prometheus"), ("actuator.rayserve", "actuator.rayserve")])
def test_a_token_to_an_in_cluster_http_service_needs_the_charts_opt_in(section, field):
    token = [f"{section}.url=http://in-cluster-http.ml.svc:8080", f"{section}.bearerTokenFile=/var/run/token",
             "actuator.kind=rayserve"]
    with pytest.raises(FarodError, match=rf"^{field}\.url: a bearer token over plain http is refused.*"
                                          rf"{field}\.allow_insecure_http: true"):
        farod_config(render(sets=token))
    config = farod_config(render(sets=token + [f"{section}.allowInsecureHttp=true"]))
    assert getattr(config.prometheus if section == "prometheus" else config.actuator.rayserve, "allow_insecure_http")


def test_ray_dashboard_tls_values_reach_the_config(tmp_path):
    ca_file = tmp_path / "ca.pem"  # the daemon checks at start that the CA file exists
    ca_file.write_text("")
    rayserve = farod_config(render(sets=["actuator.kind=rayserve", "actuator.rayserve.url=https://ray:8265",
                                         "actuator.rayserve.tlsVerify=false",
                                         f"actuator.rayserve.caFile={ca_file}"])).actuator.rayserve
    assert (rayserve.tls_verify, rayserve.ca_file) == (False, str(ca_file))
    assert farod_config(render()).actuator.rayserve.tls_verify is True
