"""Rendering the Helm chart with the real helm binary, shared by the chart and rule tests."""

from __future__ import annotations

import pathlib
import shutil
import subprocess

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHART = ROOT / "helm" / "farod"
RULES_FILE = ROOT / "rules" / "farod.rules.yaml"
OPERATOR_API = ["--api-versions", "monitoring.coreos.com/v1"]
SOURCE_RUNBOOKS = "https://github.com/farod/farod/blob/main/rules/README.md"


def _helm() -> str:
    local = ROOT / ".tools" / "helm"
    path = str(local) if local.exists() else shutil.which("helm")
    if path is None:
        pytest.fail("helm not found: run `make .tools/helm`")
    return path


def helm(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([_helm(), *args], capture_output=True, text=True, cwd=ROOT)


def render(*options: str, sets: list[str] = (), release: str = "farod", namespace: str = "ml") -> list[dict]:
    result = helm("template", release, str(CHART), "--namespace", namespace, *options,
                  *[arg for value in sets for arg in ("--set", value)])
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def by_kind(docs: list[dict]) -> dict[str, list[dict]]:
    kinds: dict[str, list[dict]] = {}
    for doc in docs:
        kinds.setdefault(doc["kind"], []).append(doc)
    return kinds


def rules_for_release(job: str, namespace: str, runbooks: str = SOURCE_RUNBOOKS) -> dict:
    """What the chart should make of rules/farod.rules.yaml for a release: FarodDown on its own job."""
    text = RULES_FILE.read_text().replace('up{job="farod"}', f'up{{job="{job}", namespace="{namespace}"}}')
    return yaml.safe_load(text.replace(SOURCE_RUNBOOKS, runbooks))
