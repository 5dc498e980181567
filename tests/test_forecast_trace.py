"""farod.trace: the JSON-lines trace reader shared by the simulator and the forecast backtest."""

import json
from pathlib import Path

import numpy as np
import pytest

from farod.errors import FarodError
from farod.trace import read_trace

BUNDLED = Path(__file__).resolve().parents[1] / "farod" / "data" / "azure_twitter_10jobs_day10.jsonl"


def write_lines(path: Path, lines: list) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def test_bundled_trace_has_ten_jobs_for_six_hours():
    trace = read_trace(BUNDLED)
    assert trace.keys[0] == "serve-cluster0/classifier"
    assert trace.keys[9] == "serve-cluster9/classifier"
    assert trace.counts.shape == (10, 360)
    assert trace.counts[0, 0] == 780  # first line of the file
    assert trace.unit_s == 60.0


def test_jobs_replicate_series_k_mod_n_with_unique_keys_and_minutes_cut(tmp_path):
    path = write_lines(tmp_path / "t.jsonl", [
        {"ts": 0, "counts": {"a": {"d": 1}, "b": {"d": 2}}},
        {"ts": 1, "counts": {"a": {"d": 3}}},  # b absent: no requests
        {"ts": 2, "counts": {"a": {"d": 5}, "b": {"d": 6}}},
    ])
    trace = read_trace(path, jobs=5, minutes=2, unit_s=10)
    assert trace.keys == ["a/d", "b/d", "a-r1/d", "b-r1/d", "a-r2/d"]
    np.testing.assert_array_equal(trace.counts, [[1, 3], [2, 0], [1, 3], [2, 0], [1, 3]])
    assert trace.unit_s == 10.0


@pytest.mark.parametrize(
    "line, message",
    [
        ("{not json", "t.jsonl:2: not valid JSON"),
        ({"counts": {}}, "t.jsonl:2: ts must be an integer"),
        ({"ts": 1, "counts": {"a": 3}}, "t.jsonl:2: counts.a must be an object"),
        ({"ts": 1, "counts": {"a": {"d": -1}}}, "t.jsonl:2: counts.a.d must be a number from 0"),
        ({"ts": 0, "counts": {"a": {"d": 1}}}, "t.jsonl:2: ts 0 does not follow"),
    ],
)
def test_bad_line_is_named(tmp_path, line, message):
    path = write_lines(tmp_path / "t.jsonl", [{"ts": 0, "counts": {"a": {"d": 1}}}, line])
    with pytest.raises(FarodError, match=message):
        read_trace(path)


def test_bad_options_and_missing_file_are_named(tmp_path):
    with pytest.raises(FarodError, match="jobs: must be an integer from 1"):
        read_trace(BUNDLED, jobs=0)
    with pytest.raises(FarodError, match="minutes: must be an integer from 1"):
        read_trace(BUNDLED, minutes=-3)
    with pytest.raises(FarodError, match="unit_time"):
        read_trace(BUNDLED, unit_s=0)
    with pytest.raises(FarodError, match="cannot read trace"):
        read_trace(tmp_path / "missing.jsonl")
