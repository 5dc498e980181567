"""Write farod's trace (JSON lines) and training CSV, the formats of ``docs/traces.md``.

Example::

    >>> write_trace("t.jsonl", ["a/m"], counts=np.array([[3.0, 4.0]]), ts=[0, 60])
    >>> write_train_csv("train.csv", ["a/m"], {1: np.array([[5.0, np.nan]])})   # NaN: an empty cell

Whole numbers are written as integers (``812``, not ``812.0``); NaN in a measure means "not
recorded" and leaves the job out of that field on that line.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Mapping, Sequence

import numpy as np

from farod.errors import FarodError


def write_trace(path: str | os.PathLike, keys: Sequence[str], *, counts: np.ndarray, ts: Sequence[int],
                measures: Mapping[str, np.ndarray] | None = None, filled: np.ndarray | None = None) -> None:  # fmt: skip
    """One line per unit; ``measures`` by field name (``replicas``, ``p99_ms``, ``processing_ms``)."""
    pairs = [key.split("/", 1) for key in keys]
    fields = {"counts": _Cells(counts), **{name: _Cells(values) for name, values in (measures or {}).items()}}
    with _open(path) as out:
        for unit, stamp in enumerate(ts):
            line: dict = {"ts": int(stamp)}
            for name, cells in fields.items():
                recorded = cells.per_job(pairs, unit)
                if recorded or name == "counts":
                    line[name] = recorded
            if filled is not None and filled[:, unit].any():
                line["filled"] = {}
                for (application, deployment), gap in zip(pairs, filled[:, unit]):
                    if gap:
                        line["filled"].setdefault(application, []).append(deployment)
            out.write(json.dumps(line, separators=(",", ":")) + "\n")


def write_train_csv(path: str | os.PathLike, keys: Sequence[str], days: Mapping[int, np.ndarray]) -> None:
    """Rows ``job_idx, series, day, sample 0, m0...`` per job and day, jobs in ``keys`` order."""
    width = max(values.shape[1] for values in days.values())
    with _open(path, newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["job_idx", "series", "day", "sample", *(f"m{m}" for m in range(width))])
        for k, key in enumerate(keys):
            for day in sorted(days):
                writer.writerow([k, key, day, 0, *(_number(value) for value in days[day][k])])


class _Cells:
    """A (jobs, units) matrix as Python numbers per unit, converted once (a week of 100 jobs is 1M cells)."""

    def __init__(self, values: np.ndarray):
        whole = np.isfinite(values) & (values == np.round(values))
        self.ints = np.where(whole, values, 0).astype(np.int64).T.tolist()
        self.floats = np.round(np.nan_to_num(values), 3).T.tolist()
        self.whole = whole.T.tolist()
        self.known = (~np.isnan(values)).T.tolist()

    def per_job(self, pairs: list[list[str]], unit: int) -> dict:
        field: dict = {}
        ints, floats, whole, known = self.ints[unit], self.floats[unit], self.whole[unit], self.known[unit]
        for j, (application, deployment) in enumerate(pairs):
            if known[j]:
                field.setdefault(application, {})[deployment] = ints[j] if whole[j] else floats[j]
        return field


def _number(value: float) -> int | float | str:
    if np.isnan(value):
        return ""
    return int(value) if float(value).is_integer() else round(float(value), 3)


def _open(path: str | os.PathLike, **kwargs):
    try:
        return open(path, "w", encoding="utf-8", **kwargs)
    except OSError as exc:
        raise FarodError(f"{path}: cannot write: {exc.strerror}") from None
