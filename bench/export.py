"""Trace export speed: a 7-day, 100-deployment export from a local Prometheus (target: under a minute).

    .venv/bin/python bench/export.py [--days 7] [--deployments 100] [--keep DIR]

Writes the history with ``promtool tsdb create-blocks-from openmetrics`` (per deployment a router
counter and a replica gauge, one sample a minute, the last days before today's UTC midnight), starts
``prometheus`` on 127.0.0.1, and times ``farod trace export`` over the whole span, every measure
included, as a user runs it. Prints the time to write the history, to build the blocks, to export, the
export's rate, and checks the exported counts against the written ones.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from daemon_support import PrometheusServer  # noqa: E402
from ray_history import History  # noqa: E402

from farod.cli import main  # noqa: E402
from farod.trace import read_trace  # noqa: E402


def count(k: int, minute: int) -> int:
    return 100 + (minute * 31 + k * 7) % 500


def bench(days: int, deployments: int, workdir: Path) -> None:
    minutes = days * 1440
    start = (math.floor(time.time() / 86400) - days) * 86400
    history = History(jobs=[(f"app{k}", "model") for k in range(deployments)], start=start,
                      minutes=[range(-1, minutes)], count=count, replicas=lambda k, m: 1 + (m // 60 + k) % 3,
                      samples_per_minute=1)  # fmt: skip
    began = time.perf_counter()
    if (workdir / "tsdb").exists():  # --keep from an earlier run of the same size and day
        print(f"history: reusing {workdir / 'tsdb'}")
    else:
        history.write(workdir)
        print(f"history: {deployments} deployments x {days} days written and blocks built in "
              f"{time.perf_counter() - began:.1f} s")  # fmt: skip
    server = PrometheusServer(workdir, targets=[])
    server.start()
    try:
        config = workdir / "farod.yaml"
        config.write_text(yaml.safe_dump({
            "prometheus": {"url": server.url},
            "jobs": [{"application": f"app{k}", "deployment": "model", "slo_ms": 720} for k in range(deployments)],
            "quota": {"cpu": 4 * deployments}, "policy": {"name": "faro-sum"},
        }))  # fmt: skip
        out = workdir / "trace.jsonl"
        began = time.perf_counter()
        code = main(["trace", "export", "--config", str(config), "--start", str(start), "--end",
                     str(start + minutes * 60), "--out", str(out)])  # fmt: skip
        elapsed = time.perf_counter() - began
    finally:
        server.stop()
    if code != 0:
        raise SystemExit(f"export failed with exit code {code}")
    trace = read_trace(out)
    written = np.array([[count(k, m) for m in range(minutes)] for k in range(deployments)], dtype=float)
    exact = bool(np.array_equal(trace.counts, written))
    print(f"export: {deployments} deployments x {minutes} minutes in {elapsed:.1f} s "
          f"({deployments * minutes / elapsed:,.0f} job-minutes/s), counts exact: {exact}")  # fmt: skip


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--deployments", type=int, default=100)
    parser.add_argument("--keep", default=None, metavar="DIR",
                        help="work here instead of a temporary directory (its history is reused if there)")  # fmt: skip
    return parser.parse_args()


if __name__ == "__main__":
    args = parse_args()
    if args.keep:
        Path(args.keep).mkdir(parents=True, exist_ok=True)
        bench(args.days, args.deployments, Path(args.keep))
    else:
        with tempfile.TemporaryDirectory() as directory:
            bench(args.days, args.deployments, Path(directory))
