"""`pip install farod` is the daemon: every daemon command works without the extras' packages
(numba, matplotlib, ray, aiohttp), and a command that needs one names the extra in one line.

The commands run in subprocesses where those packages cannot be imported (tests/daemon_only.py);
bench/install_size.py checks the same on a real install in a fresh virtualenv and measures its size.
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import tomllib

import pytest
import yaml

from farod.cli import EXTRAS

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA = ROOT / "farod" / "data"
DAY10 = str(DATA / "azure_twitter_10jobs_day10.jsonl")
TRAIN = str(DATA / "azure_twitter_10jobs_days1-10_6h_per_minute.csv")
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def farod(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "tests" / "daemon_only.py"), *args], capture_output=True,
                          text=True, timeout=timeout, env=ENV, cwd=ROOT)


def test_the_daemon_dependencies_leave_the_extras_out():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {dep.split(">")[0].split("<")[0].split("[")[0].split("=")[0].strip().lower()
             for dep in project["dependencies"]}
    assert not names & set(EXTRAS), names & set(EXTRAS)
    assert "statsmodels" in names  # the design's forecasting package: the daemon's forecasters fit with it
    extras = project["optional-dependencies"]
    assert {"numba", "matplotlib", "ray"} <= {dep.split(">")[0].split("[")[0] for dep in extras["sim"]}
    assert [dep.split(">")[0] for dep in extras["loadgen"]] == ["aiohttp"]
    assert "farod[sim,loadgen]" in extras["test"]  # make test installs .[test]: everything


def test_version_comes_from_the_package_metadata():
    result = farod("--version")
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert (result.returncode, result.stdout) == (0, f"farod {version}\n")


@pytest.mark.parametrize("args", [
    ["run", "--help"],
    ["validate", "config/farod.example.yaml"],
    ["plan", "--input", "examples/plan-10jobs.json", "--method", "exact"],
    ["forecast", "backtest", "--trace", DAY10, "--train", TRAIN, "--model", "seasonal", "--minutes", "60"],
    ["forecast", "backtest", "--trace", DAY10, "--train", TRAIN, "--model", "ets", "--minutes", "30"],
])
def test_daemon_commands_run_without_the_extras(args):
    result = farod(*args)
    assert result.returncode == 0, result.stderr
    assert result.stdout


@pytest.mark.parametrize("args, extra", [
    (["compare", "--cpus", "32", "--policies", "fairshare", "--seeds", "1", "--minutes", "2"], "sim"),
    (["simulate", "--cpus", "32", "--policy", "fairshare", "--minutes", "2"], "sim"),
    (["forecast", "backtest", "--trace", DAY10, "--train", TRAIN, "--model", "last", "--minutes", "30",
      "--plot", "job.png", "--job", "1"], "sim"),
    (["loadgen", "--trace", DAY10, "--map", "a/b=http://127.0.0.1:1/"], "loadgen"),
])
def test_commands_that_need_an_extra_name_it_in_one_line(args, extra, tmp_path):
    result = farod(*args)
    assert result.returncode == 2
    [line] = [line for line in result.stderr.splitlines() if line.startswith("farod: error:")]
    assert result.stderr.endswith(line + "\n")  # the last line, no traceback
    assert line.startswith(f"farod: error: farod {args[0]} needs ") and line.endswith(f"pip install 'farod[{extra}]'")


def test_explain_runs_without_the_extras():
    explained = farod("explain", "examples/decision-plan.jsonl")
    assert explained.returncode == 0, explained.stderr
    assert "decision 100-7 (plan" in explained.stdout and "->   3 replicas" in explained.stdout


def test_farod_run_starts_decides_and_stops_in_dry_run(tmp_path):
    """A real start (dry-run actuator; Prometheus and the Ray dashboard unreachable on loopback, so every
    decision holds), stopped by SIGTERM after its first plan."""
    config = yaml.safe_load((ROOT / "config" / "farod.example.yaml").read_text())
    config["prometheus"].update(url="http://127.0.0.1:9", timeout_s=1, backfill_days=0)
    config.update(actuator={"kind": "dry-run"}, server={"host": "127.0.0.1", "port": 0},
                  intervals={"tick_s": 1, "plan_s": 2})
    (tmp_path / "farod.yaml").write_text(yaml.safe_dump(config))
    daemon = subprocess.Popen([sys.executable, str(ROOT / "tests" / "daemon_only.py"), "run", "--config",
                               str(tmp_path / "farod.yaml")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=ENV)
    lines = []
    try:
        for line in daemon.stdout:
            lines.append(json.loads(line))
            if lines[-1].get("kind") == "plan":
                daemon.send_signal(signal.SIGTERM)
                break
        rest, errors = daemon.communicate(timeout=60)
    finally:
        daemon.kill()
    lines += [json.loads(line) for line in rest.splitlines()]
    assert daemon.returncode == 0 and errors == "", errors
    plan = next(line for line in lines if line.get("kind") == "plan")
    assert plan["held"] is True and plan["applied"] is False and plan["actuator"] == "dry-run"
    assert lines[-1]["event"] == "stopped"
