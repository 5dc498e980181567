"""The training CSV reader: any bad byte, value or row is one line naming the file, line and column."""

from __future__ import annotations

import numpy as np
import pytest

from farod.errors import FarodError
from farod.forecast.train import BUNDLED_CSV, read_train_csv

HEADER = b"job_idx,series,day,sample,m0,m1\n"


@pytest.mark.parametrize("rows, message", [
    (b"0,x,1,0,5,nan\n", ":2: column 6 must be a count in [0, 1e+09] (empty: missing), got 'nan'"),
    (b"0,x,1,0,inf,5\n", ":2: column 5 must be a count in [0, 1e+09] (empty: missing), got 'inf'"),
    (b"0,x,1,0,5,-1\n", ":2: column 6 must be a count in [0, 1e+09] (empty: missing), got '-1'"),
    (b"0,x,1,0,1e308,5\n", ":2: column 5 must be a count in [0, 1e+09] (empty: missing), got '1e308'"),
    (b"0,x,1,0,5,6\n0,x,1,0,\xff,6\n", ":3: train CSV is not UTF-8 text (byte 0xff)"),
    (b"0,x,1,0,5,6\n0,x,1,0,7,8\n", ":3: job_idx 0 day 1 is already on line 2"),
    (b"1" * 30 + b",x,1,0,5,6\n", ":2: column 1 (job_idx) must be an integer >= 0, got '" + "1" * 30 + "'"),
    (b"0,x,\xc2\xb2,0,5,6\n", ":2: column 3 (day) must be an integer >= 0, got '\u00b2'"),
    (b"0,x,1,0,5\n", ":2: 5 columns, the header has 6"),
])
def test_bad_values_are_refused_with_line_and_column(tmp_path, rows, message):
    path = tmp_path / "train.csv"
    path.write_bytes(HEADER + rows)
    with pytest.raises(FarodError) as caught:
        read_train_csv(path)
    assert str(caught.value) == f"{path}{message}"


def test_empty_cells_are_missing_minutes_and_the_bundled_csv_reads(tmp_path):
    path = tmp_path / "train.csv"
    path.write_bytes(HEADER + b"0,x,1,0,5,\n0,x,1,1,oops-in-an-unused-sample-is-not-read,\n")
    assert np.array_equal(read_train_csv(path).series[0][1], [5.0, np.nan], equal_nan=True)
    assert read_train_csv(BUNDLED_CSV).days == list(range(1, 11))
