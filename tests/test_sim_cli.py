"""`farod simulate` / `farod compare` as a user runs them: bad input, the JSON shape, Ctrl-C."""

import array
import fcntl
import json
import os
import signal
import subprocess
import sys
import termios
import time

import pytest

from farod.cli import main

RECORD_FIELDS = {
    "policy", "cpus", "seed", "jobs", "minutes", "requests", "slo_violation_rate", "lost_utility",
    "request_slo_attainment", "p99_ms", "dropped", "avg_replicas", "max_replicas", "scaling_actions",
    "decision_ms_p50", "wall_s",
}  # fmt: skip


@pytest.fixture
def tiny_trace(tmp_path):
    path = tmp_path / "tiny.jsonl"
    lines = [{"ts": m, "counts": {"a": {"m": 300 + 60 * m}, "b": {"m": 120}}} for m in range(5)]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return str(path)


def one_error_line(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("farod: error: ")
    return err[0]


def test_unknown_policy(capsys, tiny_trace):
    line = one_error_line(capsys, ["compare", "--trace", tiny_trace, "--cpus", "4", "--policies", "aiad,hpa"])
    assert "unknown policy 'hpa'" in line


def test_malformed_trace_line_is_named(capsys, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"ts": 0, "counts": {"a": {"m": 3}}}\n{"ts": 1, "counts": {"a": {"m": -2}}}\n')
    line = one_error_line(capsys, ["simulate", "--trace", str(path), "--cpus", "4", "--policy", "aiad"])
    assert "bad.jsonl:2" in line


def test_quota_below_the_minimums(capsys, tiny_trace):
    line = one_error_line(capsys, ["simulate", "--trace", tiny_trace, "--jobs", "6", "--cpus", "5", "--policy", "aiad"])
    assert "quota.cpu: 5 is below the 6 the jobs' min_replicas need" in line


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--cpus", "abc"], "argument --cpus: not a number"),
        (["--cpus", "4", "--seeds", "1,x"], "argument --seeds: not an integer"),
        (["--cpus", "4", "--seeds", "1,-1"], "argument --seeds: a seed is an integer from 0 to 4294967295, got '-1'"),
        (["--cpus", "4", "--seeds", "9" * 400], "argument --seeds: a seed is an integer from 0"),
        (["--cpus", "4", "--minutes", "0"], "argument --minutes: must be a positive integer"),
        (["--cpus", "4", "--policy-params", "[1]"], "argument --policy-params: must be a JSON object"),
        (["--cpus", "4", "--policy-params", '{"aiad": {"nope": 1}}'], "unknown parameter 'nope'"),
        (["--cpus", "4", "--phases", "0"], "argument --phases: from 1 to 60 phases, got '0'"),
        (["--cpus", "4", "--phases", "61"], "argument --phases: from 1 to 60 phases, got '61'"),
        (["--cpus", "4", "--phases", "two"], "argument --phases: not an integer"),
    ],
)
def test_bad_flags(capsys, tiny_trace, flags, expected):
    line = one_error_line(capsys, ["compare", "--trace", tiny_trace, "--policies", "aiad", *flags])
    assert expected in line


def test_bad_config_field(capsys, tiny_trace, tmp_path):
    config = tmp_path / "sim.json"
    config.write_text(json.dumps({"queue_cap": -1}))
    line = one_error_line(
        capsys, ["simulate", "--trace", tiny_trace, "--cpus", "4", "--policy", "aiad", "--config", str(config)]
    )
    assert "config.queue_cap: must be an integer >= 0" in line


def test_compare_writes_one_record_per_run_a_table_and_figures(capsys, tiny_trace, tmp_path):
    out = tmp_path / "out"
    argv = ["compare", "--trace", tiny_trace, "--cpus", "4,6", "--policies", "fairshare,aiad", "--seeds", "1,2",
            "--workers", "2", "--out", str(out), "--json", str(out / "c.json")]  # fmt: skip
    assert main(argv) == 0
    runs = json.loads((out / "c.json").read_text())["runs"]
    assert [(r["policy"], r["cpus"], r["seed"]) for r in runs] == [
        (p, c, s) for p in ("fairshare", "aiad") for c in (4, 6) for s in (1, 2)
    ]
    for record in runs:
        assert RECORD_FIELDS <= set(record)
        assert record["jobs"] == 2 and record["minutes"] == 5
        assert 0 <= record["slo_violation_rate"] <= 1
        assert record["max_replicas"] <= record["cpus"]
    table = capsys.readouterr().out
    assert "fairshare" in table and "violation" in table
    names = set(os.listdir(out))
    assert {"compare.png", "timeline-aiad-4cpu.png", "timeline-fairshare-6cpu.png"} <= names


@pytest.mark.parametrize("phase", ["1", "-0.1", "nan", "half"])
def test_a_plan_phase_outside_0_to_1_is_refused(capsys, tiny_trace, phase):
    line = one_error_line(capsys, ["simulate", "--trace", tiny_trace, "--cpus", "4", "--policy", "faro-sum",
                                   f"--plan-phase={phase}"])  # fmt: skip
    assert "argument --plan-phase: " in line and repr(phase) in line


def test_phases_run_every_seed_at_each_plan_phase_and_the_table_counts_them(capsys, tiny_trace, tmp_path):
    out = tmp_path / "c.json"
    argv = ["compare", "--trace", tiny_trace, "--cpus", "4", "--policies", "faro-sum,aiad", "--seeds", "1,2",
            "--phases", "4", "--policy-params", '{"faro-sum": {"plan_interval_s": 60}}', "--workers", "2",
            "--json", str(out)]  # fmt: skip
    assert main(argv) == 0
    records = json.loads(out.read_text())["runs"]
    runs = [r for r in records if r["policy"] == "faro-sum"]
    assert [(r["seed"], r["plan_phase"]) for r in runs] == [(s, p) for s in (1, 2) for p in (0, 0.25, 0.5, 0.75)]
    # aiad never plans: its phases would all be the same run, so it runs once per seed.
    assert [(r["seed"], r["plan_phase"]) for r in records if r["policy"] == "aiad"] == [(1, 0), (2, 0)]
    header, *rows = capsys.readouterr().out.splitlines()[:3]
    assert header.split()[:3] == ["policy", "cpus", "runs"]
    assert [row.split()[:3] for row in rows] == [["faro-sum", "4", "8"], ["aiad", "4", "2"]]
    # A shifted plan clock plans at other times, so some run differs from its seed's phase-0 run.
    by_seed = {s: [r["slo_violation_rate"] for r in runs if r["seed"] == s] for s in (1, 2)}
    assert any(len(set(rates)) > 1 for rates in by_seed.values())


def test_simulate_json_to_stdout_keeps_the_table_off_it(capsys, tiny_trace):
    argv = ["simulate", "--trace", tiny_trace, "--cpus", "4", "--policy", "fairshare", "--seed", "3", "--json", "-"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    (record,) = json.loads(captured.out)["runs"]
    assert (record["policy"], record["cpus"], record["seed"]) == ("fairshare", 4, 3)
    assert "violation" in captured.err


def _stderr_pipe_with_room(room: int) -> tuple[int, int, int]:
    """(read end, write end, filler bytes) of a one-page pipe already holding all but ``room`` bytes:
    a child writing to it blocks once it is ``room`` bytes ahead, until the test reads."""
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 4096)
    filler = fcntl.fcntl(write_end, fcntl.F_GETPIPE_SZ) - room
    os.write(write_end, b"\n" * filler)
    return read_end, write_end, filler


def _unread(fd: int) -> int:
    count = array.array("i", [0])
    fcntl.ioctl(fd, termios.FIONREAD, count)
    return count[0]


def test_an_interrupted_suite_keeps_the_finished_runs(tmp_path):
    out = tmp_path / "c.json"
    argv = [sys.executable, "-m", "farod", "compare", "--minutes", "120", "--cpus", "32", "--policies", "fairshare",
            "--seeds", "1,2,3,4,5,6,7,8", "--train", "none", "--workers", "2", "--json", str(out)]  # fmt: skip
    # Room for one progress line (~85 bytes) but not two: the suite cannot run ahead of this test.
    read_end, write_end, filler = _stderr_pipe_with_room(120)
    # A shell starts background jobs with SIGINT ignored, and the child would inherit that (make test &).
    process = subprocess.Popen(argv, stderr=write_end, stdout=subprocess.DEVNULL,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    os.close(write_end)
    deadline = time.monotonic() + 600
    while _unread(read_end) == filler and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # until the first finished run is reported
    process.send_signal(signal.SIGINT)
    with os.fdopen(read_end, encoding="utf-8", errors="replace") as stderr:
        lines = [line for line in stderr if line.strip()]
    process.wait(timeout=120)
    assert process.returncode == 130, "".join(lines)
    assert lines[0].startswith("compare [###") and " 1/8 runs" in lines[0], "".join(lines)
    assert "farod: interrupted" in lines[-1]
    data = json.loads(out.read_text())
    assert data["interrupted"] is True
    assert 1 <= len(data["runs"]) <= 2  # the reported run, and at most the one whose line could not be written
    assert all(run["policy"] == "fairshare" for run in data["runs"])


def test_jobs_minutes_unit_time_and_config_shape_the_run(capsys, tiny_trace, tmp_path):
    config = tmp_path / "sim.yaml"
    config.write_text("jobs:\n  a-r1/m: {slo_ms: 100}\n")

    def record(*extra):
        argv = ["simulate", "--trace", tiny_trace, "--jobs", "3", "--minutes", "4", "--unit-time", "30",
                "--cpus", "12", "--policy", "fairshare", "--json", "-", *extra]  # fmt: skip
        assert main(argv) == 0
        (run,) = json.loads(capsys.readouterr().out)["runs"]
        return run

    plain, strict = record(), record("--config", str(config))
    assert (plain["jobs"], plain["minutes"], plain["unit_s"]) == (3, 4, 30.0)
    # The same requests (same seed); only a-r1/m (a copy of job a) is judged against 100 ms instead of 720.
    assert plain["requests"] == strict["requests"]
    assert strict["request_slo_attainment"] < plain["request_slo_attainment"] - 0.2
