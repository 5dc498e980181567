"""`farod plan` end to end through the console entry point: JSON in, JSON out, one-line errors."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "plan-10jobs.json"


def _plan(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "farod", "plan", *args], input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_plan_writes_the_contract_json(tmp_path):
    out = tmp_path / "out.json"
    result = _plan("--input", str(EXAMPLE), "--json", str(out))
    assert result.returncode == 0, result.stderr
    solution = json.loads(out.read_text())
    for field in ("allocation", "accept_rate", "predicted_latency_ms", "utility", "objective", "method",
                  "optimal", "solve_ms"):
        assert field in solution
    problem = json.loads(EXAMPLE.read_text())
    assert sum(solution["allocation"].values()) <= problem["quota"]["cpu"]
    assert solution["method"] == "exact" and solution["optimal"] is True
    assert all(len(v) == 7 for v in solution["predicted_latency_ms"].values())
    assert "objective" in result.stdout  # the human table goes to the terminal


def test_cobyla_is_available_for_comparison():
    problem = json.loads(EXAMPLE.read_text())
    problem["jobs"] = problem["jobs"][:3]
    problem["quota"]["cpu"] = 9
    result = _plan("--input", "-", "--method", "cobyla", "--json", "-", stdin=json.dumps(problem))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["method"] == "cobyla"


@pytest.mark.parametrize("mutate, message", [
    (lambda p: p["jobs"][1].pop("slo_ms"), "jobs[1].slo_ms: required"),
    (lambda p: p["jobs"][0]["rates"].__setitem__(2, -3), "jobs[0].rates[2]"),
    (lambda p: p.__setitem__("objective", "maxmin"), "objective"),
    (lambda p: p["quota"].__setitem__("cpu", 5), "quota.cpu"),
    (lambda p: p["jobs"][0].__setitem__("min_replicas", 2.5), "jobs[0].min_replicas"),
    (lambda p: p["latency_model"].__setitem__("max_rho", 1.5), "latency_model.max_rho"),
])
def test_bad_problems_fail_with_one_line_naming_the_field(mutate, message):
    problem = json.loads(EXAMPLE.read_text())
    mutate(problem)
    result = _plan("--input", "-", stdin=json.dumps(problem))
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1 and message in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_malformed_json_and_missing_file():
    result = _plan("--input", "-", stdin='{"quota": {"cpu": 4}, "jobs": [')
    assert result.returncode != 0 and "not valid JSON" in result.stderr and result.stderr.count("\n") == 1
    result = _plan("--input", "/nonexistent/problem.json")
    assert result.returncode != 0 and "--input" in result.stderr and result.stderr.count("\n") == 1
