"""Replay a trace against live HTTP endpoints: Poisson arrivals per job, compressed in time, bounded.

Example::

    trace = read_trace("trace.jsonl")
    arrivals = poisson_arrivals(trace, urls={"a/m": "http://127.0.0.1:8000/a"}, time_scale=6, seed=1)
    report = asyncio.run(replay(arrivals, max_seconds=60))
    report.jobs["a/m"].achieved_rps, report.jobs["a/m"].percentile_ms(99)
    # -> (11.8, 412.0)

Within trace unit ``u`` (``trace.unit_s`` seconds, replayed in ``unit_s / time_scale`` wall seconds)
job ``j`` receives a Poisson process of ``counts[j, u] * rate_scale`` requests: exponential gaps at
the unit's rate, the rate changing at unit boundaries. Arrivals are open-loop -- a request goes out at
its time whether or not earlier ones returned -- because that is what users of an overloaded service
do, and a closed loop would hide exactly the queueing an autoscaler is there to prevent. Every run is
bounded by ``max_requests`` and ``max_seconds``; requests still in flight at the end count as timed out.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Mapping

import aiohttp
import numpy as np

from farod.errors import FarodError
from farod.trace import Trace


@dataclasses.dataclass(frozen=True)
class Arrival:
    at_s: float  # seconds after the start of the replay
    job: str
    url: str


@dataclasses.dataclass
class JobReport:
    sent: int = 0
    ok: int = 0
    failed: int = 0
    latencies_ms: list[float] = dataclasses.field(default_factory=list)
    seconds: float = 0.0

    @property
    def achieved_rps(self) -> float:
        return self.ok / self.seconds if self.seconds > 0 else 0.0

    def percentile_ms(self, q: float) -> float | None:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else None

    def as_dict(self) -> dict:
        return {"sent": self.sent, "ok": self.ok, "failed": self.failed, "achieved_rps": round(self.achieved_rps, 3),
                **{f"p{q}_ms": _round(self.percentile_ms(q)) for q in (50, 90, 99)}}


@dataclasses.dataclass
class Report:
    jobs: dict[str, JobReport]
    seconds: float

    def as_dict(self) -> dict:
        return {"seconds": round(self.seconds, 3), "jobs": {key: job.as_dict() for key, job in self.jobs.items()}}


def poisson_arrivals(trace: Trace, *, urls: Mapping[str, str], time_scale: float = 1.0, rate_scale: float = 1.0,
                     seed: int = 0, max_requests: int | None = None, max_seconds: float | None = None,
                     ) -> list[Arrival]:
    """Arrival times of every mapped job, sorted, cut at ``max_requests`` / ``max_seconds``."""
    if not time_scale > 0:
        raise FarodError(f"--time-scale: must be > 0, got {time_scale}")
    if not rate_scale > 0:
        raise FarodError(f"--rate-scale: must be > 0, got {rate_scale}")
    unknown = sorted(set(urls) - set(trace.keys))
    if unknown:
        raise FarodError(f"--map: {unknown[0]} is not a job of the trace (jobs: {', '.join(trace.keys)})")
    rng = np.random.default_rng(seed)
    unit_wall_s = trace.unit_s / time_scale
    arrivals = []
    for key, url in urls.items():
        counts = trace.counts[trace.keys.index(key)] * rate_scale
        for unit, expected in enumerate(counts):
            if expected <= 0:
                continue
            times = np.cumsum(rng.exponential(unit_wall_s / expected, size=int(expected * 2 + 10)))
            times = times[times < unit_wall_s]
            arrivals.extend(Arrival(unit * unit_wall_s + float(t), key, url) for t in times)
    arrivals.sort(key=lambda arrival: arrival.at_s)
    if max_seconds is not None:
        arrivals = [arrival for arrival in arrivals if arrival.at_s < max_seconds]
    return arrivals[:max_requests] if max_requests is not None else arrivals


async def replay(arrivals: list[Arrival], *, timeout_s: float = 30.0, max_seconds: float | None = None) -> Report:
    """Send every arrival at its time (open loop); collect per-job outcomes and latencies."""
    jobs = {arrival.job: JobReport() for arrival in arrivals}
    connector = aiohttp.TCPConnector(limit=512)
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    start = time.monotonic()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        tasks = []
        for arrival in arrivals:
            delay = arrival.at_s - (time.monotonic() - start)
            if delay > 0:
                await asyncio.sleep(delay)
            jobs[arrival.job].sent += 1
            tasks.append(asyncio.create_task(_request(session, arrival, jobs[arrival.job])))
        remaining = None if max_seconds is None else max(0.0, max_seconds - (time.monotonic() - start))
        if tasks:
            done, pending = await asyncio.wait(tasks, timeout=remaining)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
    elapsed = time.monotonic() - start
    span = arrivals[-1].at_s if arrivals else elapsed
    for report in jobs.values():
        report.seconds = max(span, 1e-9)
        report.failed = report.sent - report.ok
    return Report(jobs=jobs, seconds=elapsed)


async def _request(session: aiohttp.ClientSession, arrival: Arrival, report: JobReport) -> None:
    sent = time.monotonic()
    try:
        async with session.get(arrival.url) as response:
            await response.read()
            if response.status < 400:
                report.ok += 1
                report.latencies_ms.append((time.monotonic() - sent) * 1000)
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
        pass


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
