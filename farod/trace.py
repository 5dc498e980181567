"""Read a request trace: per-unit arrival counts for every job, as one (jobs x units) matrix.

Example::

    >>> trace = read_trace("farod/data/azure_twitter_10jobs_day10.jsonl", jobs=20, minutes=60)
    >>> trace.keys[:2], trace.counts.shape, trace.unit_s
    (['serve-cluster0/classifier', 'serve-cluster1/classifier'], (20, 60), 60.0)

The format (``docs/traces.md``) is JSON lines, one per time unit::

    {"ts": 0, "counts": {"app": {"dep": 812}}, "replicas": {"app": {"dep": 3}},
     "p99_ms": {"app": {"dep": 640.2}}, "processing_ms": {"app": {"dep": 151.0}}, "filled": {"app": ["dep"]}}

Only ``ts`` and ``counts`` are required (the Faro artifact's ``input.json``); the other fields are what
``farod trace export`` records where Prometheus has them. A job is one (application, deployment) pair,
keyed ``"application/deployment"`` like :attr:`farod.jobs.JobSpec.key`. Jobs keep the order in
which they first appear, so ``serve-cluster10`` stays after ``serve-cluster9``; a job absent from a
line's ``counts`` had no requests in it, absent from another field was not recorded then.

A trace is user input: any file becomes a :class:`Trace` or one :class:`FarodError` naming the line and
the field. Bounds (documented) keep a typo such as a count of 1e12 from exhausting memory.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os

import numpy as np

from farod.errors import FarodError

MAX_COUNT = 10_000_000  # requests of one job in one unit (~167 k/s per job over a minute)
MAX_REPLICAS = 100_000
MAX_MS = 3_600_000.0  # an hour: a latency above it is a unit error, not a measurement
MAX_LINES = 200_000  # ~139 days of minutes
MAX_JOBS = 10_000
MAX_CELLS = 50_000_000  # jobs x units held in memory (400 MB per field)
MAX_TS = 2**53
MAX_LINE_BYTES = 16 * 2**20  # a line of 10,000 jobs with every field is about 2 MiB
MEASURES = ("replicas", "p99_ms", "processing_ms")  # optional per-unit fields, shaped like counts
_FIELDS = ("ts", "counts", *MEASURES, "filled")
_MAX_NAME = 253


@dataclasses.dataclass(frozen=True, kw_only=True)
class Trace:
    """Arrival counts of ``len(keys)`` jobs over ``counts.shape[1]`` units of ``unit_s`` seconds.

    The optional measures have the shape of ``counts`` with NaN where a unit did not record them, and
    are ``None`` when no line records them; ``filled`` marks counts that were missing at the source.
    """

    keys: list[str]
    counts: np.ndarray  # float, shape (jobs, units): requests arriving in each unit
    unit_s: float = 60.0
    replicas: np.ndarray | None = None  # running replicas (what the user ran)
    p99_ms: np.ndarray | None = None  # observed p99 latency
    processing_ms: np.ndarray | None = None  # observed mean processing (service) time
    filled: np.ndarray | None = None  # bool: the count was a gap in the source, filled in

    def measure(self, name: str) -> np.ndarray | None:
        return getattr(self, name)


def read_trace(
    path: str | os.PathLike,
    *,
    jobs: int | None = None,
    minutes: int | None = None,
    unit_s: float = 60.0,
) -> Trace:
    """Read a JSON-lines trace; optionally replicate it to ``jobs`` jobs and cut it to ``minutes`` units.

    Replicated job ``k`` replays series ``k mod n`` of the ``n`` original jobs; its key adds
    ``-r<k // n>`` to the application name (``serve-cluster0-r1/classifier``) so keys stay unique.
    """
    _check_positive("jobs", jobs, MAX_JOBS)
    _check_positive("minutes", minutes, MAX_LINES)
    if not (isinstance(unit_s, (int, float)) and math.isfinite(unit_s) and unit_s > 0):
        raise FarodError(f"unit_time: must be a positive number of seconds, got {unit_s!r}")
    rows = _read_rows(path, limit=minutes)
    pairs = list(dict.fromkeys(pair for row in rows for field in ("counts", *MEASURES) for pair in row[field]))
    if not pairs:
        raise FarodError(f"{path}: the trace names no (application, deployment) pair")
    if len(pairs) > MAX_JOBS:
        raise FarodError(f"{path}: {len(pairs)} jobs, more than the limit of {MAX_JOBS}")
    jobs = len(pairs) if jobs is None else jobs
    if jobs * len(rows) > MAX_CELLS:
        raise FarodError(f"{path}: {jobs} jobs x {len(rows)} units exceed the limit of {MAX_CELLS} cells")
    originals = len(pairs)
    pick = [k % originals for k in range(jobs)]
    keys = [_job_key(*pairs[k % originals], copy=k // originals) for k in range(jobs)]
    counts = np.array([[row["counts"].get(pair, 0.0) for row in rows] for pair in pairs], dtype=float)
    measures = {name: _matrix(rows, pairs, name, pick) for name in MEASURES}
    filled = np.array([[pair in row["filled"] for row in rows] for pair in pairs], dtype=bool)
    return Trace(keys=keys, counts=counts[pick], unit_s=float(unit_s), filled=filled[pick] if filled.any() else None,
                 **measures)  # fmt: skip


def _matrix(rows: list[dict], pairs: list, name: str, pick: list[int]) -> np.ndarray | None:
    if not any(row[name] for row in rows):
        return None
    return np.array([[row[name].get(pair, np.nan) for row in rows] for pair in pairs], dtype=float)[pick]


def _check_positive(name: str, value: int | None, maximum: int) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum):
        raise FarodError(f"{name}: must be an integer from 1 to {maximum}, got {value!r}")


def _job_key(application: str, deployment: str, *, copy: int) -> str:
    return f"{application}-r{copy}/{deployment}" if copy else f"{application}/{deployment}"


def _read_rows(path: str | os.PathLike, *, limit: int | None) -> list[dict]:
    try:
        handle = open(path, "rb")
    except OSError as exc:
        raise FarodError(f"{path}: cannot read trace: {exc.strerror}") from None
    rows: list[dict] = []
    last_ts = None
    with handle:
        for number, raw in enumerate(iter(lambda: handle.readline(MAX_LINE_BYTES + 1), b""), start=1):
            if limit is not None and len(rows) >= limit:
                break
            where = f"{path}:{number}"
            if len(raw) > MAX_LINE_BYTES:
                raise FarodError(f"{where}: longer than {MAX_LINE_BYTES // 2**20} MiB")
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise FarodError(f"{where}: not UTF-8 (byte {exc.start + 1} of the line)") from None
            if not line.strip():
                continue
            if len(rows) >= MAX_LINES:
                raise FarodError(f"{where}: more than {MAX_LINES} units; cut the trace (--minutes)")
            row = parse_line(line, where=where)
            if last_ts is not None and row["ts"] <= last_ts:
                raise FarodError(f"{where}: ts {row['ts']} does not follow the previous ts {last_ts}")
            last_ts = row["ts"]
            rows.append(row)
    if not rows:
        raise FarodError(f"{path}: the trace has no lines")
    return rows


class _Refused(ValueError):
    """Raised inside the JSON decoder's hooks; becomes one line naming the trace line."""


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict:
    seen: dict = {}
    for key, value in pairs:
        if key in seen:
            raise _Refused(f"duplicate key {key!r}")
        seen[key] = value
    return seen


def _no_constant(name: str) -> float:
    raise _Refused(f"{name} is not a number a trace may hold")


def parse_line(line: str, *, where: str) -> dict:
    """One trace line as ``{"ts": int, "counts": {pair: n}, <measure>: {pair: x}, "filled": {pair}}``."""
    try:
        record = json.loads(line, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except _Refused as exc:
        raise FarodError(f"{where}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise FarodError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
    except ValueError as exc:  # an integer literal too long for Python's int()
        raise FarodError(f"{where}: not a usable number ({exc})") from None
    except RecursionError:
        raise FarodError(f"{where}: JSON nested too deep") from None
    if not isinstance(record, dict):
        raise FarodError(f"{where}: expected an object with 'ts' and 'counts'")
    unknown = [key for key in record if key not in _FIELDS]
    if unknown:
        raise FarodError(f"{where}: unknown field {unknown[0]!r} (known: {', '.join(_FIELDS)})")
    ts = record.get("ts")
    if isinstance(ts, bool) or not isinstance(ts, int) or not 0 <= ts <= MAX_TS:
        raise FarodError(f"{where}: ts must be an integer from 0 to 2^53, got {_show(ts)}")
    if "counts" not in record:
        raise FarodError(f"{where}: counts is missing")
    row = {"ts": ts, "counts": _per_job(record, "counts", where, maximum=MAX_COUNT)}
    row["replicas"] = _per_job(record, "replicas", where, maximum=MAX_REPLICAS, integer=True)
    for name in ("p99_ms", "processing_ms"):
        row[name] = _per_job(record, name, where, maximum=MAX_MS)
    row["filled"] = _filled(record.get("filled", {}), where)
    return row


def _per_job(record: dict, field: str, where: str, *, maximum: float, integer: bool = False) -> dict:
    """``{"app": {"dep": x}}`` into ``{(app, dep): float(x)}``, every value checked."""
    applications = record.get(field, {})
    if not isinstance(applications, dict):
        raise FarodError(f"{where}: {field} must be an object of applications")
    values: dict[tuple[str, str], float] = {}
    for application, deployments in applications.items():
        if not isinstance(deployments, dict):
            raise FarodError(f"{where}: {field}.{_name(application)} must be an object of deployments")
        for deployment, value in deployments.items():
            path = f"{field}.{_name(application)}.{_name(deployment)}"
            _check_names(application, deployment, where, path)
            kind = "an integer" if integer else "a number"
            if (isinstance(value, bool) or not isinstance(value, int if integer else (int, float))
                    or not 0 <= value <= maximum):  # fmt: skip
                raise FarodError(f"{where}: {path} must be {kind} from 0 to {maximum:g}, got {_show(value)}")
            values[application, deployment] = float(value)
    return values


def _filled(applications: object, where: str) -> set[tuple[str, str]]:
    if not isinstance(applications, dict):
        raise FarodError(f"{where}: filled must be an object of applications, each a list of deployments")
    filled = set()
    for application, deployments in applications.items():
        if not isinstance(deployments, list) or not all(isinstance(name, str) for name in deployments):
            raise FarodError(f"{where}: filled.{_name(application)} must be a list of deployment names")
        for deployment in deployments:
            _check_names(application, deployment, where, f"filled.{_name(application)}")
            filled.add((application, deployment))
    return filled


def _check_names(application: str, deployment: str, where: str, path: str) -> None:
    for kind, name in (("application", application), ("deployment", deployment)):
        if not name or len(name) > _MAX_NAME or not name.isprintable() or (kind == "application" and "/" in name):
            raise FarodError(f"{where}: {path}: {kind} name must be 1 to {_MAX_NAME} printable characters"
                             f"{' without /' if kind == 'application' else ''}, got {_name(name)}")  # fmt: skip


def _name(text: str) -> str:
    """A name as it can be shown in one line: as is when short and printable, else quoted and cut."""
    if text and len(text) <= 40 and text.isprintable() and "." not in text and " " not in text:
        return text
    return repr(text) if len(text) <= 40 else repr(text[:40]) + "..."


def _show(value: object) -> str:
    text = f"{value:g}" if isinstance(value, float) else repr(value)
    return text if len(text) <= 40 else text[:40] + "..."
