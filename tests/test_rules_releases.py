"""FarodDown as the chart renders it: keyed on each release's own scrape job and namespace, so it holds
with fullnameOverride and with two releases in one Prometheus (promtool on the rendered rules)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from helm_support import OPERATOR_API, ROOT, by_kind, render, rules_for_release

TWO_RELEASES = ROOT / "rules" / "tests" / "chart" / "two-releases.test.yaml"


def rendered_rules(namespace: str, *sets: str) -> dict:
    docs = render(*OPERATOR_API, sets=["prometheusRule.enabled=true", *sets], namespace=namespace)
    return by_kind(docs)["PrometheusRule"][0]["spec"]


def farod_down(rules: dict) -> str:
    return next(rule["expr"] for group in rules["groups"] for rule in group["rules"]
                if rule.get("alert") == "FarodDown")


def test_farod_down_selects_the_release_job_and_namespace():
    assert 'up{job="scaler", namespace="team-a"}' in farod_down(rendered_rules("team-a", "fullnameOverride=scaler"))
    assert 'up{job="farod", namespace="team-b"}' in farod_down(rendered_rules("team-b"))
    assert 'up{job="custom", namespace="ml"}' in farod_down(rendered_rules("ml", "alerting.scrapeJob=custom"))
    assert "=~" not in farod_down(rendered_rules("ml"))


def test_runbook_urls_follow_the_value():
    rules = rendered_rules("ml", "alerting.runbookBaseUrl=https://wiki.example.com/farod")
    assert rules == rules_for_release("farod", "ml", "https://wiki.example.com/farod")
    alerts = [rule for group in rules["groups"] for rule in group["rules"] if "alert" in rule]
    assert alerts and all(rule["annotations"]["runbook_url"] == f"https://wiki.example.com/farod#{rule['alert'].lower()}"
                          for rule in alerts)


def test_every_alert_links_a_runbook_that_exists():
    readme = (ROOT / "rules" / "README.md").read_text()
    headings = {line[4:].strip().lower() for line in readme.splitlines() if line.startswith("### ")}
    for group in yaml.safe_load((ROOT / "rules" / "farod.rules.yaml").read_text())["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                anchor = rule["annotations"]["runbook_url"].rsplit("#", 1)[1]
                assert anchor == rule["alert"].lower() and anchor in headings, rule["alert"]


def test_two_releases_one_with_fullname_override(tmp_path):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool not found: install the Debian package `prometheus` (make prometheus)")
    team_a = rendered_rules("team-a", "fullnameOverride=scaler")
    team_b = rendered_rules("team-b", "alerting.runbookBaseUrl=https://runbooks.example.com/farod")
    (tmp_path / "team-a.rules.yaml").write_text(yaml.safe_dump(team_a))
    (tmp_path / "team-b.rules.yaml").write_text(yaml.safe_dump(team_b))
    shutil.copy(TWO_RELEASES, tmp_path)
    result = subprocess.run([promtool, "test", "rules", TWO_RELEASES.name], capture_output=True, text=True,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
