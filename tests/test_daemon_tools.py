"""`farod loadgen` (Poisson arrivals, replay against a real local HTTP server) and `farod explain`."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from daemon_support import JOBS, FakeClock, StubSignals
from farod.actuators.dryrun import DryRunActuator
from farod.cli import main
from farod.daemon.controller import Controller
from farod.daemon.metrics import DaemonMetrics
from farod.daemon.explain import explain, find_decision, read_decisions
from farod.errors import FarodError
from farod.loadgen import poisson_arrivals, replay
from farod.policies import create
from farod.trace import Trace

TRACE = Trace(keys=["a/m", "b/m"], counts=np.array([[600.0, 0.0, 1200.0], [60.0, 60.0, 60.0]]), unit_s=60.0)


def test_arrivals_follow_the_counts_compressed_in_time_and_bounded():
    arrivals = poisson_arrivals(TRACE, urls={"a/m": "http://x/a"}, time_scale=6, seed=3)
    times = np.array([a.at_s for a in arrivals])
    assert all(a.job == "a/m" for a in arrivals) and np.all(np.diff(times) >= 0)
    per_unit = np.histogram(times, bins=[0, 10, 20, 30])[0]  # a 60 s unit lasts 10 s
    assert 500 < per_unit[0] < 700 and per_unit[1] == 0 and 1050 < per_unit[2] < 1350
    assert len(poisson_arrivals(TRACE, urls={"a/m": "u"}, time_scale=6, max_requests=7)) == 7
    assert max(a.at_s for a in poisson_arrivals(TRACE, urls={"a/m": "u"}, time_scale=6, max_seconds=5)) < 5
    with pytest.raises(FarodError, match="^--map: c/m is not a job of the trace"):
        poisson_arrivals(TRACE, urls={"c/m": "u"})


def test_replay_against_a_live_server_reports_rates_and_percentiles():
    async def handler(request):
        await asyncio.sleep(0.01)
        return web.Response(text="ok" if request.path == "/a" else "", status=200 if request.path == "/a" else 503)

    async def scenario():
        app = web.Application()
        app.router.add_get("/{name}", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        arrivals = poisson_arrivals(TRACE, urls={"a/m": f"http://127.0.0.1:{port}/a",
                                                 "b/m": f"http://127.0.0.1:{port}/b"},
                                    time_scale=60, max_requests=40, seed=1)
        try:
            return await replay(arrivals, max_seconds=20)
        finally:
            await runner.cleanup()

    report = asyncio.run(scenario())
    a, b = report.jobs["a/m"], report.jobs["b/m"]
    assert a.sent + b.sent == 40 and a.ok == a.sent and b.ok == 0 and b.failed == b.sent
    assert a.percentile_ms(99) >= 10 and a.as_dict()["achieved_rps"] > 0


def test_loadgen_cli_rejects_a_bad_mapping(tmp_path, capsys):
    trace = tmp_path / "t.jsonl"
    trace.write_text(json.dumps({"ts": 0, "counts": {"a": {"m": 1}}}) + "\n")
    assert main(["loadgen", "--trace", str(trace), "--map", "a/m:http://x"]) == 2
    assert capsys.readouterr().err == "farod: error: --map: expected APP/DEP=http://..., got 'a/m:http://x'\n"


DECISION = {
    "event": "decision", "id": "100-7", "kind": "plan", "policy": "faro-fairsum", "quota": {"cpu": 6},
    "policy_params": {"percentile": 99.0, "max_rho": 0.95}, "reason": "fairsum at quantile 0.6",
    "jobs": {"a/m": {"spec": {"slo_ms": 720, "service_time_ms": 180, "min_replicas": 1, "max_replicas": None},
                     "signals": {"request_rate": {"value": 10.0, "status": "ok"}}, "replicas": 2, "asked": 3,
                     "target": 3, "stale": False, "plan": {"forecast_rps": {"0.6": [9.0, 12.0]}}}},
}


def test_explain_replays_chosen_and_neighbouring_counts(tmp_path, capsys):
    log = tmp_path / "farod.jsonl"
    react = {**DECISION, "id": "100-8", "kind": "react"}
    log.write_text("\n".join([json.dumps({"event": "started"}), json.dumps(DECISION), json.dumps(react)]) + "\n")
    record = find_decision(read_decisions(log), decision_id=None)
    assert record["id"] == "100-7"  # the last plan, not the last tick
    rows = explain(record, spread=2)["a/m"]
    assert [row["replicas"] for row in rows] == [1, 2, 3, 4, 5]
    assert [row["chosen"] for row in rows] == [False, False, True, False, False]
    latencies = [max(row["predicted_latency_ms"]) for row in rows]
    assert latencies == sorted(latencies, reverse=True)  # more replicas, less latency
    assert rows[0]["utility"] < rows[2]["utility"] <= 1.0 and len(rows[2]["predicted_latency_ms"]) == 2
    assert main(["explain", str(log), "--decision", "100-8"]) == 0
    out = capsys.readouterr().out
    assert "decision 100-8 (react" in out and "->   3 replicas" in out
    assert main(["explain", str(log), "--decision", "nope"]) == 2
    assert "no decision 'nope'" in capsys.readouterr().err


class _Busy(StubSignals):
    """Each job 50 requests/s: more than 4 one-CPU replicas can serve."""

    def arrivals(self, jobs, *, start, steps, step_s=60.0):
        return {key: np.full(steps, 3000.0) for key in jobs}


@pytest.mark.parametrize("policy, params", [
    ("faro-penaltysum", {}),
    ("faro-sum", {"utility": "step"}),
])
def test_explain_shows_what_the_plan_optimized(tmp_path, policy, params):
    params = {"forecaster": "last", "startup_s": 35, "headroom_quantiles": [], **params}
    built = create(policy, jobs=JOBS, quota={"cpu": 4}, params=params)
    controller = Controller(jobs=JOBS, policy=built, signals=_Busy(JOBS), actuator=DryRunActuator(),
                            metrics=DaemonMetrics(registry=CollectorRegistry()), quota=lambda: {"cpu": 4},
                            clock=FakeClock())
    record = controller.decide("plan")
    log = tmp_path / "farod.jsonl"
    log.write_text(json.dumps({"event": "decision", **record}) + "\n")
    rows = explain(find_decision(read_decisions(log), decision_id=None), spread=1)
    for key, job in record["jobs"].items():
        chosen = next(row for row in rows[key] if row["chosen"])
        assert chosen["replicas"] == job["plan"]["replicas"] == job["target"]
        assert chosen["utility"] == round(job["plan"]["utility"], 4)
        assert chosen["predicted_latency_ms"] == [round(v, 1) for v in job["plan"]["predicted_latency_ms"]]
        assert chosen["objective"] == round(record["objective"], 4)
    if policy == "faro-penaltysum":  # the case a relaxed-utility replay got wrong: load is shed
        assert min(job["plan"]["accept_rate"] for job in record["jobs"].values()) < 1.0
