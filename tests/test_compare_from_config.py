"""farod compare --from-config: the daemon config's jobs, quota and policy drive the simulation."""

import json

import numpy as np
import pytest
import yaml
from scipy import stats

from farod.cli import main
from farod.daemon.config import parse_config as parse_daemon_config
from farod.errors import FarodError
from farod.sim.config import FARO_SERVICE, parse_config
from farod.traces.from_config import from_daemon_config, policy_params
from farod.trace import read_trace

EXAMPLE = "config/farod.example.yaml"


def write_trace(path, minutes=12):
    with open(path, "w") as out:
        for t in range(minutes):
            out.write(json.dumps({
                "ts": 60 * t,
                "counts": {"a": {"m": 300 + 10 * t}, "b": {"m": 100}, "other": {"m": 5}},
                "replicas": {"a": {"m": 2 + t % 2}, "b": {"m": 1}, "other": {"m": 1}},
                "processing_ms": {"a": {"m": 100.0 if t < 6 else 200.0}},
            }) + "\n")
    return path


def daemon_config(tmp_path, **changes):
    config = yaml.safe_load(open(EXAMPLE))
    config["jobs"] = [
        {"application": "a", "deployment": "m", "slo_ms": 900, "max_replicas": 6, "weight": 2},
        {"application": "b", "deployment": "m", "slo_ms": 400, "service_time_ms": 50, "resources": {"cpu": 0.5}},
    ]
    config.update(changes)
    path = tmp_path / "farod.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_setup_takes_jobs_quota_and_service_times(tmp_path):
    trace = read_trace(write_trace(tmp_path / "t.jsonl"))
    setup = from_daemon_config(str(daemon_config(tmp_path)), trace)
    assert setup.trace.keys == ["a/m", "b/m"] and setup.cpus == 8.0 and setup.policy == "faro-fairsum"
    np.testing.assert_array_equal(setup.trace.replicas[1], np.ones(12))
    counts = trace.counts[0]
    weighted = (100 * counts[:6].sum() + 200 * counts[6:].sum()) / counts.sum()
    config = parse_config(setup.sim_config)
    a, b = config.job("a/m"), config.job("b/m")
    assert a.slo_ms == 900 and a.max_replicas == 6 and a.weight == 2
    assert a.profiled_service_ms == pytest.approx(weighted) and a.service.mean_ms == pytest.approx(weighted)
    assert a.service.shape == FARO_SERVICE.shape
    assert b.profiled_service_ms == 50 and b.service.mean_ms == pytest.approx(50) and b.resources == {"cpu": 0.5}
    ignored = setup.notices[0].split("not simulated, ignored: ")[1].split(", ")
    assert {"actuator", "prometheus", "server", "safety"} <= set(ignored) and "jobs" not in ignored
    assert setup.notices[1] == f"trace jobs not in {tmp_path / 'farod.yaml'}, left out: other/m"


def test_policy_params_as_the_daemon_gives_them(tmp_path):
    config = parse_daemon_config({**yaml.safe_load(open(EXAMPLE)), "intervals": {"tick_s": 20, "plan_s": 600}})
    params = policy_params(config, ["faro-fairsum", "aiad", "replay"])
    assert params["faro-fairsum"] == {"tick_interval_s": 20, "plan_interval_s": 600, "quantile": 0.6}
    assert params["aiad"] == {"tick_interval_s": 20} and params["replay"] == {"tick_interval_s": 20}


def test_bad_daemon_config_and_missing_job_are_one_line(tmp_path):
    trace = read_trace(write_trace(tmp_path / "t.jsonl"))
    with pytest.raises(FarodError, match=r"jobs\[0\].slo_ms"):
        from_daemon_config(str(daemon_config(tmp_path, jobs=[{"application": "a", "deployment": "m", "slo_ms": -1}])), trace)
    with pytest.raises(FarodError, match="job c/m has no counts in the trace"):
        from_daemon_config(str(daemon_config(tmp_path, jobs=[{"application": "c", "deployment": "m", "slo_ms": 1}])), trace)


def test_compare_from_config_runs_the_configured_policy_beside_replay(tmp_path, capsys):
    out = tmp_path / "out.json"
    code = main(["compare", "--from-config", str(daemon_config(tmp_path)), "--trace", str(write_trace(tmp_path / "t.jsonl")),
                 "--seeds", "3", "--workers", "1", "--json", str(out)])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    notices = [line for line in captured.err.splitlines() if line.startswith("farod: notice:")]
    assert len(notices) == 2 and "ignored: actuator" in notices[0]
    runs = json.loads(out.read_text())["runs"]
    assert [(run["policy"], run["cpus"], run["jobs"]) for run in runs] == [("faro-fairsum", 8, 2), ("replay", 8, 2)]
    rows = {line.split("  ")[0] for line in captured.out.splitlines()[1:]}
    assert rows == {"faro-fairsum", "replay (what you ran)"}  # the JSON above keeps the name replay


def test_compare_accepts_the_example_daemon_config(capsys):
    assert main(["compare", "--from-config", EXAMPLE, "--minutes", "6", "--seeds", "1", "--workers", "1",
                 "--cpus", "4,8"]) == 0  # fmt: skip
    assert "faro-fairsum" in capsys.readouterr().out


def test_a_profiled_tail_shapes_the_simulated_service_and_is_told_to_the_policies(tmp_path):
    trace = read_trace(write_trace(tmp_path / "t.jsonl"))
    path = daemon_config(tmp_path)
    config = yaml.safe_load(path.read_text())
    config["jobs"][1].update(service_time_ms=150, service_tail_ms=450)
    path.write_text(yaml.safe_dump(config))
    job = parse_config(from_daemon_config(str(path), trace).sim_config).job("b/m")
    assert job.profiled_service_ms == 150 and job.profiled_tail_ms == 450
    assert job.spec("b/m").service_tail_ms == 450
    drawn = stats.lognorm(s=job.service.shape, loc=job.service.loc_ms, scale=job.service.scale_ms)
    assert drawn.mean() == pytest.approx(150) and drawn.ppf(0.99) == pytest.approx(450)
