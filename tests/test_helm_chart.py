"""helm/farod: lint, render (defaults and every switch), validate, and keep its parts consistent.

Real helm (``make .tools/helm``) renders the chart; kubernetes-validate checks every built-in
object against the Kubernetes OpenAPI schema, promtool checks the PrometheusRule, the daemon's own
parser reads the rendered policy ConfigMap, and the RayService example is checked against farod's
schema of the fields it patches.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tarfile

import jsonschema
import kubernetes_validate
import pytest
import yaml

from farod import policies
from farod.actuators.rayservice import read_num_replicas
from farod.daemon.config import parse_config

from helm_support import CHART, OPERATOR_API, ROOT, by_kind, helm, render, rules_for_release

EXAMPLE_VALUES = CHART / "examples" / "values-10jobs-32cpu.yaml"
RAYSERVICE_SCHEMA = json.loads((ROOT / "tests" / "schemas" / "rayservice.schema.json").read_text())
KUBERNETES_VERSION = "1.30.0"
EVERY_SWITCH = ["serviceMonitor.enabled=true", "prometheusRule.enabled=true", "rulesConfigMap.enabled=true",
                "grafana.dashboards.enabled=true", "grafana.alerts.enabled=true",
                "prometheusRule.additionalLabels.release=kube-prometheus-stack",
                "quota.fromResourceQuota.name=compute-quota", "priorityClassName=farod-critical",
                "podAnnotations.team=ml", "extraEnv[0].name=HTTPS_PROXY", "extraEnv[0].value=http://proxy:3128",
                "topologySpreadConstraints[0].maxSkew=1",
                "topologySpreadConstraints[0].topologyKey=topology.kubernetes.io/zone",
                "topologySpreadConstraints[0].whenUnsatisfiable=ScheduleAnyway", "logLevel=debug"]


def _policy_configmap(docs) -> dict:
    return next(doc for doc in docs if doc["kind"] == "ConfigMap" and "farod.yaml" in doc.get("data", {}))


@pytest.fixture(scope="module")
def defaults():
    return render()


@pytest.fixture(scope="module")
def everything():
    return render(*OPERATOR_API, sets=EVERY_SWITCH)


def test_lint_strict_passes_for_defaults_and_the_example():
    for extra in ([], ["-f", str(EXAMPLE_VALUES)]):
        result = helm("lint", "--strict", str(CHART), *extra)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "0 chart(s) failed" in result.stdout


def test_defaults_render_the_core_objects(defaults):
    assert sorted(by_kind(defaults)) == ["ConfigMap", "Deployment", "PodDisruptionBudget", "Role", "RoleBinding",
                                         "Service", "ServiceAccount"]


def test_every_switch_renders_every_object(everything):
    kinds = by_kind(everything)
    assert sorted(kinds) == ["ConfigMap", "Deployment", "PodDisruptionBudget", "PrometheusRule", "Role",
                             "RoleBinding", "Service", "ServiceAccount", "ServiceMonitor"]
    assert len(kinds["ConfigMap"]) == 4  # policy, rules, dashboard, Grafana alerts
    assert kinds["PrometheusRule"][0]["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_operator_objects_need_the_crd_in_the_cluster():
    kinds = by_kind(render(sets=EVERY_SWITCH))
    assert "PrometheusRule" not in kinds and "ServiceMonitor" not in kinds


@pytest.mark.parametrize("name", ["defaults", "everything"])
def test_builtin_objects_are_valid_kubernetes(name, request):
    checked = 0
    for doc in request.getfixturevalue(name):
        if doc["apiVersion"].startswith("monitoring.coreos.com"):
            continue
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        checked += 1
    assert checked >= 6


def test_every_object_carries_the_recommended_labels(everything):
    for doc in everything:
        labels = doc["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "farod", doc["kind"]
        assert labels["app.kubernetes.io/instance"] == "farod"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert "app.kubernetes.io/version" in labels


def test_deployment_is_probed_non_root_and_read_only(defaults):
    deployment = by_kind(defaults)["Deployment"][0]
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert deployment["spec"]["replicas"] == 2
    assert container["args"] == ["--config", "/etc/farod/farod.yaml"]  # entrypoint: farod run
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}} in container["env"]
    mount = next(m for m in container["volumeMounts"] if m["name"] == "config")
    assert "subPath" not in mount  # subPath mounts never see ConfigMap edits


def test_rbac_is_least_privilege_without_wildcards(defaults, everything):
    """The exact rules, named objects included, are checked against the daemon's calls in test_kube_rbac."""
    for doc in everything:
        if doc["kind"] in ("Role", "ClusterRole"):
            text = json.dumps(doc["rules"])
            assert "*" not in text
    assert "ClusterRole" not in by_kind(everything)
    binding = by_kind(defaults)["RoleBinding"][0]
    assert binding["subjects"][0]["name"] == by_kind(defaults)["ServiceAccount"][0]["metadata"]["name"]


@pytest.mark.parametrize("values_file", [None, EXAMPLE_VALUES])
def test_policy_configmap_is_a_valid_farod_config(values_file):
    docs = render(*(["-f", str(values_file)] if values_file else []))
    config = parse_config(yaml.safe_load(_policy_configmap(docs)["data"]["farod.yaml"]))
    assert config.kubernetes.enabled and config.kubernetes.namespace == "ml"
    assert config.kubernetes.policy_configmap_name == _policy_configmap(docs)["metadata"]["name"]
    assert config.kubernetes.leader_election.lease_name == "farod"
    assert config.actuator.kind == "rayservice" and config.actuator.rayservice.namespace == "ml"
    assert config.prometheus.namespace == "ml"  # the RayService's series only, not equal names elsewhere
    if values_file:
        assert len(config.jobs) == 10 and config.quota == {"cpu": 32.0}
        assert config.policy.name == "faro-fairsum" and dict(config.policy.params) == {"quantile": 0.6}


def test_namespace_selection_can_be_turned_off():
    docs = render("--set", "prometheus.selectReleaseNamespace=false")
    config = parse_config(yaml.safe_load(_policy_configmap(docs)["data"]["farod.yaml"]))
    assert config.prometheus.namespace is None and config.actuator.rayservice.namespace == "ml"


def test_resource_quota_switch_reaches_the_config(everything):
    config = parse_config(yaml.safe_load(_policy_configmap(everything)["data"]["farod.yaml"]))
    assert config.quota_resource_quota == "compute-quota" and config.quota == {}


@pytest.mark.parametrize("bad, complaint", [
    ("policy.name=oracle", "policy.name must be one of the following"),
    ("policy.name=fastest", "policy.name must be one of the following"),
    ("replicaCount=2,leaderElection.enabled=false", "replicaCount"),
    ("actuator.kind=kubectl", "actuator.kind must be one of the following"),
    ("quota.fromResourceQuota.name=Not_A_Name", "quota.fromResourceQuota.name"),
    ("serviceMonitor.interval=soon", "serviceMonitor.interval"),
    ("replicaCnt=1", "Additional property replicaCnt is not allowed"),
    ("jobs[0].application=a,jobs[0].deployment=m,jobs[0].sloMs=-5", "jobs.0.sloMs"),
    ("logLevel=verbose", "logLevel"),
    ("priorityClassName=5", "priorityClassName"),
    ("podDisruptionBudget.maxUnavailable=1", "Additional property maxUnavailable is not allowed"),
    ("topologySpreadConstraints[0].maxSkew=1", "topologySpreadConstraints.0"),
    ("extraEnv[0].value=x", "extraEnv.0"),
    ("alerting.runbookBaseUrl=wiki", "alerting.runbookBaseUrl"),
])
def test_schema_rejects_bad_values(bad, complaint):
    result = helm("template", "farod", str(CHART), "--set", bad)
    assert result.returncode != 0
    assert "don't meet the specifications of the schema" in result.stderr
    assert complaint in result.stderr


def test_schema_policy_list_is_the_live_policy_registry():
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert sorted(schema["properties"]["policy"]["properties"]["name"]["enum"]) == sorted(policies.LIVE_NAMES)


def test_value_keys_checked_from_outside_exist():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for path in ("replicaCount", "policy.name", "prometheusRule.enabled", "serviceMonitor.enabled",
                 "grafana.dashboards.enabled", "grafana.alerts.enabled", "leaderElection.enabled"):
        node = values
        for part in path.split("."):
            node = node[part]
        assert node is not None, path


def test_readme_documents_every_value():
    readme = (CHART / "README.md").read_text()
    free_form = {"resources", "podSecurityContext", "securityContext", "params", "resources", "additionalLabels"}

    def keys(node, prefix=""):
        for key, value in node.items():
            path = f"{prefix}{key}"
            if isinstance(value, dict) and value and key not in free_form:
                yield from keys(value, f"{path}.")
            else:
                yield path

    missing = [key for key in keys(yaml.safe_load((CHART / "values.yaml").read_text())) if f"| `{key}` |" not in readme]
    assert not missing


def test_rules_have_one_source(everything, tmp_path):
    link = CHART / "files" / "rules"
    assert link.is_symlink() and link.resolve() == (ROOT / "rules").resolve()
    rule = by_kind(everything)["PrometheusRule"][0]
    assert rule["spec"] == rules_for_release("farod", "ml")
    rules_configmap = next(d for d in everything if d["metadata"]["name"].endswith("-rules"))
    assert yaml.safe_load(rules_configmap["data"]["farod.rules.yaml"]) == rules_for_release("farod", "ml")
    # what the operator would load is valid Prometheus rules
    rendered = tmp_path / "rendered.rules.yaml"
    rendered.write_text(yaml.safe_dump(rule["spec"]))
    promtool = shutil.which("promtool")
    assert promtool, "promtool not found: install the Debian package prometheus"
    check = subprocess.run([promtool, "check", "rules", str(rendered)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_packaged_chart_carries_the_rules(tmp_path):
    result = helm("package", str(CHART), "--destination", str(tmp_path))
    assert result.returncode == 0, result.stderr
    archive = next(tmp_path.glob("farod-*.tgz"))
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert "farod/files/rules/farod.rules.yaml" in names
    assert not any("/files/rules/tests/" in name for name in names)


RECORDED = {rule["record"] for group in yaml.safe_load((ROOT / "rules" / "farod.rules.yaml").read_text())["groups"]
            for rule in group["rules"] if "record" in rule}
FAROD_METRICS = {"farod_target_replicas", "farod_forecast_requests_per_second", "farod_predicted_latency_seconds",
                 "farod_utility", "farod_quota_used_ratio", "farod_decision_duration_seconds_bucket",
                 "farod_actuation_errors_total", "farod_signal_stale", "farod_policy_info", "farod_leader",
                 "farod_slo_seconds", "farod_policy_rejected", "farod_admission_limit_requests"}


def test_grafana_dashboard_configmap(everything):
    configmap = next(d for d in everything if d["metadata"]["name"].endswith("-dashboard"))
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(configmap["data"]["farod.json"])
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    assert variables["namespace"]["query"]["query"] == "label_values(farod_target_replicas, namespace)"
    assert 'namespace=~"$namespace"' in variables["application"]["query"]["query"]
    titles = {panel["title"] for panel in dashboard["panels"]}
    for wanted in ("Request rate and forecast per job", "Replicas vs target", "p99 latency vs SLO", "Utility per job",
                   "Quota use", "Decision time", "Signal staleness", "Policy ConfigMap rejected", "Admission limits"):
        assert wanted in titles
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}"
        for target in panel["targets"]:
            names = set(re.findall(r"[a-z_:][a-z0-9_:]*(?=[{\[ )]|$)", target["expr"]))
            metrics = {n for n in names if n.startswith("farod_") or ":" in n}
            assert metrics, target["expr"]
            # every selector filters by the namespace variable, every aggregation keeps namespace
            assert target["expr"].count("{") == target["expr"].count('{namespace=~"$namespace"'), target["expr"]
            assert all(by.startswith("namespace") for by in re.findall(r"by \(([^)]*)\)", target["expr"]))
            assert metrics <= FAROD_METRICS | RECORDED, metrics - FAROD_METRICS - RECORDED


def test_grafana_alert_provisioning(everything):
    configmap = next(d for d in everything if d["metadata"]["name"].endswith("-grafana-alerts"))
    assert configmap["metadata"]["labels"]["grafana_alert"] == "1"
    provisioning = yaml.safe_load(configmap["data"]["farod-alerts.yaml"])
    assert provisioning["apiVersion"] == 1
    rules = provisioning["groups"][0]["rules"]
    alerts = [rule for group in rules_for_release("farod", "ml")["groups"] for rule in group["rules"] if "alert" in rule]
    assert [rule["title"] for rule in rules] == [alert["alert"] for alert in alerts]
    for rule, alert in zip(rules, alerts):
        assert rule["data"][0]["model"]["expr"] == alert["expr"]
        assert rule["condition"] == "C" and rule["for"] == alert.get("for", "0s")
        assert "$value " not in json.dumps(rule["annotations"])  # Grafana spells it $values.B.Value
        assert rule["annotations"]["runbook_url"] == alert["annotations"]["runbook_url"]
    assert len({rule["uid"] for rule in rules}) == len(rules)


def test_example_rayservice_serves_every_example_job():
    rayservice = yaml.safe_load((CHART / "examples" / "rayservice.yaml").read_text())
    jsonschema.validate(rayservice, RAYSERVICE_SCHEMA)
    serve_config = yaml.safe_load(rayservice["spec"]["serveConfigV2"])
    jsonschema.validate(serve_config, {"$defs": RAYSERVICE_SCHEMA["$defs"], "$ref": "#/$defs/ServeConfig"})
    values = yaml.safe_load(EXAMPLE_VALUES.read_text())
    assert values["actuator"]["rayservice"]["name"] == rayservice["metadata"]["name"]
    for job in values["jobs"]:
        replicas = read_num_replicas(rayservice["spec"]["serveConfigV2"], job["application"], job["deployment"])
        assert replicas == (1, False)


def test_rayservice_schema_rejects_what_farod_cannot_patch():
    bad = {"apiVersion": "ray.io/v1", "kind": "RayService", "metadata": {"name": "Serving"}, "spec": {}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, RAYSERVICE_SCHEMA)


def test_a_jobs_own_max_queued_requests_reaches_the_config_and_bad_ones_are_refused(tmp_path):
    job = {"application": "serve-cluster0", "deployment": "classifier", "sloMs": 720}
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"jobs": [{**job, "maxQueuedRequests": 100}, {**job, "deployment": "other"}]}))
    config = parse_config(yaml.safe_load(_policy_configmap(render("-f", str(values)))["data"]["farod.yaml"]))
    assert [spec.max_queued_requests for spec in config.jobs] == [100, None]
    values.write_text(yaml.safe_dump({"jobs": [{**job, "maxQueuedRequests": 0}]}))
    result = helm("template", "farod", str(CHART), "-f", str(values))
    assert result.returncode != 0 and "jobs.0.maxQueuedRequests" in result.stderr
