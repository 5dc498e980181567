"""farod trace export against a real Prometheus whose history promtool wrote, then compare with replay.

Five days of Ray-Serve-shaped series (08:00-13:00 each day, a sample every 15 s): a/m with a counter
reset, b/m counted by two router handles (one with a reset), c/m with eight minutes that no sample
covers. The export must give back the written counts exactly away from gaps and name the gaps to the
minute.
"""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
import yaml

from daemon_support import PrometheusServer
from farod.cli import main
from farod.forecast.train import read_train_csv
from farod.trace import read_trace
from farod.traces import export as export_module
from ray_history import History

DAY = 1440
D0 = (math.floor(time.time() / 86400) - 5) * 86400  # midnight five days ago: inside Prometheus' retention
WINDOW = range(4 * DAY + 540, 4 * DAY + 720)  # day 4, 09:00-12:00
GAP = range(4 * DAY + 630, 4 * DAY + 637)  # c/m: 10:30-10:37 unsampled, so 10:30-10:38 is uncounted


def count(k: int, minute: int) -> int:
    return 200 + 100 * k + (minute * 37 + k * 11) % 97


def replicas(k: int, minute: int) -> int:
    return 1 + ((minute // 20) + k) % 3


def processing_ms(k: int, minute: int) -> float:
    return 100.0 + 10 * k + (minute // 60) % 5 * 7


def latency_ms(k: int, minute: int) -> float:
    return [90.0, 300.0, 700.0, 2000.0][minute // 60 % 4]


HISTORY = History(
    jobs=[("a", "m"), ("b", "m"), ("c", "m")], start=D0, minutes=[range(d * DAY + 480, d * DAY + 780) for d in range(5)],
    count=count, replicas=replicas, processing_ms=processing_ms, latency_ms=latency_ms, handles=2,
    resets=frozenset({(0, 4 * DAY + 600), (1, 3 * DAY + 700)}), gaps=frozenset((2, m) for m in GAP),
)  # fmt: skip
UNCOUNTED = set(range(GAP.start, GAP.stop + 1))  # a minute counts when it and the one before were sampled


def iso(minute: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(D0 + minute * 60))


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("history")
    HISTORY.write(workdir)
    server = PrometheusServer(workdir, targets=[])
    server.start()
    yield server
    server.stop()


def daemon_config(tmp_path, url: str):
    path = tmp_path / "farod.yaml"
    path.write_text(yaml.safe_dump({
        "prometheus": {"url": url, "timeout_s": 10},
        "jobs": [{"application": app, "deployment": "m", "slo_ms": 720, "max_replicas": 6} for app in "abc"],
        "quota": {"cpu": 10}, "policy": {"name": "faro-fairsum", "params": {"quantile": 0.7}},
        "actuator": {"kind": "dry-run"}, "server": {"port": 9999},
    }))
    return path


def export(tmp_path, url, *extra):
    out = tmp_path / "trace.jsonl"
    args = ["trace", "export", "--config", str(daemon_config(tmp_path, url)), "--start", iso(WINDOW.start),
            "--end", iso(WINDOW.stop), "--out", str(out), *extra]  # fmt: skip
    return main(args), out


def test_export_gives_back_the_written_counts_and_names_the_gaps(prometheus, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(export_module, "CHUNK_MINUTES", 50)  # four chunks per day
    code, out = export(tmp_path, prometheus.url, "--train-out", str(tmp_path / "train.csv"), "--train-days", "2")
    err = capsys.readouterr().err
    assert code == 0, err
    trace = read_trace(out)
    assert trace.keys == ["a/m", "b/m", "c/m"]
    minutes = np.array(WINDOW)
    expected = np.array([[count(k, m) for m in WINDOW] for k in range(3)], dtype=float)
    gaps = np.zeros(expected.shape, dtype=bool)
    gaps[2] = [m in UNCOUNTED for m in WINDOW]
    np.testing.assert_array_equal(trace.filled, gaps)
    np.testing.assert_array_equal(trace.counts[~gaps], expected[~gaps])
    assert (trace.counts[gaps] > 0).all()  # filled from the neighbours, never zero
    written_replicas = np.array([[replicas(k, m) for m in WINDOW] for k in range(3)], dtype=float)
    sampled = ~np.isin(minutes, list(GAP))
    np.testing.assert_array_equal(trace.replicas[:2], written_replicas[:2])
    np.testing.assert_array_equal(trace.replicas[2, sampled], written_replicas[2, sampled])
    assert np.isnan(trace.replicas[2, ~sampled]).all()
    np.testing.assert_allclose(trace.processing_ms[0], [processing_ms(0, m) for m in WINDOW], rtol=1e-9)
    bounds = np.array((0, *HISTORY.buckets))
    for k in range(3):  # all of a minute's requests in one bucket: Prometheus puts p99 at 99 % of its width
        recorded = ~np.isnan(trace.p99_ms[k])
        np.testing.assert_array_equal(recorded, sampled if k == 2 else np.ones(len(WINDOW), dtype=bool))
        bucket = np.searchsorted(bounds, [latency_ms(k, m) for m in WINDOW])
        expected_p99 = bounds[bucket - 1] + 0.99 * (bounds[bucket] - bounds[bucket - 1])
        np.testing.assert_allclose(trace.p99_ms[k][recorded], expected_p99[recorded], rtol=1e-9)
    first, last = min(UNCOUNTED), max(UNCOUNTED)
    assert f"gaps: c/m: 8 of 180 minutes missing, filled: {iso(first)} to {iso(last + 1)} (8 min)" in err
    assert "gaps: a/m" not in err and "gaps: 8 job-minutes missing in all" in err
    days = read_train_csv(tmp_path / "train.csv")
    assert days.days == [1, 2]
    for number, back in ((1, 2), (2, 1)):
        for k in range(3):
            np.testing.assert_array_equal(days.series[k][number], [count(k, m - back * DAY) for m in WINDOW])


def test_too_many_gaps_are_refused_naming_job_and_range(prometheus, tmp_path, capsys):
    code, out = export(tmp_path, prometheus.url, "--max-gap-fraction", "0.01")
    err = capsys.readouterr().err.splitlines()
    assert code == 2 and not out.exists()
    first, last = min(UNCOUNTED), max(UNCOUNTED)
    assert err[-1] == (f"farod: error: c/m: 4% of its minutes are gaps (more than --max-gap-fraction 0.01), "
                       f"the first {iso(first)} to {iso(last + 1)} (8 min)")  # fmt: skip


def test_unreachable_prometheus_and_bad_times_are_one_line(tmp_path, capsys):
    code, _ = export(tmp_path, "http://127.0.0.1:9")
    assert code == 2 and capsys.readouterr().err.startswith("farod: error: prometheus.url: Prometheus at")
    config = daemon_config(tmp_path, "http://127.0.0.1:9")
    for start, message in (("yesterday", "--start: not a time"), ("1000000001", "--start: must be a whole minute")):
        assert main(["trace", "export", "--config", str(config), "--start", start, "--end", "2000000040",
                     "--out", str(tmp_path / "t.jsonl")]) == 2  # fmt: skip
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err


def test_export_then_compare_has_the_replay_row(prometheus, tmp_path, capsys):
    code, out = export(tmp_path, prometheus.url, "--train-out", str(tmp_path / "train.csv"), "--train-days", "2")
    assert code == 0
    capsys.readouterr()
    records = tmp_path / "compare.json"
    assert main(["compare", "--from-config", str(tmp_path / "farod.yaml"), "--trace", str(out), "--train",
                 str(tmp_path / "train.csv"), "--seeds", "42", "--workers", "1", "--json", str(records)]) == 0  # fmt: skip
    captured = capsys.readouterr()
    assert [line for line in captured.err.splitlines() if "notice" in line] == [
        f"farod: notice: {tmp_path / 'farod.yaml'}: not simulated, ignored: actuator, prometheus, server"]
    runs = json.loads(records.read_text())["runs"]
    assert [(run["policy"], run["cpus"], run["minutes"]) for run in runs] == [("faro-fairsum", 10, 180),
                                                                             ("replay", 10, 180)]  # fmt: skip
    table_rows = [line.split()[0] for line in captured.out.splitlines() if line.split()]
    assert "replay" in table_rows and "faro-fairsum" in table_rows
    replay = runs[1]
    assert replay["avg_replicas"] == pytest.approx(np.mean([sum(replicas(k, m) for k in range(3)) for m in WINDOW]),
                                                   rel=0.05)  # fmt: skip
