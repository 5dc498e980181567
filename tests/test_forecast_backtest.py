"""`farod forecast backtest` and farod.forecast.backtest: the §5 record, hand-checked scores, no leaks, bad input."""

import json
from pathlib import Path

import numpy as np
import pytest

from farod.cli import main
from farod.errors import FarodError
from farod.forecast import backtest as backtesting
from farod.forecast import train as training
from farod.trace import read_trace

DATA = Path(__file__).resolve().parents[1] / "farod" / "data"
BUNDLED_TRACE = DATA / "azure_twitter_10jobs_day10.jsonl"
BUNDLED_CSV = training.BUNDLED_CSV
SERIES = {"a": [5, 7, 6, 9, 12, 10, 8, 0, 3, 4, 6, 5], "b": [100, 90, 95, 130, 120, 80, 85, 88, 91, 99, 97, 100]}


@pytest.fixture
def tiny_trace(tmp_path) -> Path:
    path = tmp_path / "tiny.jsonl"
    lines = [{"ts": t, "counts": {app: {"d": SERIES[app][t]} for app in SERIES}} for t in range(12)]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    status = main(["forecast", "backtest", *map(str, argv)])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_last_rmse_and_scores_match_a_hand_computation(tiny_trace, tmp_path, capsys):
    status, out, _ = run_cli(capsys, "--trace", tiny_trace, "--model", "last", "--context", 3, "--horizon", 2,
                             "--quantiles", "0.5,0.9", "--json", tmp_path / "out.json")
    assert status == 0
    record = json.loads((tmp_path / "out.json").read_text())
    squares, ratios = [], []
    for series in SERIES.values():
        for start in range(3, 12 - 2 + 1):
            for step in range(2):
                actual, forecast = series[start + step], series[start - 1]
                squares.append((actual - forecast) ** 2)
                if actual:
                    ratios.append(abs(actual - forecast) / actual)
    assert record["model"] == "last" and record["context"] == 3 and record["horizon"] == 2
    assert record["windows"] == 2 * 8
    assert record["rmse"] == pytest.approx(np.sqrt(np.mean(squares)))
    assert record["mape"] == pytest.approx(100 * np.mean(ratios))
    assert set(record["pinball"]) == set(record["coverage"]) == {"0.5", "0.9"}
    assert record["coverage"]["0.9"] >= record["coverage"]["0.5"]
    assert record["fit_ms_p50"] >= 0
    assert "last" in out and "rmse" in out  # the human table


def test_default_model_record_and_plot(tiny_trace, tmp_path, capsys):
    status, _, _ = run_cli(capsys, "--trace", tiny_trace, "--context", 3, "--horizon", 2,
                           "--json", tmp_path / "out.json", "--plot", tmp_path / "job1.png", "--job", 1)
    assert status == 0
    record = json.loads((tmp_path / "out.json").read_text())
    assert record["model"] == "seasonal"
    fields = {"model", "context", "horizon", "windows", "rmse", "mape", "pinball", "coverage", "fit_ms_p50"}
    assert fields <= set(record)
    assert (tmp_path / "job1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_model_all_writes_one_record_per_model_without_the_oracle(tiny_trace, capsys):
    status, out, err = run_cli(capsys, "--trace", tiny_trace, "--model", "all", "--context", 3, "--horizon", 2,
                               "--json", "-")
    assert status == 0
    records = json.loads(out)  # stdout holds only the JSON; the table went to stderr
    assert [record["model"] for record in records] == ["last", "ma", "ets", "sarimax", "seasonal"]
    assert "seasonal" in err


def test_oracle_backtest_is_perfect_at_the_median(tiny_trace):
    counts = read_trace(tiny_trace).counts
    record = backtesting.backtest(counts, "oracle", context=3, horizon=2).summary()
    assert record["rmse"] == 0 and record["coverage"]["0.9"] == 1.0


def test_train_uses_only_days_before_the_trace():
    trace = read_trace(BUNDLED_TRACE, minutes=60)
    days = training.read_train_csv(BUNDLED_CSV)
    assert training.trace_day(trace, days) == 10
    train = training.train_for(trace, days)
    assert len(train) == 10 and all(rows.shape == (9, 360) for rows in train)
    for job, rows in enumerate(train):
        assert not any(np.array_equal(row[:60], trace.counts[job]) for row in rows)
    assert [rows.shape[0] for rows in training.train_for(trace, days, train_days=[3, 4])] == [2] * 10
    with pytest.raises(FarodError, match="--train-days: day 10 is the trace itself"):
        training.train_for(trace, days, train_days=range(1, 11))


def test_seasonal_beats_the_moving_average_on_the_bundled_hour():
    trace = read_trace(BUNDLED_TRACE, minutes=90)
    train = training.train_for(trace, training.read_train_csv(BUNDLED_CSV))
    scores = {model: backtesting.backtest(trace.counts, model, train=train).summary() for model in ("ma", "seasonal")}
    assert scores["seasonal"]["rmse"] < 0.8 * scores["ma"]["rmse"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model", "prophet"], "--model: unknown model 'prophet'"),
        (["--quantiles", "0.5,1.5"], "--quantiles: expected numbers in (0, 1)"),
        (["--quantiles", "a"], "--quantiles: expected numbers in (0, 1)"),
        (["--context", "0"], "--context: must be a positive integer"),
        (["--context", "10", "--horizon", "5"], "--context/--horizon: 10 + 5 minutes do not fit"),
        (["--context", "9" * 400], "minutes do not fit"),  # numpy refused to allocate the windows: a traceback
        (["--horizon", "9" * 30], "minutes do not fit"),
        (["--json", "{tiny_trace}/out.json"], "--json: cannot write"),  # before the backtest, not after it
        (["--train-days", "1-3"], "--train-days: needs --train"),
        (["--train-days", "x"], "--train-days: expected days like 1-8"),
        (["--plot", "p.png", "--job", "7"], "--job: must be in 0..1"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_flags_exit_2_with_one_line(tiny_trace, capsys, argv, message):
    argv = [arg.replace("{tiny_trace}", str(tiny_trace)) for arg in argv]
    status, out, err = run_cli(capsys, "--trace", tiny_trace, *argv)
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("farod: error: ") and message in err


def test_bad_trace_and_csv_lines_are_named(tiny_trace, tmp_path, capsys):
    broken = tmp_path / "broken.jsonl"
    broken.write_text(tiny_trace.read_text().replace('{"ts": 4,', '{"ts": 4', 1).replace('"ts": 4', '"ts": 4 x', 1))
    status, _, err = run_cli(capsys, "--trace", broken)
    assert status == 2 and err.count("\n") == 1 and "broken.jsonl:5: not valid JSON" in err
    csv = tmp_path / "train.csv"
    csv.write_text("job_idx,series,day,sample,m0,m1\n0,x,1,0,5,6\n0,x,2,0,5,oops\n")
    status, _, err = run_cli(capsys, "--trace", tiny_trace, "--train", csv)
    assert status == 2 and err.count("\n") == 1 and "train.csv:3: column 6 must be a count in [0, 1e+09] (empty: missing), got 'oops'" in err
    csv.write_text("job,day\n")
    status, _, err = run_cli(capsys, "--trace", tiny_trace, "--train", csv)
    assert status == 2 and "train.csv:1: header must be job_idx, series, day, sample" in err
