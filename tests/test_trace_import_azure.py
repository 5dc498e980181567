"""farod trace import azure-functions on small files in the public format, written here."""

import csv

import numpy as np
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from farod.cli import main
from farod.errors import FarodError
from farod.forecast.train import read_train_csv, train_for
from farod.trace import MAX_COUNT, read_trace
from farod.traces.azure import import_azure_functions

HEADER = ["HashOwner", "HashApp", "HashFunction", "Trigger", *map(str, range(1, 1441))]
# (owner, app, function) -> per-day rule for minute m (0-based): counts differ by function, day and minute
FUNCTIONS = {("o1", "a1", "f" * 40): lambda d, m: 5 * d + m % 7,
             ("o1", "a1", "g" * 40): lambda d, m: 50 + d,
             ("o2", "a2", "h" * 40): lambda d, m: (m // 60) + d,
             ("o3", "a3", "k" * 40): lambda d, m: 1000}  # busiest, but missing on day 2


def write_day(directory, day):
    path = directory / f"invocations_per_function_md.anon.d{day:02d}.csv"
    with open(path, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        for fid, rule in FUNCTIONS.items():
            if fid[0] == "o3" and day == 2:
                continue
            writer.writerow([*fid, "http", *(rule(day, m) for m in range(1440))])
        writer.writerow(["o2", "a2", "h" * 40, "timer", *([1] * 1440)])  # a second trigger: added
    return str(path)


def test_import_picks_the_busiest_functions_of_every_day_and_writes_trace_and_train(tmp_path, capsys):
    files = [write_day(tmp_path, day) for day in (3, 1, 2)]  # order given does not matter: d03 is the trace
    out, train = tmp_path / "t.jsonl", tmp_path / "train.csv"
    assert main(["trace", "import", "azure-functions", *files, "--window", "09:00-10:30", "--functions", "2",
                 "--out", str(out), "--train-out", str(train)]) == 0  # fmt: skip
    trace = read_trace(out)
    minutes = np.arange(540, 630)
    # 53 a minute beats 15 + m % 7, which beats (m // 60) + 3 + 1 (two triggers); kkk is missing on day 2
    assert trace.keys == ["fn0/gggggggggggg", "fn1/ffffffffffff"]
    np.testing.assert_array_equal(trace.counts[0], np.full(90, 53))
    np.testing.assert_array_equal(trace.counts[1], 15 + minutes % 7)
    days = read_train_csv(train)
    assert days.days == [1, 2]
    np.testing.assert_array_equal(days.series[1][2], 10 + minutes % 7)
    np.testing.assert_array_equal(train_for(trace, days)[0], [np.full(90, 51), np.full(90, 52)])
    err = capsys.readouterr().err
    assert "trace: day 3, 2 functions x 90 minutes" in err and "function " + "g" * 40 in err


def test_ids_and_scale_to_peak(tmp_path):
    files = [write_day(tmp_path, day) for day in (1, 3)]
    ids = tmp_path / "ids.csv"
    ids.write_text(f"o1,a1,{'f' * 40}\no3,a3,{'k' * 40}\n")
    out = tmp_path / "t.jsonl"
    assert main(["trace", "import", "azure-functions", *files, "--window", "00:00-00:10", "--ids", str(ids),
                 "--scale-to-peak", "300", "--out", str(out)]) == 0  # fmt: skip
    trace = read_trace(out)
    assert trace.keys == ["fn0/ffffffffffff", "fn1/kkkkkkkkkkkk"]
    np.testing.assert_array_equal(trace.counts[0], np.rint((15 + np.arange(10) % 7) * 300 / 21))
    np.testing.assert_array_equal(trace.counts[1], np.full(10, 300))


@pytest.mark.parametrize("change, args, message", [
    (None, ["--window", "10:00-09:00"], "--window: '10:00-09:00' is not a window"),
    (None, ["--window", "9-10"], "--window: expected HH:MM-HH:MM"),
    (None, ["--window", "09:00-10:00", "--scale", "nan"], "--scale: must be a positive number"),
    ("header", ["--window", "09:00-10:00"], ":1: header must be HashOwner,HashApp,HashFunction,Trigger"),
    ("negative", ["--window", "00:00-01:00"], ":3: invocation counts must be from 0 to"),
    ("short", ["--window", "09:00-10:00"], ":3: 5 columns, expected 1444"),
    ("binary", ["--window", "09:00-10:00"], ": not UTF-8"),
    (None, ["--window", "09:00-10:00", "--ids", "IDS"], "--ids: function o3,a3,kkkk"),
])
def test_bad_input_is_one_line(tmp_path, capsys, change, args, message):
    files = [write_day(tmp_path, 2), write_day(tmp_path, 3)]
    if change:
        lines = open(files[1], "rb").read().split(b"\n")
        if change == "header":
            lines[0] = lines[0].replace(b"HashApp", b"App")
        elif change == "negative":
            lines[2] = lines[2].replace(b",http,", b",http,-4,", 1).rsplit(b",", 1)[0]
        elif change == "short":
            lines[2] = b"a,b,c,d,1"
        else:
            lines[2] = b"\xff\xfe" + lines[2]
        open(files[1], "wb").write(b"\n".join(lines))
    (tmp_path / "IDS").write_text(f"o3,a3,{'k' * 40}\n")
    args = [str(tmp_path / "IDS") if arg == "IDS" else arg for arg in args]
    assert main(["trace", "import", "azure-functions", *files, *args, "--out", str(tmp_path / "t.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


# The fuzz: a valid day file with one cell or a few bytes replaced; an import gives a trace or one line.
_cells = st.one_of(st.integers(-5, 2 * MAX_COUNT).map(str), st.sampled_from(["", "1.5", "nan", "1e3", " 7", "x"]),
                   st.text(max_size=3))  # fmt: skip


@st.composite
def _day_files(draw) -> tuple[bytes, bytes]:
    rows = [",".join(HEADER)]
    for k in range(draw(st.integers(1, 3))):
        rows.append(",".join([f"o{k}", "a", f"f{k}", "http", *map(str, [k + 1] * 1440)]))
    text = "\n".join(rows).encode()
    lines = text.split(b"\n")
    row = draw(st.integers(0, len(lines) - 1))
    mutation = draw(st.sampled_from(["none", "cell", "bytes", "cut"]))
    if mutation == "cell":
        cells = lines[row].split(b",")
        cells[draw(st.integers(0, len(cells) - 1))] = draw(_cells).encode("utf-8", "surrogatepass")
        lines[row] = b",".join(cells)
    elif mutation == "bytes":
        at = draw(st.integers(0, len(lines[row])))
        lines[row] = lines[row][:at] + draw(st.binary(min_size=1, max_size=4)) + lines[row][at:]
    elif mutation == "cut":
        lines[row] = lines[row][: draw(st.integers(0, len(lines[row])))]
    return text, b"\n".join(lines)


@seed(20261130)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_day_files())
def test_fuzz_any_day_file_imports_or_is_one_line(tmp_path_factory, files):
    directory = tmp_path_factory.mktemp("azure")
    paths = []
    for day, content in enumerate(files, start=1):
        path = directory / f"invocations_per_function_md.anon.d{day:02d}.csv"
        path.write_bytes(content)
        paths.append(str(path))
    try:
        imported = import_azure_functions(paths, window=(0, 60), functions=2)
    except FarodError as exc:
        assert "\n" not in str(exc)
        return
    assert imported.trace.shape[1] == 60 and (imported.trace >= 0).all() and (imported.trace <= MAX_COUNT).all()
    assert list(imported.train) == [1]
