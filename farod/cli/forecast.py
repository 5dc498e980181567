"""``farod forecast backtest``: score forecasters on a trace (docs/cli.md).

Example::

    farod forecast backtest --trace farod/data/azure_twitter_10jobs_day10.jsonl \\
        --train farod/data/azure_twitter_10jobs_days1-10_6h_per_minute.csv --model all --json out.json

Without ``--model`` it scores the default forecaster; ``--model all`` compares every model (the oracle
excluded) in a table and writes a JSON list of records. ``--train`` uses the CSV's days before the
trace's own day unless ``--train-days`` names them.
"""

from __future__ import annotations

import sys
import time

from farod import forecast
from farod.cli.output import check_writable, write_json
from farod.errors import FarodError
from farod.forecast import backtest as backtesting
from farod.forecast import train as training
from farod.forecast.base import check_quantiles
from farod.trace import read_trace


def register(subparsers) -> None:
    parser = subparsers.add_parser("forecast", help="load forecasting tools")
    commands = parser.add_subparsers(dest="forecast_command", metavar="SUBCOMMAND", parser_class=type(parser))
    backtest = commands.add_parser("backtest", help="score forecasters on a trace, windows sliding minute by minute")
    backtest.add_argument("--trace", required=True, metavar="FILE", help="JSON-lines trace (docs/traces.md)")
    backtest.add_argument("--train", metavar="CSV", help="earlier days: job_idx, series, day, sample, m0, ...")
    backtest.add_argument("--train-days", type=_day_list, metavar="DAYS",
                          help="CSV days to train on, e.g. 1-8 or 1,3,5 (default: all days before the trace's)")
    backtest.add_argument("--model", default="default", metavar="NAME",
                          help=f"default, all, or one of {', '.join(forecast.MODELS)}")
    backtest.add_argument("--context", type=int, default=15, help="first forecast after this many minutes")
    backtest.add_argument("--horizon", type=int, default=7, help="minutes forecast per window")
    backtest.add_argument("--quantiles", type=_quantile_list, default=[0.5, 0.9], metavar="Q,...")
    backtest.add_argument("--minutes", type=int, metavar="M", help="use only the first M minutes of the trace")
    backtest.add_argument("--json", metavar="OUT", help="write the record(s) here ('-' for stdout)")
    backtest.add_argument("--plot", metavar="FILE", help="PNG of actual vs forecast for --job")
    backtest.add_argument("--job", type=int, default=0, metavar="N", help="the job --plot draws (default 0)")
    backtest.set_defaults(handler=run_backtest)
    parser.set_defaults(handler=lambda args: parser.print_help() or 2)


def run_backtest(args) -> int:
    names = _model_names(args.model)
    check_writable(args.json)
    check_writable(args.plot, "--plot")
    trace = read_trace(args.trace, minutes=args.minutes)
    if args.plot and not 0 <= args.job < len(trace.keys):
        raise FarodError(f"--job: must be in 0..{len(trace.keys) - 1}, got {args.job}")
    train = None
    if args.train:
        train = training.train_for(trace, training.read_train_csv(args.train), train_days=args.train_days)
    elif args.train_days is not None:
        raise FarodError("--train-days: needs --train")
    runs = []
    for name in names:
        began = time.perf_counter()
        runs.append(backtesting.backtest(trace.counts, name, train=train, context=args.context,
                                         horizon=args.horizon, quantiles=args.quantiles))
        print(f"backtested {name} on {len(trace.keys)} jobs x {trace.counts.shape[1]} minutes "
              f"in {time.perf_counter() - began:.1f} s", file=sys.stderr)
    records = [run.summary() for run in runs]
    # With --json - stdout carries only the JSON.
    print(format_table(records), file=sys.stderr if args.json == "-" else sys.stdout)
    if args.plot:
        shown = runs[names.index(forecast.DEFAULT_MODEL)] if len(runs) > 1 else runs[0]
        backtesting.plot(shown, trace.counts, job=args.job, path=args.plot,
                         title=f"{trace.keys[args.job]}: {shown.model}, context {args.context}")
    if args.json:
        write_json(args.json, records if args.model == "all" else records[0])
    return 0


def _model_names(model: str) -> list[str]:
    if model == "all":
        return list(forecast.BACKTEST_MODELS)
    name = forecast.DEFAULT_MODEL if model == "default" else model
    if name not in forecast.MODELS:
        raise FarodError(f"--model: unknown model {model!r} (choose from default, all, {', '.join(forecast.MODELS)})")
    return [name]


def format_table(records: list[dict]) -> str:
    levels = list(records[0]["pinball"])
    header = ["model", "windows", "rmse", "mape%"] + [f"pinball{q}" for q in levels]
    header += [f"cover{q}" for q in levels] + ["fit_ms_p50"]
    rows = [header]
    for record in records:
        mape = "-" if record["mape"] is None else f"{record['mape']:.1f}"
        rows.append([record["model"], str(record["windows"]), f"{record['rmse']:.1f}", mape]
                    + [f"{record['pinball'][q]:.2f}" for q in levels]
                    + [f"{record['coverage'][q]:.3f}" for q in levels] + [f"{record['fit_ms_p50']:.2f}"])
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    return "\n".join("  ".join(cell.rjust(width) for cell, width in zip(row, widths)) for row in rows)


def _quantile_list(text: str) -> list[float]:
    try:
        return check_quantiles([float(part) for part in text.split(",")]).tolist()
    except (ValueError, FarodError):
        raise FarodError(f"--quantiles: expected numbers in (0, 1) separated by commas, got {text!r}") from None


def _day_list(text: str) -> list[int]:
    days: list[int] = []
    try:
        for part in text.split(","):
            first, _, last = part.partition("-")
            days.extend(range(int(first), int(last or first) + 1))
    except ValueError:
        raise FarodError(f"--train-days: expected days like 1-8 or 1,3,5, got {text!r}") from None
    if not days:
        raise FarodError(f"--train-days: no days in {text!r}")
    return days
