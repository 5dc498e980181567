"""``farod explain LOG [--decision ID]``: why each job got what it got in one logged decision.

Example::

    farod run --config farod.yaml > farod.jsonl
    farod explain farod.jsonl                      # the last plan
    farod explain farod.jsonl --decision 1795880612-7 --spread 3 --json -

For every job: the replica count chosen, and the predicted latency and utility at it and at its
neighbours (see :mod:`farod.daemon.explain`).
"""

from __future__ import annotations

from farod.cli.output import write_json
from farod.daemon.explain import explain, find_decision, read_decisions


def register(subparsers) -> None:
    parser = subparsers.add_parser("explain", help="replay a logged decision: latency and utility per job")
    parser.add_argument("log", metavar="LOG", help="the JSON-lines log of farod run")
    parser.add_argument("--decision", metavar="ID", help="decision id (default: the last plan)")
    parser.add_argument("--spread", type=int, default=2, help="neighbouring replica counts on each side (default 2)")
    parser.add_argument("--json", metavar="OUT", help="write the rows as JSON ('-' for stdout)")
    parser.set_defaults(handler=run_explain)


def run_explain(args) -> int:
    record = find_decision(read_decisions(args.log), decision_id=args.decision)
    rows = explain(record, spread=max(0, args.spread))
    print(f"decision {record['id']} ({record['kind']}, policy {record['policy']}, quota {record.get('quota')}): "
          f"{record.get('reason') or 'no reason given'}")
    for key, job_rows in rows.items():
        job = record["jobs"][key]
        print(f"\n{key}  slo {job['spec']['slo_ms']:g} ms, was {job['replicas']}, asked {job.get('asked')}, "
              f"got {job.get('target')}{'  (held: no fresh signals)' if job.get('stale') else ''}")
        if not job_rows:
            print("  nothing to replay: no rate or service time in the log")
        for row in job_rows:
            worst = max(row["predicted_latency_ms"])
            solved = f"   objective {row['objective']:.3f}" if "objective" in row else ""
            over = "   (over the quota)" if row.get("fits") is False else ""
            print(f"  {'->' if row['chosen'] else '  '} {row['replicas']:3d} replicas   "
                  f"worst predicted p-latency {worst:10.1f} ms   utility {row['utility']:.3f}{solved}{over}")
    if args.json:
        write_json(args.json, {"decision": record["id"], "jobs": rows})
    return 0
