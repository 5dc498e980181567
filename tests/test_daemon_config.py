"""The config schema: defaults, one-line errors naming the field path, semantic checks, `farod validate`."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from farod.cli import main
from farod.daemon.config import load_config, parse_config
from farod.errors import FarodError

EXAMPLE = Path(__file__).resolve().parents[1] / "config" / "farod.example.yaml"
MINIMAL = {"jobs": [{"application": "a", "deployment": "m", "slo_ms": 720}], "quota": {"cpu": 4},
           "policy": {"name": "aiad"}}


def with_(path: str, value, base=MINIMAL):
    """A copy of ``base`` with ``path`` (dots, [i] for list items) set to ``value`` (or removed if ...)."""
    data = yaml.safe_load(yaml.safe_dump(base))
    node, *parts = data, *path.replace("[", ".").replace("]", "").split(".")
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
    last = parts[-1]
    if value is ...:
        del node[int(last) if last.isdigit() else last]
    else:
        node[int(last) if last.isdigit() else last] = value
    return data


def test_example_config_parses_with_its_values_and_defaults():
    config = load_config(EXAMPLE)
    assert [job.key for job in config.jobs] == ["serve-cluster0/classifier", "serve-cluster1/classifier"]
    assert config.jobs[0].service_time_ms == 180 and config.jobs[1].service_time_ms is None
    assert config.jobs[1].min_replicas == 1 and config.jobs[1].resources == {"cpu": 1.0}
    assert config.quota == {"cpu": 8.0} and config.policy.params == {"quantile": 0.6}
    assert (config.intervals.tick_s, config.intervals.plan_s) == (10.0, 300.0)
    assert config.actuator.kind == "rayserve" and not config.actuator.rayserve.take_over_autoscaling
    assert config.prometheus.tls_verify and config.prometheus.use_recording_rules


def test_minimal_config_gets_defaults():
    config = parse_config(MINIMAL)
    assert config.prometheus.url == "http://127.0.0.1:9090"
    assert config.actuator.rayserve.url == "http://127.0.0.1:8265"
    assert config.safety.max_replicas_added == 0 and config.forecaster.name == "default"


@pytest.mark.parametrize("path, value, message", [
    ("jobs[0].slo_ms", 0, "jobs[0].slo_ms: must be > 0, got 0"),
    ("jobs[0].slo_ms", "fast", "jobs[0].slo_ms: must be a number, got 'fast'"),
    ("jobs[0].slo_ms", ..., "jobs[0].slo_ms: required"),
    ("jobs[0].min_replicas", -1, "jobs[0].min_replicas: must be an integer >= 0, got -1"),
    ("jobs[0].max_replica", 3, "jobs[0].max_replica: unknown field"),
    ("jobs[0].resources", {"cpu": -1}, "jobs[0].resources.cpu: must be >= 0, got -1"),
    ("jobs[0].weight", float("nan"), "jobs[0].weight: must be a number, got nan"),
    ("jobs", [], "jobs: must be a non-empty list"),
    ("quota.cpu", 0, "quota.cpu: must be > 0, got 0"),
    ("quota", {}, "quota: must name at least one resource, e.g. {cpu: 8}"),
    ("policy", ..., "policy: required"),
    ("policy.params", [1], "policy.params: must be a mapping, got list"),
    ("prometheus.url", "localhost:9090", "prometheus.url: must start with http:// or https://, got 'localhost:9090'"),
    ("prometheus.url", "http://user:secret@prom:9090",
     "prometheus.url: credentials in the URL are not allowed; use bearer_token_file"),
    ("prometheus.tls_verify", "yes", "prometheus.tls_verify: must be true or false, got 'yes'"),
    ("actuator.kind", "kubectl", "actuator.kind: must be one of rayserve, rayservice, dry-run, got 'kubectl'"),
    ("actuator", {"kind": "rayservice"}, "actuator.rayservice.name: required"),
    ("intervals.tick_s", -10, "intervals.tick_s: must be > 0, got -10"),
    ("server.port", 70000, "server.port: must be <= 65535, got 70000"),
    ("jobs[0]", {"application": "a", "deployment": "m", "slo_ms": 720, "service_tail_ms": 400},
     "jobs[0].service_tail_ms: needs service_time_ms (the tail is profiled with it)"),
    ("jobs[0]", {"application": "a", "deployment": "m", "slo_ms": 720, "service_time_ms": 150, "service_tail_ms": 100},
     "jobs[0].service_tail_ms: must be between 1 and 5 times the service time 150 ms, got 100 ms"),
    ("jobs[0]", {"application": "a", "deployment": "m", "slo_ms": 720, "service_time_ms": 150, "service_tail_ms": 800},
     "jobs[0].service_tail_ms: must be between 1 and 5 times the service time 150 ms, got 800 ms"),
])
def test_malformed_fields_are_one_line_naming_the_field(path, value, message):
    with pytest.raises(FarodError) as caught:
        parse_config(with_(path, value))
    assert str(caught.value) == message
    assert "\n" not in str(caught.value)


def test_semantic_errors():
    with pytest.raises(FarodError, match=r"^jobs\[0\].min_replicas: 5 is above max_replicas 2$"):
        parse_config(with_("jobs[0]", {"application": "a", "deployment": "m", "slo_ms": 1, "min_replicas": 5,
                                       "max_replicas": 2}))
    two = with_("jobs", [{"application": "a", "deployment": "m", "slo_ms": 1, "min_replicas": 3}] * 2)
    with pytest.raises(FarodError, match=r"^jobs\[1\]: a/m is already jobs\[0\]$"):
        parse_config(two)
    big = with_("jobs[0].min_replicas", 5)
    with pytest.raises(FarodError, match=r"^quota.cpu: 4 is below the 5 the jobs' min_replicas need$"):
        parse_config(big)
    with pytest.raises(FarodError, match=r"^policy.name: unknown policy 'hpa' \(known: .*faro-fairsum"):
        parse_config(with_("policy.name", "hpa"))
    with pytest.raises(FarodError, match=r"^intervals.plan_s: 5 is shorter than tick_s 10$"):
        parse_config(with_("intervals", {"tick_s": 10, "plan_s": 5}))


def test_quota_from_resource_quota_leaves_the_static_quota_empty():
    in_cluster = with_("kubernetes", {"enabled": True})
    config = parse_config(with_("quota", {"from_resource_quota": {"name": "compute-quota"}}, base=in_cluster))
    assert config.quota == {} and config.quota_resource_quota == "compute-quota"
    with pytest.raises(FarodError, match=r"^quota.from_resource_quota: needs kubernetes.enabled: true"):
        parse_config(with_("quota", {"from_resource_quota": {"name": "compute-quota"}}))
    with pytest.raises(FarodError, match=r"^actuator.kind: rayservice needs kubernetes.enabled: true$"):
        parse_config(with_("actuator", {"kind": "rayservice", "rayservice": {"name": "rs"}}))


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("jobs:\n  - application: a\n   deployment: [\n")
    with pytest.raises(FarodError, match=rf"^{path}:\d+: "):
        load_config(path)


def test_validate_cli_ok_and_errors(tmp_path, capsys):
    assert main(["validate", str(EXAMPLE)]) == 0
    assert "ok (2 jobs, policy faro-fairsum, actuator rayserve)" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(with_("jobs[0].slo_ms", -5)))
    assert main(["validate", str(bad)]) == 2
    assert capsys.readouterr().err == "farod: error: jobs[0].slo_ms: must be > 0, got -5\n"
    # A policy parameter the policy does not know is caught before running, too.
    bad.write_text(yaml.safe_dump(with_("policy.params", {"upscale_delay": 3})))
    assert main(["validate", str(bad)]) == 2
    assert capsys.readouterr().err.startswith("farod: error: policy.params.upscale_delay: unknown parameter of aiad")


def test_run_refuses_to_start_on_a_bad_config(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(with_("jobs[0].min_replicas", 9)))
    assert main(["run", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err == "farod: error: quota.cpu: 4 is below the 9 the jobs' min_replicas need\n"
