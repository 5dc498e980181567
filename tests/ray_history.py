"""Ray-Serve-shaped Prometheus history written with ``promtool tsdb create-blocks-from openmetrics``.

Shared by the trace export test and ``bench/export.py``: per job a router request counter (one series
per handle, counts split evenly), one ``replica_healthy`` gauge series per running replica, and the
processing latency sum and count; counter resets and gaps (minutes without any sample of a job) where
asked. ``count(job, minute)``, ``replicas(job, minute)`` and ``processing_ms(job, minute)`` say what
was written, so a test can compare an export against them exactly.
"""

from __future__ import annotations

import dataclasses
import itertools
import subprocess
from collections.abc import Callable
from pathlib import Path


@dataclasses.dataclass(frozen=True, kw_only=True)
class History:
    jobs: list[tuple[str, str]]  # (application, deployment)
    start: int  # Unix seconds of minute 0
    minutes: list[range]  # the written spans of minutes
    count: Callable[[int, int], int]  # (job index, minute) -> requests in that minute
    replicas: Callable[[int, int], int]
    processing_ms: Callable[[int, int], float] | None = None
    latency_ms: Callable[[int, int], float] | None = None  # every HTTP request of the minute takes this long
    buckets: tuple[float, ...] = (100.0, 250.0, 500.0, 1000.0, 2500.0)  # the HTTP histogram's le bounds
    handles: int = 1
    samples_per_minute: int = 4
    resets: frozenset = frozenset()  # (job index, minute): the counter restarts from 0 as the minute starts
    gaps: frozenset = frozenset()  # (job index, minute): no sample of the job in the minute

    def write(self, workdir: Path) -> Path:
        """The OpenMetrics text, then the TSDB blocks; returns the TSDB directory."""
        text = workdir / "history.om"
        with open(text, "w") as out:
            self._counter(out, "ray_serve_num_router_requests", self._requests)
            if self.processing_ms is not None:  # a histogram's _count and _sum, as untyped series
                self._counter(out, "ray_serve_deployment_processing_latency_ms_count", self._requests, typed=False)
                self._counter(out, "ray_serve_deployment_processing_latency_ms_sum",
                              lambda k, m: self._requests(k, m) * self.processing_ms(k, m), typed=False)  # fmt: skip
            if self.latency_ms is not None:
                name = "ray_serve_http_request_latency_ms_bucket"
                variants = [(f'le="{bound:g}"', self._below(bound)) for bound in self.buckets]
                self._counter(out, name, None, typed=False, variants=variants + [('le="+Inf"', self._requests)])
            self._replicas(out)
            out.write("# EOF\n")
        tsdb = workdir / "tsdb"
        subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", "--quiet", str(text), str(tsdb)],
                       check=True, capture_output=True)  # fmt: skip
        return tsdb

    def _requests(self, k: int, minute: int) -> float:
        return float(self.count(k, minute))

    def _below(self, bound: float) -> Callable[[int, int], float]:
        return lambda k, minute: self._requests(k, minute) if self.latency_ms(k, minute) <= bound else 0.0

    def _counter(self, out, name: str, per_minute: Callable[[int, int], float] | None, *, typed: bool = True,
                 variants: list | None = None) -> None:  # fmt: skip
        """A counter per job and handle (and per extra label of ``variants``, each with its own counts)."""
        out.write(f"# TYPE {name} {'counter' if typed else 'unknown'}\n")
        sample_name = f"{name}_total" if typed else name
        step = 60 / self.samples_per_minute
        for k, (application, deployment) in enumerate(self.jobs):
            for (extra, per_minute), handle in itertools.product(variants or [("", per_minute)], range(self.handles)):
                labels = f'application="{application}",deployment="{deployment}",handle="h{handle}"'
                labels += f",{extra}" if extra else ""
                total = 0.0
                for span in self.minutes:
                    for minute in span:
                        if (k, minute) in self.resets:
                            total = 0.0
                        share = per_minute(k, minute) / self.handles / self.samples_per_minute
                        for sample in range(1, self.samples_per_minute + 1):
                            total += share
                            if (k, minute) not in self.gaps:
                                out.write(f"{sample_name}{{{labels}}} {total!r} {self.start + minute * 60 + sample * step:.3f}\n")

    def _replicas(self, out) -> None:
        name = "ray_serve_deployment_replica_healthy"
        out.write(f"# TYPE {name} gauge\n")
        step = 60 / self.samples_per_minute
        for k, (application, deployment) in enumerate(self.jobs):
            most = max(self.replicas(k, minute) for span in self.minutes for minute in span)
            for replica in range(most):
                labels = f'application="{application}",deployment="{deployment}",replica="r{replica}"'
                for span in self.minutes:
                    for minute in span:
                        if replica < self.replicas(k, minute) and (k, minute) not in self.gaps:
                            for sample in range(self.samples_per_minute):  # inside the minute, off its edges
                                out.write(f"{name}{{{labels}}} 1 {self.start + minute * 60 + 5 + sample * step:.3f}\n")
