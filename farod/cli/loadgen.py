"""``farod loadgen``: replay a trace (docs/traces.md) against live HTTP endpoints.

Example::

    farod loadgen --trace trace.jsonl --map serve-cluster0/classifier=http://127.0.0.1:8000/c0 \\
        --map serve-cluster1/classifier=http://127.0.0.1:8000/c1 --time-scale 6 --max-seconds 120

Prints, per job, requests sent and answered, the achieved rate and latency percentiles; ``--json``
writes the same as a record. See :mod:`farod.loadgen` for the arrival process.
"""

from __future__ import annotations

import asyncio
import sys

from farod.cli.output import write_json
from farod.errors import FarodError
from farod.trace import read_trace


def register(subparsers) -> None:
    parser = subparsers.add_parser("loadgen", help="replay a trace against live HTTP endpoints")
    parser.add_argument("--trace", required=True, metavar="FILE", help="JSON-lines trace (docs/traces.md)")
    parser.add_argument("--map", action="append", required=True, metavar="APP/DEP=URL",
                        help="send job APP/DEP's requests to URL (repeat per job)")
    parser.add_argument("--time-scale", type=float, default=1.0, metavar="X",
                        help="replay X times faster: a 60 s unit lasts 60/X s (default 1)")
    parser.add_argument("--rate-scale", type=float, default=1.0, metavar="F",
                        help="multiply every count by F (default 1)")
    parser.add_argument("--unit-time", type=float, default=60.0, metavar="SECONDS", help="trace unit (default 60)")
    parser.add_argument("--minutes", type=int, metavar="M", help="replay only the first M units")
    parser.add_argument("--max-requests", type=int, metavar="N", help="stop after N requests")
    parser.add_argument("--max-seconds", type=float, metavar="S", help="stop after S seconds")
    parser.add_argument("--timeout", type=float, default=30.0, metavar="S", help="per-request timeout (default 30)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", metavar="OUT", help="write the report here ('-' for stdout)")
    parser.set_defaults(handler=run_loadgen)


def run_loadgen(args) -> int:
    from farod.loadgen import poisson_arrivals, replay  # aiohttp: the loadgen extra

    if args.max_requests is not None and args.max_requests < 1:
        raise FarodError(f"--max-requests: must be >= 1, got {args.max_requests}")
    if args.max_seconds is not None and not args.max_seconds > 0:
        raise FarodError(f"--max-seconds: must be > 0, got {args.max_seconds}")
    trace = read_trace(args.trace, minutes=args.minutes, unit_s=args.unit_time)
    arrivals = poisson_arrivals(trace, urls=dict(_mapping(item) for item in args.map), time_scale=args.time_scale,
                                rate_scale=args.rate_scale, seed=args.seed, max_requests=args.max_requests,
                                max_seconds=args.max_seconds)
    print(f"loadgen: {len(arrivals)} requests over {arrivals[-1].at_s if arrivals else 0:.1f} s", file=sys.stderr)
    report = asyncio.run(replay(arrivals, timeout_s=args.timeout, max_seconds=args.max_seconds))
    print(f"{'job':40} {'sent':>7} {'ok':>7} {'rps':>8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8}")
    for key, job in report.jobs.items():
        row = job.as_dict()
        print(f"{key:40} {row['sent']:7d} {row['ok']:7d} {row['achieved_rps']:8.2f} "
              + " ".join(f"{row[name] if row[name] is not None else float('nan'):8.1f}"
                         for name in ("p50_ms", "p90_ms", "p99_ms")))
    if args.json:
        write_json(args.json, report.as_dict())
    return 0


def _mapping(item: str) -> tuple[str, str]:
    key, sep, url = item.partition("=")
    if not sep or "/" not in key or not url.startswith(("http://", "https://")):
        raise FarodError(f"--map: expected APP/DEP=http://..., got {item!r}")
    return key, url
