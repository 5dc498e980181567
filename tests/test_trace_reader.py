"""The trace reader on hostile input: optional per-unit fields, bounds, and a fuzz over whole files.

Every input must become a Trace or one FarodError line naming the line; the CLI turns that into exit 2.
"""

import json
import math
import re
import string

import numpy as np
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from farod.cli import main
from farod.errors import FarodError
from farod.trace import MAX_COUNT, read_trace


def write(path, lines):
    path.write_bytes(b"".join((line if isinstance(line, bytes) else
                               (line if isinstance(line, str) else json.dumps(line)).encode()) + b"\n"
                              for line in lines))  # fmt: skip
    return path


def test_optional_fields_become_matrices_with_nan_where_not_recorded(tmp_path):
    path = write(tmp_path / "t.jsonl", [
        {"ts": 0, "counts": {"a": {"d": 5}, "b": {"d": 1}}, "replicas": {"a": {"d": 3}},
         "p99_ms": {"a": {"d": 640.5}}, "processing_ms": {"b": {"d": 151.0}}},
        {"ts": 60, "counts": {"a": {"d": 7}}, "replicas": {"a": {"d": 4}, "b": {"d": 1}}, "filled": {"a": ["d"]}},
    ])
    trace = read_trace(path, jobs=3)
    assert trace.keys == ["a/d", "b/d", "a-r1/d"]
    np.testing.assert_array_equal(trace.replicas, [[3, 4], [np.nan, 1], [3, 4]])
    np.testing.assert_array_equal(trace.p99_ms, [[640.5, np.nan], [np.nan, np.nan], [640.5, np.nan]])
    np.testing.assert_array_equal(trace.processing_ms[1], [151.0, np.nan])
    np.testing.assert_array_equal(trace.filled, [[False, True], [False, False], [False, True]])


def test_old_trace_has_no_optional_fields(tmp_path):
    trace = read_trace(write(tmp_path / "t.jsonl", [{"ts": 0, "counts": {"a": {"d": 5}}}]))
    assert trace.replicas is None and trace.p99_ms is None and trace.processing_ms is None and trace.filled is None


@pytest.mark.parametrize("line, message", [
    (b'{"ts": 1, "counts": {"a": {"d": 1e12}}}', "t.jsonl:2: counts.a.d must be a number from 0 to 1e+07, got 1e+12"),
    (b'{"ts": 1, "counts": {"a": {"d": NaN}}}', "t.jsonl:2: NaN is not a number a trace may hold"),
    (b'{"ts": 1, "counts": {"a": {"d": -Infinity}}}', "t.jsonl:2: -Infinity is not a number"),
    (b'{"ts": 1, "counts": {"a": {"d": 1e999}}}', "t.jsonl:2: counts.a.d must be a number from 0"),
    (b'{"ts": 1, "counts": {"a": {"d": ' + b"9" * 5000 + b"}}}", "t.jsonl:2: not a usable number"),
    (b'{"ts": 1, "counts": {"a": {"d": 1}, "a": {"e": 2}}}', "t.jsonl:2: duplicate key 'a'"),
    (b'{"ts": 1, "counts": {"a": {"d": 1}}, "replica": {}}', "t.jsonl:2: unknown field 'replica'"),
    (b'{"ts": 1, "counts": {"a": {"d": 1}}, "replicas": {"a": {"d": 2.5}}}', "t.jsonl:2: replicas.a.d must be an integer"),
    (b'{"ts": 1, "counts": {"a": {"d": 1}}, "p99_ms": {"a": {"d": -1}}}', "t.jsonl:2: p99_ms.a.d must be a number"),
    (b'{"ts": 1, "counts": {"a": {"d": 1}}, "filled": {"a": "d"}}', "t.jsonl:2: filled.a must be a list"),
    (b'{"ts": 1, "counts": {"a/b": {"d": 1}}}', "t.jsonl:2: counts.a/b.d: application name must be"),
    (b'{"ts": 1, "counts": {"a": {"": 1}}}', "t.jsonl:2: counts.a.'': deployment name must be"),
    (b'{"ts": 1.5, "counts": {}}', "t.jsonl:2: ts must be an integer"),
    (b'{"ts": 1}', "t.jsonl:2: counts is missing"),
    (b'{"ts": 1, "counts": {"a": {"d": 1}}}\xff', "t.jsonl:2: not UTF-8 (byte 37"),
    (b"[" * 100_000 + b"]" * 100_000, "t.jsonl:2: JSON nested too deep"),
    (b'{"ts": 1, "counts": {"a": {"d": 1}}, "p99_ms": "' + b"x" * (17 * 2**20) + b'"}', "t.jsonl:2: longer than 16 MiB"),
])
def test_bad_line_is_one_line_naming_it(tmp_path, line, message):
    path = write(tmp_path / "t.jsonl", [{"ts": 0, "counts": {"a": {"d": 1}}}, line])
    with pytest.raises(FarodError, match=re.escape(message)):
        read_trace(path)


def test_simulator_refuses_a_trace_too_big_to_record(tmp_path, capsys):
    lines = [{"ts": t, "counts": {f"a{j}": {"d": MAX_COUNT} for j in range(10)}} for t in range(4)]
    path = write(tmp_path / "t.jsonl", lines)
    assert main(["simulate", "--cpus", "4", "--policy", "aiad", "--trace", str(path), "--train", "none"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "4e+08 requests in total, more than the simulator's limit" in err


def test_cli_names_the_bad_line_with_exit_2(tmp_path, capsys):
    path = write(tmp_path / "t.jsonl", [{"ts": 0, "counts": {"a": {"d": 1}}}, b'{"ts": 1, "counts": {"a": {"d": 1e12}}}'])
    assert main(["simulate", "--cpus", "4", "--policy", "aiad", "--trace", str(path)]) == 2
    assert capsys.readouterr().err.startswith(f"farod: error: {path}:2: counts.a.d must be")


# The fuzz: valid files, then the same files with one hostile value or a few hostile bytes.
_name = st.sampled_from(["a", "b", "serve-0", "m"])
_good = {"counts": st.floats(0, MAX_COUNT), "replicas": st.integers(0, 50), "p99_ms": st.floats(0, 5000),
         "processing_ms": st.floats(0, 5000)}
_hostile = st.one_of(st.integers(-10, 10**13), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
                     st.none(), st.text(max_size=3), st.just({}), st.just([]),
                     st.text(alphabet="/\x00 é.", max_size=3))  # fmt: skip


def _record(ts: int, draw) -> dict:
    record = {"ts": ts}
    for field, values in _good.items():
        if field == "counts" or draw(st.booleans()):
            least = 1 if field == "counts" else 0
            record[field] = draw(st.dictionaries(_name, st.dictionaries(_name, values, min_size=least, max_size=2),
                                                 min_size=least, max_size=2))
    if draw(st.booleans()):
        record["filled"] = draw(st.dictionaries(_name, st.lists(_name, max_size=2), max_size=2))
    return record


def _mutate(record: dict, draw) -> dict:
    """Replace one value anywhere in the record (or add a field) with a hostile one."""
    paths = [()]
    stack = [((), record)]
    while stack:
        path, node = stack.pop()
        for key, value in node.items():
            paths.append(path + (key,))
            if isinstance(value, dict):
                stack.append((path + (key,), value))
    path = draw(st.sampled_from(paths))
    node = record
    for key in path[:-1]:
        node = node[key]
    node[path[-1] if path else draw(st.sampled_from(["extra", "filled", "ts"]))] = draw(_hostile)
    return record


@st.composite
def _files(draw) -> bytes:
    lines = [_record(ts, draw) for ts in range(draw(st.integers(1, 5)))]
    raw = [json.dumps(line).encode() for line in lines]
    mutation = draw(st.sampled_from(["none", "value", "bytes"]))
    k = draw(st.integers(0, len(lines) - 1))
    if mutation == "value":
        raw[k] = json.dumps(_mutate(lines[k], draw), allow_nan=True).encode()
    elif mutation == "bytes":
        at = draw(st.integers(0, len(raw[k])))
        raw[k] = raw[k][:at] + draw(st.binary(min_size=1, max_size=4)) + raw[k][at:]
    return b"\n".join(raw)


@seed(20261130)
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_files())
def test_fuzz_any_file_is_a_trace_or_one_named_line(tmp_path_factory, content):
    path = tmp_path_factory.mktemp("fuzz") / "t.jsonl"
    path.write_bytes(content)
    try:
        trace = read_trace(path)
    except FarodError as exc:
        message = str(exc)
        assert "\n" not in message and message.startswith(str(path))
        return
    assert trace.counts.ndim == 2 and trace.counts.shape[0] == len(trace.keys)
    assert np.all((trace.counts >= 0) & (trace.counts <= MAX_COUNT))
    for measure in (trace.replicas, trace.p99_ms, trace.processing_ms):
        assert measure is None or not np.any(np.isinf(measure))
    assert all(math.isfinite(x) for x in trace.counts.ravel())
