"""Property-based fuzzing of every reader farod owns: any input is a value or one FarodError line.

Readers: the daemon config (YAML text and mutated documents; an accepted config must also build what
``farod run`` builds), the plan file (JSON text and mutated problems; an accepted problem must also
solve), the simulation config and the training CSV. Inputs are mutations of a valid document -- a
field replaced by a plausible or a hostile value (integers too large for a float, NaN, inf, 1e308, NUL and newlines
in strings, nesting, wrong types), removed, or joined by an unknown key -- and raw bytes. Seeds are
fixed (``derandomize``) so CI sees the same cases every run. The trace reader's fuzz is in
``test_trace_*``.
"""

from __future__ import annotations

import copy
import json

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from farod.cli.run import build_like_run
from farod.daemon.config import parse_config as parse_daemon_config
from farod.errors import FarodError
from farod.forecast.train import read_train_csv
from farod.model.problem import problem_from_dict
from farod.model.solver import solve
from farod.sim.config import parse_config as parse_sim_config
from farod.yamlfile import parse_json, parse_yaml

CASES = 300
FUZZ = settings(max_examples=CASES, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

DAEMON = {
    "prometheus": {"url": "http://127.0.0.1:9090", "timeout_s": 5, "backfill_days": 1, "backfill_hours": 2,
                   "window_s": 30, "stale_after_s": 60, "misses_before_unready": 3, "tls_verify": True},
    "jobs": [{"application": "a", "deployment": "m", "slo_ms": 720, "service_time_ms": 180, "min_replicas": 1,
              "max_replicas": 8, "weight": 1, "resources": {"cpu": 1}},
             {"application": "b", "deployment": "m", "slo_ms": 500}],
    "quota": {"cpu": 8},
    "policy": {"name": "faro-fairsum", "params": {"quantile": 0.7, "horizon": 7, "step_s": 60}},
    "forecaster": {"name": "default"},
    "actuator": {"kind": "dry-run", "rayserve": {"url": "http://127.0.0.1:8265", "timeout_s": 5}},
    "intervals": {"tick_s": 10, "plan_s": 300},
    "safety": {"max_replicas_added": 0, "max_replicas_removed": 0},
    "server": {"host": "127.0.0.1", "port": 0},
    "kubernetes": {"enabled": False, "namespace": "default", "request_timeout_s": 5,
                   "leader_election": {"lease_duration_s": 15, "renew_deadline_s": 10, "retry_period_s": 2}},
    "log_level": "info",
}
PLAN = {
    "quota": {"cpu": 6}, "objective": "fairsum", "utility": "relaxed",
    "latency_model": {"percentile": 99, "max_rho": 0.95},
    "jobs": [{"name": "a", "service_time_ms": 180, "slo_ms": 720, "rates": [3.0, 4.0, 5.0], "current_replicas": 1,
              "min_replicas": 1, "max_replicas": 4, "resources": {"cpu": 1}, "weight": 1, "startup_steps": 0.5},
             {"name": "b", "service_time_ms": 90, "slo_ms": 300, "rates": [1.0, 0.0, 2.0]}],
}
SIM = {
    "service": {"shape": 0.4, "loc_ms": 79, "scale_ms": 68}, "proxy": {"shape": 0.5, "loc_ms": 3, "scale_ms": 1},
    "slo_ms": 720, "resources": {"cpu": 1}, "quota": {"memory_gib": 64}, "hot_start_s": 3, "cold_start_s": 35,
    "queue_cap": 50, "max_ongoing": 4, "fidelity": "farod", "grant_order": "round_robin", "faro_quantile": 0.6,
    "jobs": {"a/m": {"service": {"shape": 0.3, "loc_ms": 300, "scale_ms": 100}, "slo_ms": 2000, "max_replicas": 3}},
}

PLAUSIBLE = st.one_of(st.integers(0, 100), st.floats(0.001, 1000),
                      st.sampled_from(["x", "a-1", "cpu", "http://127.0.0.1:1", "sum", "fair", "step"]))
HOSTILE = st.one_of(
    PLAUSIBLE,
    st.integers(), st.sampled_from([10**400, -(10**400), 2**63, 0, -1, 1, 7, 86400, 10**7]),
    st.floats(), st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e308, 1e300, -0.0, 1e-300, 0.5]),
    st.text(max_size=12), st.sampled_from(["", " ", "a\x00b", "a\nb", "../x", "a/b", "x" * 300, "oracle", "gpu"]),
    st.booleans(), st.none(),
    st.lists(st.integers(-3, 3), max_size=3), st.dictionaries(st.text(max_size=4), st.integers(-3, 3), max_size=3),
    st.integers(1, 60).map(lambda depth: _nest(depth)),
)


def _nest(depth: int):
    value = 1
    for _ in range(depth):
        value = {"x": [value]}
    return value


def _paths(node, prefix=()):
    """Every (container path, key) in a document, to pick one to mutate."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        yield prefix, key
        yield from _paths(value, prefix + (key,))


@st.composite
def mutated(draw, base, values=HOSTILE):
    document = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(document))
        if not paths:
            break
        prefix, key = draw(st.sampled_from(paths))
        container = document
        for part in prefix:
            container = container[part]
        action = draw(st.sampled_from(["replace", "replace", "replace", "remove", "add"]))
        if action == "remove":
            del container[key]
        elif action == "add" and isinstance(container, dict):
            container[draw(st.sampled_from(["unknown", "x", "max_replica", "1"]))] = draw(values)
        else:
            container[key] = draw(values)
    return document


def _one_line(error: FarodError) -> None:
    text = str(error)
    assert text and "\n" not in text and "Traceback" not in text, text


@FUZZ
@given(st.one_of(mutated(DAEMON), mutated(DAEMON, PLAUSIBLE)))
def test_daemon_config_documents_give_a_config_that_starts_or_one_line(document):
    try:
        config = parse_daemon_config(document)
        daemon = build_like_run(config)
        daemon._schedule(daemon.controller.policy)  # the timers `run` starts, on a scheduler not running
        event("accepted and built")
    except FarodError as error:
        _one_line(error)
        event("refused in one line")


@FUZZ
@given(st.one_of(st.binary(max_size=200), mutated(DAEMON).map(lambda d: yaml.safe_dump(d).encode()),
                 st.text(max_size=200).map(str.encode)))
def test_daemon_config_bytes_give_a_document_or_one_line(tmp_path_factory, raw):
    path = tmp_path_factory.getbasetemp() / "fuzz-farod.yaml"
    path.write_bytes(raw)
    from farod.daemon.config import load_config

    try:
        load_config(path)
    except FarodError as error:
        _one_line(error)


@FUZZ
@given(st.one_of(mutated(PLAN), mutated(PLAN, PLAUSIBLE)))
def test_plan_documents_give_a_solution_or_one_line(document):
    try:
        problem = problem_from_dict(document)
    except FarodError as error:
        _one_line(error)
        return
    event("accepted and solved")
    for method in ("exact", "cobyla"):
        solution = solve(problem, method=method)
        assert problem.fits(solution.allocation)


@FUZZ
@given(st.one_of(st.text(max_size=200), mutated(PLAN).map(lambda d: json.dumps(d, allow_nan=True)),
                 st.sampled_from(["[" * 5000, '{"a": 1, "a": 2}', "1e400", "NaN", "-Infinity", "9" * 5000])))
def test_plan_json_text_gives_a_document_or_one_line(text):
    try:
        parse_json(text, source="--input -")
    except FarodError as error:
        _one_line(error)


@FUZZ
@given(st.one_of(mutated(SIM), mutated(SIM, PLAUSIBLE)))
def test_sim_config_documents_give_a_config_or_one_line(document):
    try:
        config = parse_sim_config(document)
    except FarodError as error:
        _one_line(error)
        return
    event("accepted")
    for key in ("a/m", "z/m"):
        assert config.job(key).spec(key).slo_ms > 0


@FUZZ
@given(st.one_of(st.text(max_size=300), st.sampled_from(["a: " * 2000, "- " * 3000, "&a [*a]", "!!python/none x"]),
                 st.lists(st.text(max_size=8), max_size=20).map(": x\n".join)))
def test_yaml_text_gives_a_document_or_one_line(text):
    try:
        parse_yaml(text, source="farod.yaml")
    except FarodError as error:
        _one_line(error)


CSV_CELL = st.one_of(st.sampled_from(["0", "1", "5", "", "nan", "inf", "-1", "1e308", "1e9", "x", "\x00", "9" * 40,
                                      "\u00b2", '"', "0,1"]), st.text(max_size=6))


@FUZZ
@given(st.one_of(
    st.lists(st.lists(CSV_CELL, min_size=4, max_size=7), max_size=6).map(
        lambda rows: ("job_idx,series,day,sample,m0,m1\n" + "\n".join(",".join(row) for row in rows)).encode()),
    st.binary(max_size=200),
))
def test_train_csv_gives_days_or_one_line(tmp_path_factory, raw):
    path = tmp_path_factory.getbasetemp() / "fuzz-train.csv"
    path.write_bytes(raw)
    try:
        days = read_train_csv(path)
    except FarodError as error:
        _one_line(error)
        return
    event("accepted")
    for by_day in days.series.values():
        for counts in by_day.values():
            finite = counts[~(counts != counts)]
            assert (finite >= 0).all() and (finite <= 1e9).all()
