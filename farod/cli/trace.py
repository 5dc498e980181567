"""``farod trace import`` and ``farod trace export``: your own or public traffic as a farod trace.

Example::

    farod trace import azure-functions invocations_per_function_md.anon.d0{1..9}.csv \\
        invocations_per_function_md.anon.d10.csv --window 09:00-15:00 --functions 10 \\
        --out trace.jsonl --train-out train.csv

The formats and every choice made (which functions, scaling, gaps) are in ``docs/traces.md``.
"""

from __future__ import annotations

import argparse
import sys

from farod.errors import FarodError


def register(subparsers) -> None:
    trace = subparsers.add_parser("trace", help="make traces: import public data sets, export from Prometheus")
    actions = trace.add_subparsers(dest="action", metavar="ACTION", parser_class=type(trace))
    importer = actions.add_parser("import", help="import a public data set")
    sources = importer.add_subparsers(dest="source", metavar="SOURCE", parser_class=type(trace))
    azure = sources.add_parser("azure-functions", help="Azure Functions 2019 invocations_per_function_md files")
    azure.add_argument("files", nargs="+", metavar="FILES", help="one file per day; the last day is the trace")
    azure.add_argument("--window", required=True, metavar="HH:MM-HH:MM", help="minutes of the day (UTC), end exclusive")
    chosen = azure.add_mutually_exclusive_group()
    chosen.add_argument("--functions", type=int, default=10, metavar="N", help="the N busiest functions (default 10)")
    chosen.add_argument("--ids", metavar="FILE", help="HashOwner,HashApp,HashFunction per line, in job order")
    scaling = azure.add_mutually_exclusive_group()
    scaling.add_argument("--scale", type=float, default=1.0, metavar="X", help="multiply every count by X")
    scaling.add_argument("--scale-to-peak", type=float, default=None, metavar="R",
                         help="scale each function so its peak minute in the trace has R requests")  # fmt: skip
    azure.add_argument("--out", required=True, metavar="TRACE", help="the trace (JSON lines)")
    azure.add_argument("--train-out", metavar="CSV", help="the earlier days as a training CSV")
    azure.set_defaults(handler=run_import_azure)


def run_import_azure(args: argparse.Namespace) -> int:
    from farod.traces.azure import check_scale, import_azure_functions, parse_window, read_ids
    from farod.traces.write import write_train_csv, write_trace

    window = parse_window(args.window)
    if args.functions is not None and args.ids is None and not 1 <= args.functions <= 10_000:
        raise FarodError(f"--functions: must be from 1 to 10000, got {args.functions}")
    if args.scale_to_peak is not None:
        check_scale(args.scale_to_peak, "--scale-to-peak")
    imported = import_azure_functions(
        args.files, window=window, functions=None if args.ids else args.functions,
        ids=read_ids(args.ids) if args.ids else None, scale=check_scale(args.scale, "--scale"),
        scale_to_peak=args.scale_to_peak,
    )  # fmt: skip
    if args.train_out and not imported.train:
        raise FarodError("--train-out: give earlier days too (only the trace day was given)")
    write_trace(args.out, imported.keys, counts=imported.trace, ts=range(window[0], window[1]))
    if args.train_out:
        write_train_csv(args.train_out, imported.keys, imported.train)
    print(f"trace: day {imported.trace_day}, {len(imported.keys)} functions x {window[1] - window[0]} minutes, "
          f"{int(imported.trace.sum())} requests -> {args.out}", file=sys.stderr)  # fmt: skip
    if args.train_out:
        print(f"train: days {', '.join(map(str, sorted(imported.train)))} -> {args.train_out}", file=sys.stderr)
    for key, fid, factor in zip(imported.keys, imported.ids, imported.factors):
        print(f"  {key}  owner {fid[0]}  app {fid[1]}  function {fid[2]}  scale {factor:.6g}", file=sys.stderr)
    return 0
