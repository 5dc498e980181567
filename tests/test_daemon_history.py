"""The live daemon's history and earlier days (train), from days of data in a real Prometheus.

``promtool tsdb create-blocks-from openmetrics`` writes four days of Ray-Serve-shaped request counters
into the TSDB of a Prometheus started on 127.0.0.1; the daemon runs on a fake clock inside those days.
The load is a square wave (15 minutes at 600 requests/min, 15 at 1200) that grows 5 % a day, so every
minute's count says which day and minute it is, and only the daily profile announces the next edge.
"""

from __future__ import annotations

import math
import subprocess
import time

import numpy as np
import pytest

from daemon_support import FakeClock, PrometheusServer
from farod.actuators.dryrun import DryRunActuator
from farod.daemon.config import parse_config
from farod.daemon.history import OVERLAP_STEPS
from farod.daemon.runner import Daemon
from farod.errors import FarodError
from farod.signals import client
from farod.signals.client import PrometheusClient
from farod.signals.prometheus import PrometheusSignals

DAY = 86400
D0 = math.floor(time.time() / DAY) * DAY - 6 * DAY  # midnight of the first day of data (recent: retention)
NOW = D0 + 3 * DAY + 10 * 3600 + 30 * 60 + 30  # day 3, 10:30:30: the last 15 minutes were high, the next low
GAP = (D0 + DAY + 8 * 3600, D0 + 2 * DAY)  # b/m has no samples in this span: two thirds of day 1


def per_minute(minute: np.ndarray, job: str) -> np.ndarray:
    """Requests counted in minute ``minute`` (since D0) of job ``job``."""
    day, of_day = np.floor_divide(minute, 1440), np.mod(minute, 1440)
    base = np.where((of_day // 15) % 2 == 0, 600.0, 1200.0) * (1 + 0.05 * day)
    return base if job == "a" else base / 2


def openmetrics() -> str:
    lines = ["# TYPE ray_serve_num_router_requests counter"]
    minutes = np.arange(-1, 4 * 1440 + 60)  # from the minute before D0 to day 4, 01:00
    for job in ("a", "b"):
        total = 0.0
        for minute, count in zip(minutes, per_minute(minutes, job)):
            for quarter in range(1, 5):  # a sample every 15 s; the one at the minute's end is its last
                total += count / 4
                ts = D0 + minute * 60 + quarter * 15
                if job == "b" and GAP[0] < ts < GAP[1]:
                    continue
                lines.append(f'ray_serve_num_router_requests_total{{application="{job}",deployment="m",'
                             f'handle="h"}} {total} {ts}')
    return "\n".join(lines + ["# EOF", ""])


@pytest.fixture(scope="module")
def prometheus_with_days(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("days")
    (workdir / "days.om").write_text(openmetrics())
    subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", "--quiet", str(workdir / "days.om"),
                    str(workdir / "tsdb")], check=True, capture_output=True)
    server = PrometheusServer(workdir, targets=[])
    server.start()
    yield server
    server.stop()


class CountingSignals(PrometheusSignals):
    """Real Prometheus signals that remember which steps the history asked for."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.fetches: list[tuple[float, int]] = []

    def arrivals(self, jobs, *, start, steps, step_s=60.0):
        self.fetches.append((start, steps))
        return super().arrivals(jobs, start=start, steps=steps, step_s=step_s)


def config(url: str, **prometheus_settings):
    return parse_config({
        "prometheus": {"url": url, "window_s": 60, "stale_after_s": 120, **prometheus_settings},
        "jobs": [{"application": app, "deployment": "m", "slo_ms": 500, "service_time_ms": 100, "max_replicas": 20}
                 for app in ("a", "b")],
        "quota": {"cpu": 16}, "policy": {"name": "faro-fairsum"}, "actuator": {"kind": "dry-run"}})


def daemon_for(server, clock, **prometheus_settings) -> tuple[Daemon, CountingSignals]:
    signals = CountingSignals(url=server.url, window_s=60, stale_after_s=120)
    return Daemon(config(server.url, **prometheus_settings), clock=clock, actuator=DryRunActuator(),
                  signals=signals), signals


def expected(first_minute: int, count: int, job: str) -> np.ndarray:
    minutes = np.arange(first_minute, first_minute + count)
    values = per_minute(minutes, job)
    ends = D0 + (minutes + 1) * 60
    if job == "b":  # no sample in the minute's window: missing, not zero
        values = np.where((ends > GAP[0]) & (ends - 60 < GAP[1]), np.nan, values)
    return values


def forecast_rps(record: dict, key: str) -> list[float]:
    """The plan's forecast at the quantile the policy sized the job for (the first one)."""
    return next(iter(record["jobs"][key]["plan"]["forecast_rps"].values()))


def test_train_rows_are_whole_aligned_days_and_the_forecaster_uses_them(prometheus_with_days, monkeypatch):
    monkeypatch.setattr(client, "MAX_RANGE_POINTS", 1000)  # the backfill spans several range queries
    clock = FakeClock(NOW)
    daemon, signals = daemon_for(prometheus_with_days, clock, backfill_days=3)
    daemon.start(serve_http=False)
    daemon.scheduler.pause()  # decisions below run on the fake clock, one at a time
    try:
        history = daemon.history
        assert history.anchor == D0
        assert signals.fetches == [(D0 + 60, 3 * 1440 + 630)]  # one backfill, five range queries
        assert daemon.train["a/m"].shape == (3, 1440)
        np.testing.assert_allclose(daemon.train["a/m"], expected(0, 3 * 1440, "a").reshape(3, 1440), rtol=1e-6)
        # b/m's day 1 is two thirds missing: not a row; its days 0 and 2 are.
        assert daemon.train["b/m"].shape == (2, 1440)
        np.testing.assert_allclose(daemon.train["b/m"][1], expected(2 * 1440, 1440, "b"), rtol=1e-6)
        series = history.series["a/m"]
        assert series.size == 3 * 1440 + 630 and series.size % 1440 == 630  # minute 10:30 of today
        np.testing.assert_allclose(series, expected(0, series.size, "a"), rtol=1e-6)
        np.testing.assert_array_equal(np.isnan(history.series["b/m"]), np.isnan(expected(0, series.size, "b")))

        record = daemon.controller.decide("plan")
        today = 1.15 * 600 / 60  # requests/s in the low half of the square wave on day 3
        # The last 15 minutes ran at twice that; only the earlier days announce the drop.
        assert max(forecast_rps(record, "a/m")) < 1.5 * today
        assert max(forecast_rps(record, "b/m")) < 1.5 * today / 2

        daemon.reload(config(prometheus_with_days.url, backfill_days=3))
        clock.advance(60)
        assert max(forecast_rps(daemon.controller.decide("plan"), "a/m")) < 1.5 * today  # reload keeps train
    finally:
        daemon.stop()


def test_without_earlier_days_the_forecast_is_todays_level(prometheus_with_days):
    daemon, _ = daemon_for(prometheus_with_days, FakeClock(NOW), backfill_days=0)
    record = daemon.controller.decide("plan")
    assert daemon.train == {} and daemon.history.series["a/m"].size >= 24 * 60
    assert min(forecast_rps(record, "a/m")) > 1.6 * 1.15 * 600 / 60  # the 15-minute mean of the high half


def test_decisions_fetch_only_new_minutes_and_old_days_drop_off(prometheus_with_days):
    clock = FakeClock(NOW)
    daemon, signals = daemon_for(prometheus_with_days, clock, backfill_days=3)
    daemon.controller.decide("plan")
    size = daemon.history.series["a/m"].size
    end = NOW // 60 * 60

    clock.advance(300)
    daemon.controller.decide("react")  # a tick may replan early: it sees the minutes up to now too
    assert signals.fetches[-1] == (end - (OVERLAP_STEPS - 1) * 60, 5 + OVERLAP_STEPS)
    fetches = len(signals.fetches)
    daemon.controller.decide("plan")
    daemon.controller.decide("react")
    assert len(signals.fetches) == fetches  # no new minute, nothing fetched
    series = daemon.history.series["a/m"]
    assert series.size == size + 5
    np.testing.assert_allclose(series, expected(0, series.size, "a"), rtol=1e-6)

    clock.now = D0 + 4 * DAY + 5 * 60 + 30  # past midnight: day 0 drops off, the alignment holds
    daemon.controller.decide("plan")
    assert daemon.history.anchor == D0 + DAY
    series = daemon.history.series["b/m"]
    assert series.size == 3 * 1440 + 5
    np.testing.assert_allclose(series, expected(1440, series.size, "b"), rtol=1e-6)  # NaN where missing


def test_train_arrives_when_prometheus_is_first_reached(prometheus_with_days):
    clock = FakeClock(NOW)
    daemon, signals = daemon_for(prometheus_with_days, clock, backfill_days=3)
    reachable, signals.client = signals.client, PrometheusClient(url="http://127.0.0.1:9")  # the backfill fails
    daemon.start(serve_http=False)
    daemon.scheduler.pause()
    try:
        assert daemon.train is None and not daemon.history.loaded
        signals.client = reachable
        clock.advance(120)
        assert not daemon.controller.decide("plan").get("held")  # this plan still forecasts without train
        assert daemon.train["a/m"].shape == (3, 1440)
        clock.advance(60)
        assert max(forecast_rps(daemon.controller.decide("plan"), "a/m")) < 1.5 * 1.15 * 600 / 60
    finally:
        daemon.stop()


@pytest.mark.parametrize("value", [-1, 1.5, "7", True])
def test_backfill_days_is_validated(value):
    with pytest.raises(FarodError, match=r"^prometheus\.backfill_days: must be an integer >= 0"):
        config("http://127.0.0.1:9090", backfill_days=value)


def test_range_query_is_chunked_on_the_step_grid_with_progress(prometheus_with_days, monkeypatch):
    monkeypatch.setattr(client, "MAX_RANGE_POINTS", 700)
    calls = []
    start = D0 + 60
    series = PrometheusClient(url=prometheus_with_days.url).range_query(
        'sum by (application) (increase(ray_serve_num_router_requests_total[60s]))', start=start,
        end=start + 1999 * 60, step_s=60, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(700, 2000), (1400, 2000), (2000, 2000)]
    by_app = {s.labels["application"]: s.values for s in series}
    assert sorted(by_app) == ["a", "b"]
    np.testing.assert_allclose(by_app["a"], expected(0, 2000, "a"), rtol=1e-6)  # chunk seams included
    np.testing.assert_array_equal(np.isnan(by_app["b"]), np.isnan(expected(0, 2000, "b")))
