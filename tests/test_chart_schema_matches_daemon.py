"""The chart's values.schema.json accepts exactly what the daemon's parser accepts, field by field.

For each chart value that becomes a daemon config field, probe values (bounds, just outside them,
absurd magnitudes, wrong types) are rendered twice: once through helm's schema check, once with the
schema skipped and the ConfigMap's farod.yaml parsed by the daemon. Both must agree: a value the chart
accepts must not crash-loop the daemon (``quota.resources.cpu: 0`` used to), and the chart must not
refuse what the daemon would run. Cross-field rules (plan_s >= tick_s, min <= max, the lease order,
minimums within the quota) cannot be said in a JSON schema; the probes stay clear of them, so each
probe tests its own field only.
"""

from __future__ import annotations

import json

import pytest
import yaml

from farod.daemon.chartschema import chart_schema, render
from farod.daemon.incluster import parse_config_text
from farod.errors import FarodError
from tests.helm_support import CHART, helm

NUMBERS = [-1, 0, 0.5, 300, 301, 3601, 86401, 1e6 + 1, 1e300, "5", True]
INTEGER_COUNTS = [-1, 0, 2.5, 100_000, 100_001, "3"]
PROBES = {
    "prometheus.timeoutSeconds": NUMBERS,
    "prometheus.backfillHours": NUMBERS + [672, 673],
    "prometheus.backfillDays": [-1, 0, 28, 29, 1e7, 10**7, 2.5, "7"],
    "prometheus.tlsVerify": [True, False, "yes", 1],
    "prometheus.allowInsecureHttp": [True, "yes"],
    "actuator.rayserve.tlsVerify": [False, 1],
    "actuator.rayserve.allowInsecureHttp": [True, "no"],
    "prometheus.url": ["http://p:9090", "https://p", "p:9090", "", 5],
    "actuator.rayserve.timeoutSeconds": NUMBERS,
    "actuator.rayserve.url": ["http://r:8265", "r:8265", 5],
    "actuator.kind": ["rayservice", "dry-run", "kubectl", 3],
    "intervals.tickSeconds": [-1, 0, 0.5, 300, 1e300, "10", True],
    "intervals.planSeconds": [-1, 0, 300, 86400, 86401, 1e300, "300"],
    "safety.maxReplicasAdded": INTEGER_COUNTS,
    "safety.maxReplicasRemoved": INTEGER_COUNTS,
    "leaderElection.renewDeadlineSeconds": [0, 3, 14.5, 1e300, "10"],
    "leaderElection.retryPeriodSeconds": [0, 0.5, 1e300, "2"],
    "leaderElection.leaseDurationSeconds": [0, 11, 3600, 3601, 1e300, 15.5, "15"],
    "quota.resources.cpu": [-1, 0, 8, 1e6, 1e6 + 1, 1e300, "8", True],
    "jobs[0].sloMs": [-1, 0, 1, 720, 3.6e6, 3.6e6 + 1, 1e300, "720"],
    "jobs[0].serviceTimeMs": [-1, 0, 180, 3.6e6 + 1, "180"],
    "jobs[0].minReplicas": [-1, 0, 1, 1.5, "1"],
    "jobs[0].maxReplicas": [0, 1, 16, 10_000, 10_001, 2.5, "16"],
    "jobs[0].weight": [-1, 0, 0.5, 1e6, 1e6 + 1, "1"],
    "jobs[0].resources.cpu": [-1, 0, 0.25, 1e6 + 1, "1"],
    "jobs[0].application": ["serve-cluster0", "a/b", "x..y", "a b", "", "-a", "a" * 63, "a" * 64, 5],
    "jobs[0].deployment": ["classifier", "m\nx", "a.b_c-d", "", 5],
    "forecaster.name": ["default", "seasonal", "ma", "oracle", "bogus", "", 5],
    "logLevel": ["info", "debug", "verbose", 3],
}


def test_committed_schema_is_the_generated_one():
    committed = (CHART / "values.schema.json").read_text()
    assert render(chart_schema(json.loads(committed))) == committed, (
        "run: python -m farod.daemon.chartschema helm/farod/values.schema.json")


def _values(path: str, value) -> dict:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    node, parts = values, path.replace("[", ".").replace("]", "").split(".")
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node[part]
    node[int(parts[-1]) if parts[-1].isdigit() else parts[-1]] = value
    return values


def _chart_accepts(values_file) -> bool:
    return helm("template", "farod", str(CHART), "-f", str(values_file), "-s", "templates/configmap.yaml").returncode == 0


def _daemon_accepts(values_file) -> tuple[bool, str]:
    result = helm("template", "farod", str(CHART), "-f", str(values_file), "-s", "templates/configmap.yaml",
                  "--skip-schema-validation")
    if result.returncode != 0:
        return False, result.stderr.strip().splitlines()[-1]
    configmap = yaml.safe_load(result.stdout)
    try:
        parse_config_text(configmap["data"]["farod.yaml"])
    except FarodError as error:
        return False, str(error)
    return True, "ok"


@pytest.mark.parametrize("path", sorted(PROBES))
def test_chart_schema_and_daemon_agree_on_every_probe(tmp_path, path):
    disagreements = []
    for value in PROBES[path]:
        values_file = tmp_path / "values.yaml"
        values_file.write_text(yaml.safe_dump(_values(path, value)))
        chart, (daemon, why) = _chart_accepts(values_file), _daemon_accepts(values_file)
        if chart != daemon:
            disagreements.append(f"{path}={value!r}: chart {'accepts' if chart else 'refuses'}, daemon says {why}")
    assert not disagreements, "\n".join(disagreements)
