"""``farod trace import`` and ``farod trace export``: your own or public traffic as a farod trace.

Example::

    farod trace import azure-functions invocations_per_function_md.anon.d0{1..9}.csv \\
        invocations_per_function_md.anon.d10.csv --window 09:00-15:00 --functions 10 \\
        --out trace.jsonl --train-out train.csv

The formats and every choice made (which functions, scaling, gaps) are in ``docs/traces.md``.
"""

from __future__ import annotations

import argparse
import datetime
import math
import sys

from farod.cli.output import check_writable
from farod.errors import FarodError


def register(subparsers) -> None:
    trace = subparsers.add_parser("trace", help="make traces: import public data sets, export from Prometheus")
    actions = trace.add_subparsers(dest="action", metavar="ACTION", parser_class=type(trace))
    importer = actions.add_parser("import", help="import a public data set")
    sources = importer.add_subparsers(dest="source", metavar="SOURCE", parser_class=type(trace))
    for parser in (trace, importer):  # an incomplete command shows its own choices
        parser.set_defaults(handler=lambda args, parser=parser: parser.print_help() or 2)
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
    register_export(actions)


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


def register_export(actions) -> None:
    export = actions.add_parser("export", help="export your jobs' per-minute traffic from Prometheus")
    export.add_argument("--config", required=True, metavar="FARODYAML", help="the daemon config: jobs and Prometheus")
    export.add_argument("--start", required=True, metavar="T", help="ISO 8601 UTC time or Unix seconds (whole minute)")
    export.add_argument("--end", required=True, metavar="T", help="end (exclusive), same forms")
    export.add_argument("--out", required=True, metavar="TRACE", help="the trace (JSON lines)")
    export.add_argument("--train-out", metavar="CSV", help="the same daily window on earlier days, a training CSV")
    export.add_argument("--train-days", type=int, default=7, metavar="N", help="earlier days for --train-out (7)")
    export.add_argument("--max-gap-fraction", type=float, default=MAX_GAP_FRACTION, metavar="F",
                        help=f"refuse a job with more gap minutes than this share (default {MAX_GAP_FRACTION})")  # fmt: skip
    export.set_defaults(handler=run_export)


MAX_GAP_FRACTION = 0.1
MAX_TRAIN_DAYS = 60
EXPORT_TIMEOUT_S = 60.0  # at least, per range query: a day of a hundred deployments is a large answer


def run_export(args: argparse.Namespace) -> int:
    from farod.daemon.config import load_config
    from farod.signals.client import PrometheusClient, PrometheusUnavailable
    from farod.trace import MAX_LINES
    from farod.traces.write import write_train_csv, write_trace

    start, end = _time(args.start, "--start"), _time(args.end, "--end")
    minutes = (end - start) // 60
    if not 1 <= minutes <= MAX_LINES:
        raise FarodError(f"--end: must be 1 to {MAX_LINES} minutes after --start, got {(end - start) / 60:g}")
    if not 0 <= args.max_gap_fraction <= 1:
        raise FarodError(f"--max-gap-fraction: must be from 0 to 1, got {args.max_gap_fraction}")
    if args.train_out and not (1 <= args.train_days <= MAX_TRAIN_DAYS and minutes <= 1440):
        raise FarodError(f"--train-days: 1 to {MAX_TRAIN_DAYS} earlier days of a window of at most a day")
    config = load_config(args.config)
    check_writable(args.out, "--out")
    check_writable(args.train_out, "--train-out")
    prom = config.prometheus
    client = PrometheusClient(url=prom.url, timeout_s=max(prom.timeout_s, EXPORT_TIMEOUT_S),
                              bearer_token_file=prom.bearer_token_file, tls_verify=prom.tls_verify,
                              ca_file=prom.ca_file, allow_insecure_http=prom.allow_insecure_http)  # fmt: skip
    keys = [job.key for job in config.jobs]
    try:
        export = _fetch(client, config.jobs, start, minutes, "export", namespace=prom.namespace)
        _report_gaps(keys, export, start, args.max_gap_fraction)
        days = {}
        for back in range(args.train_days if args.train_out else 0, 0, -1):
            day = _fetch(client, config.jobs, start - back * 86400, minutes, f"train day -{back}", measures=False,
                         namespace=prom.namespace)
            if not day.gaps.all():
                days[args.train_days - back + 1] = day
    except PrometheusUnavailable as exc:
        raise FarodError(f"prometheus.url: {exc}") from None
    write_trace(args.out, keys, counts=export.filled_counts(), ts=range(start, start + minutes * 60, 60),
                measures=export.measures, filled=export.gaps)  # fmt: skip
    print(f"trace: {len(keys)} jobs x {minutes} minutes, {int(export.filled_counts().sum())} requests -> {args.out}",
          file=sys.stderr)  # fmt: skip
    if args.train_out:
        if not days:
            raise FarodError(f"--train-out: Prometheus has none of the {args.train_days} earlier days")
        write_train_csv(args.train_out, keys, {number: day.counts for number, day in days.items()})
        missing = sum(int(day.gaps.sum()) for day in days.values())
        print(f"train: {len(days)} of {args.train_days} earlier days, {missing} gap minutes left empty -> "
              f"{args.train_out}", file=sys.stderr)  # fmt: skip
    return 0


def _fetch(client, jobs, start: int, minutes: int, label: str, **kwargs):
    """One export with its progress bar (queries done of all)."""
    from farod.cli.progress import Progress
    from farod.traces.export import export_minutes

    progress = Progress(total=1, label=label, unit="queries")

    def advance(done: int, total: int) -> None:
        progress.total = total
        progress.advance(to=done)

    try:
        return export_minutes(client, jobs, start=start, minutes=minutes, progress=advance, **kwargs)
    finally:
        progress.close()


def _report_gaps(keys: list[str], export, start: int, max_fraction: float) -> None:
    """One line per job with gaps, every run of gap minutes to the minute; too many gaps are refused."""
    from farod.traces.export import gap_ranges

    minutes = export.gaps.shape[1]
    worst = None
    for key, gaps in zip(keys, export.gaps):
        runs = gap_ranges(gaps)
        if not runs:
            continue
        spans = ", ".join(_span(start, first, last) for first, last in runs)
        print(f"gaps: {key}: {int(gaps.sum())} of {minutes} minutes missing, filled: {spans}", file=sys.stderr)
        if gaps.mean() > max_fraction and worst is None:
            worst = (key, gaps.mean(), _span(start, *runs[0]))
    total = int(export.gaps.sum())
    print(f"gaps: {total} job-minutes missing in all" if total else "gaps: none", file=sys.stderr)
    if worst:
        key, fraction, span = worst
        raise FarodError(f"{key}: {fraction:.0%} of its minutes are gaps (more than --max-gap-fraction "
                         f"{max_fraction:g}), the first {span}")  # fmt: skip


def _span(start: int, first: int, last: int) -> str:
    begin, end = _iso(start + first * 60), _iso(start + (last + 1) * 60)
    return f"{begin} to {end} ({last - first + 1} min)"


def _iso(seconds: int) -> str:
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ")


def _time(text: str, flag: str) -> int:
    """Unix seconds or ISO 8601 (a time without a zone is UTC); must be a whole minute."""
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            raise FarodError(f"{flag}: not a time (ISO 8601 or Unix seconds): {text!r}") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.timezone.utc)
        seconds = moment.timestamp()
    if not (math.isfinite(seconds) and 0 <= seconds < 2**40) or seconds % 60:
        raise FarodError(f"{flag}: must be a whole minute after 1970, got {text!r}")
    return int(seconds)
