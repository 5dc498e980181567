"""The public Azure Functions 2019 invocation counts as a farod trace and training CSV.

Example::

    days = [f"invocations_per_function_md.anon.d{n:02d}.csv" for n in range(1, 11)]
    imported = import_azure_functions(days, window=(540, 900), functions=10)
    imported.keys[0], imported.trace.shape, sorted(imported.train)[:2]
    # -> ('fn0/9d9bd6ab0c2b', (10, 360), [1, 2])

Each file is one day (``HashOwner,HashApp,HashFunction,Trigger`` then invocations in minutes
``1..1440``); the day is the ``dNN`` of its name. The last day is the trace, the earlier days its
training days, all cut to the same window of minutes. Functions are picked explicitly: the ``N``
busiest in the trace window among those present on every day (ties by the hashes), or a list of ids in
the given order. Rows of the same function (several triggers) are added. Counts are scaled by one
factor, or per function to a target peak, and rounded to whole requests. See ``docs/traces.md``.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import re
from collections.abc import Sequence

import numpy as np

from farod.errors import FarodError
from farod.trace import MAX_COUNT

MINUTES = 1440
HEADER = ("HashOwner", "HashApp", "HashFunction", "Trigger")
FunctionId = tuple[str, str, str]  # (HashOwner, HashApp, HashFunction)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Imported:
    keys: list[str]  # "fn<k>/<first 12 characters of HashFunction>"
    ids: list[FunctionId]
    factors: list[float]  # the scale applied to each function
    trace_day: int
    trace: np.ndarray  # (functions, window minutes), whole requests
    train: dict[int, np.ndarray]  # earlier day -> (functions, window minutes)


def parse_window(text: str) -> tuple[int, int]:
    """``HH:MM-HH:MM`` (end exclusive, ``24:00`` allowed) into minutes of the day."""
    match = re.fullmatch(r"(\d\d):(\d\d)-(\d\d):(\d\d)", text.strip())
    if not match:
        raise FarodError(f"--window: expected HH:MM-HH:MM, got {text!r}")
    start, end = (int(h) * 60 + int(m) for h, m in (match.group(1, 2), match.group(3, 4)))
    if int(match.group(2)) > 59 or int(match.group(4)) > 59 or not 0 <= start < end <= MINUTES:
        raise FarodError(f"--window: {text!r} is not a window within one day (start before end, up to 24:00)")
    return start, end


def import_azure_functions(
    paths: Sequence[str], *, window: tuple[int, int], functions: int | None = None, ids: list[FunctionId] | None = None,
    scale: float = 1.0, scale_to_peak: float | None = None,
) -> Imported:  # fmt: skip
    days = sorted((_day_of(path), path) for path in paths)
    repeated = [day for (day, _), (next_day, _) in zip(days, days[1:]) if day == next_day]
    if repeated:
        raise FarodError(f"day {repeated[0]} is given twice")
    trace_day, trace_path = days[-1]
    last = _read_day(trace_path, window)
    present = set(last)
    for _, path in days[:-1]:
        present &= set(_read_day(path, window, only_ids=True))
    chosen = _choose(last, present, functions=functions, ids=ids, where=trace_path)
    trace = np.array([last[fid] for fid in chosen], dtype=float)
    factors = _factors(trace, chosen, scale=scale, scale_to_peak=scale_to_peak)
    train = {}
    for day, path in days[:-1]:
        rows = _read_day(path, window, keep=set(chosen))
        train[day] = _scaled(np.array([rows[fid] for fid in chosen], dtype=float), factors, chosen, path)
    keys = [f"fn{k}/{fid[2][:12]}" for k, fid in enumerate(chosen)]
    return Imported(keys=keys, ids=chosen, factors=factors, trace_day=trace_day,
                    trace=_scaled(trace, factors, chosen, trace_path), train=train)  # fmt: skip


def read_ids(path: str) -> list[FunctionId]:
    """``HashOwner,HashApp,HashFunction`` per line (blank lines skipped)."""
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError) as exc:
        raise FarodError(f"--ids: cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    ids = []
    for number, row in enumerate(rows, start=1):
        if not row:
            continue
        if len(row) != 3 or not all(part.strip() for part in row):
            raise FarodError(f"{path}:{number}: expected HashOwner,HashApp,HashFunction")
        ids.append(tuple(part.strip() for part in row))
    if not ids:
        raise FarodError(f"{path}: names no function")
    return ids


def _day_of(path: str) -> int:
    match = re.search(r"\.d(\d+)\.csv$", os.path.basename(path))
    if not match:
        raise FarodError(f"{path}: not an invocations_per_function_md.anon.dNN.csv file name (no day number)")
    return int(match.group(1))


def _read_day(path: str, window: tuple[int, int], *, only_ids: bool = False,
              keep: set[FunctionId] | None = None) -> dict[FunctionId, np.ndarray | None]:  # fmt: skip
    """Per function, its invocations in the window (rows of one function added)."""
    start, end = window
    rows: dict[FunctionId, np.ndarray | None] = {}
    try:
        handle = open(path, encoding="utf-8", newline="")
    except OSError as exc:
        raise FarodError(f"{path}: cannot read: {exc.strerror}") from None
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, [])
            if tuple(header[:4]) != HEADER or header[4:] != [str(m) for m in range(1, MINUTES + 1)]:
                raise FarodError(f"{path}:1: header must be {','.join(HEADER)},1,2,...,{MINUTES}")
            for number, row in enumerate(reader, start=2):
                if not row:
                    continue
                if len(row) != len(HEADER) + MINUTES:
                    raise FarodError(f"{path}:{number}: {len(row)} columns, expected {len(HEADER) + MINUTES}")
                fid = (row[0], row[1], row[2])
                if only_ids:
                    rows[fid] = None
                elif keep is None or fid in keep:
                    counts = _counts(row[len(HEADER) + start:len(HEADER) + end], f"{path}:{number}")
                    previous = rows.get(fid)
                    rows[fid] = counts if previous is None else previous + counts
        except UnicodeDecodeError as exc:
            raise FarodError(f"{path}: not UTF-8 ({exc.reason})") from None
        except csv.Error as exc:
            raise FarodError(f"{path}:{reader.line_num}: not valid CSV ({exc})") from None
    return rows


def _counts(cells: list[str], where: str) -> np.ndarray:
    try:
        counts = np.array([int(cell) for cell in cells], dtype=np.int64)
    except (ValueError, OverflowError):
        raise FarodError(f"{where}: invocation counts must be whole numbers") from None
    if (counts < 0).any() or (counts > MAX_COUNT).any():
        raise FarodError(f"{where}: invocation counts must be from 0 to {MAX_COUNT}")
    return counts


def _choose(last: dict, present: set, *, functions: int | None, ids: list | None, where: str) -> list[FunctionId]:
    if ids is not None:
        missing = [fid for fid in ids if fid not in present]
        if missing:
            raise FarodError(f"--ids: function {','.join(missing[0])} is not in every given day")
        return list(dict.fromkeys(ids))
    ranked = sorted(present, key=lambda fid: (-int(last[fid].sum()), fid))
    if not ranked:
        raise FarodError(f"{where}: no function is present on every given day")
    return ranked[:functions]


def _factors(trace: np.ndarray, chosen: list[FunctionId], *, scale: float, scale_to_peak: float | None) -> list[float]:
    if scale_to_peak is None:
        return [scale] * len(chosen)
    factors = []
    for fid, counts in zip(chosen, trace):
        if counts.max() <= 0:
            raise FarodError(f"--scale-to-peak: function {fid[2]} has no invocations in the window")
        factors.append(scale_to_peak / float(counts.max()))
    return factors


def _scaled(counts: np.ndarray, factors: list[float], chosen: list[FunctionId], where: str) -> np.ndarray:
    scaled = np.rint(counts * np.array(factors)[:, None])
    too_big = np.flatnonzero(scaled.max(axis=1) > MAX_COUNT) if scaled.size else []
    if len(too_big):
        raise FarodError(f"{where}: function {chosen[too_big[0]][2]} scaled above {MAX_COUNT} requests a minute")
    return scaled


def check_scale(value: float, flag: str) -> float:
    if not (math.isfinite(value) and value > 0):
        raise FarodError(f"{flag}: must be a positive number, got {value!r}")
    return value
