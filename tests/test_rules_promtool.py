"""rules/: promtool accepts the rules, their unit tests pass, and every rule is covered by them."""

from __future__ import annotations

import pathlib
import re
import shutil
import subprocess

import pytest
import yaml

RULES_DIR = pathlib.Path(__file__).resolve().parent.parent / "rules"
RULES_FILE = RULES_DIR / "farod.rules.yaml"
RULES_TESTS = sorted((RULES_DIR / "tests").glob("*.yaml"))


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool not found: install the Debian package `prometheus` (make prometheus)")
    return path


def _rules() -> list[dict]:
    return [rule for group in yaml.safe_load(RULES_FILE.read_text())["groups"] for rule in group["rules"]]


def _unit_tests() -> list[dict]:
    return [test for path in RULES_TESTS for test in yaml.safe_load(path.read_text())["tests"]]


def test_promtool_checks_rules():
    result = subprocess.run([_promtool(), "check", "rules", str(RULES_FILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(_rules())} rules found" in result.stdout


def test_promtool_unit_tests_pass():
    assert RULES_TESTS, "no promtool tests under rules/tests"
    result = subprocess.run(
        [_promtool(), "test", "rules", *map(str, RULES_TESTS)], capture_output=True, text=True, cwd=RULES_DIR
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAILED" not in result.stdout


def test_every_recording_rule_has_an_expression_test():
    tested = " ".join(case["expr"] for test in _unit_tests() for case in test.get("promql_expr_test", []))
    untested = [rule["record"] for rule in _rules() if "record" in rule and rule["record"] not in tested]
    assert not untested


def test_every_alert_is_tested_firing_and_quiet():
    cases = [case for test in _unit_tests() for case in test.get("alert_rule_test", [])]
    for alert in (rule["alert"] for rule in _rules() if "alert" in rule):
        outcomes = {bool(case["exp_alerts"]) for case in cases if case["alertname"] == alert}
        assert outcomes == {True, False}, f"{alert}: firing and quiet cases expected, got {outcomes}"


def test_counter_selectors_accept_names_with_and_without_total():
    exprs = {rule["record"]: rule["expr"] for rule in _rules() if "record" in rule}
    assert '"ray_serve_deployment_request_counter(_total)?"' in exprs[
        "application_deployment:ray_serve_deployment_requests:rate1m"
    ]
    assert '"ray_serve_num_http_requests(_total)?"' in exprs["application:ray_serve_http_requests:rate1m"]


def test_rules_select_metrics_ray_2_60_exports():
    """Every Ray series the rules read exists in a capture of a live Ray 2.60 Serve /metrics page."""
    families = {}
    for line in (RULES_DIR / "tests" / "ray-2.60-serve-metrics.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, kind = line.split()
            families[name] = kind
    exported = set()
    for name, kind in families.items():
        exported |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"} if kind == "histogram" else {name}
    text = " ".join(rule["expr"] for rule in _rules())
    selected = set(re.findall(r"(?<![:\w])ray_serve_[a-z_]+", text))  # not inside a recorded name
    counters = set(re.findall(r'"(ray_serve_[a-z_]+)\(_total\)\?"', text))
    assert selected and counters
    for name in selected - counters:
        assert name in exported, name
    for name in counters:
        assert f"{name}_total" in exported and families[f"{name}_total"] == "counter", name
