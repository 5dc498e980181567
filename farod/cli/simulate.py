"""``farod simulate`` and ``farod compare``: trace-driven evaluation of policies (docs/simulation.md).

Example::

    farod simulate --cpus 32 --policy aiad --seed 42 --json -
    farod compare --cpus 32,36 --policies fairshare,aiad,faro-fairsum --seeds 24,42 --out out --json out/compare.json

Both replay a trace (default: the bundled Azure/Twitter day-10 trace) through :mod:`farod.sim`; a
``simulate`` is a comparison of one run. Runs go to local cores (``--workers``, default all) or to an
existing Ray cluster (``--ray-address``). The JSON is ``{"runs": [RECORD, ...]}``; the table goes to
the terminal (stderr when the JSON goes to stdout) and, with ``--out DIR``, figures are written there.
Ctrl-C stops the suite but still writes the records of the runs that finished.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from importlib import resources

from farod.cli.output import check_writable, write_json
from farod.cli.progress import Progress
from farod.errors import FarodError

_DATA = resources.files("farod") / "data"
DEFAULT_TRACE = str(_DATA / "azure_twitter_10jobs_day10.jsonl")
DEFAULT_TRAIN = str(_DATA / "azure_twitter_10jobs_days1-10_6h_per_minute.csv")
DEFAULT_SEEDS = "24,32,40,42,62"
MAX_PHASES = 60  # one a plan interval's 60th apart: finer says nothing more about alignment
MAX_SIM_REQUESTS = 300_000_000  # about 10 bytes of records per request (docs/traces.md)


def register(subparsers) -> None:
    simulate = subparsers.add_parser("simulate", help="simulate one policy on a trace")
    simulate.add_argument("--cpus", type=_positive_number, required=True, help="CPU quota")
    simulate.add_argument("--policy", required=True, help="policy name (an unknown name lists the known ones)")
    simulate.add_argument("--seed", type=_seed, default=42)
    simulate.add_argument("--plan-phase", type=_phase, default=0.0, metavar="FRACTION",
                          help="plans at 0, then at (k + FRACTION) x the plan interval; in [0, 1), default 0")  # fmt: skip
    _common(simulate)
    simulate.set_defaults(handler=run_simulate)

    compare = subparsers.add_parser("compare", help="compare policies x quotas x seeds on a trace")
    compare.add_argument("--cpus", type=_list_of(_positive_number), default=None,
                         help="CPU quotas, e.g. 32,36 (required unless --from-config has a CPU quota)")  # fmt: skip
    compare.add_argument("--policies", type=_list_of(str), default=None,
                         help="e.g. fairshare,aiad,faro-sum (an unknown name lists the known ones); default with "
                              "--from-config: its policy, and replay when the trace records replicas")  # fmt: skip
    compare.add_argument("--seeds", type=_list_of(_seed), default=_list_of(_seed)(DEFAULT_SEEDS),
                         help=f"one run per seed (default {DEFAULT_SEEDS})")  # fmt: skip
    compare.add_argument("--phases", type=_phase_count, default=1, metavar="N",
                         help="run each seed of a policy that plans with the plan clock at N phases spread over "
                              "the plan interval (default 1: plans at t=0, 300 s, ...); a live plan clock has no "
                              "fixed alignment with the traffic, so N=5 averages out a lucky or unlucky one")  # fmt: skip
    _common(compare)
    compare.set_defaults(handler=run_compare)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trace", default=None, metavar="FILE", help="JSON-lines trace (default: bundled day 10)")
    parser.add_argument("--train", default=None, metavar="CSV",
                        help="earlier days for the forecasters (default with the bundled trace: the bundled CSV; "
                             "'none' for none)")  # fmt: skip
    parser.add_argument("--config", default=None, metavar="FILE", help="simulation parameters (YAML or JSON)")
    parser.add_argument("--from-config", default=None, metavar="FARODYAML",
                        help="jobs, SLOs, bounds, resources, quota and policy parameters from a daemon config")  # fmt: skip
    parser.add_argument("--fidelity", choices=("farod", "artifact"), default=None,
                        help="request-path preset: farod's (default) or the Faro artifact's; overrides the "
                             "config's fidelity, its individual settings still apply")  # fmt: skip
    parser.add_argument("--unit-time", type=_positive_number, default=60.0, metavar="SECONDS",
                        help="seconds per trace line")  # fmt: skip
    parser.add_argument("--jobs", type=_positive_integer, default=None, help="replicate the trace's jobs to N jobs")
    parser.add_argument("--minutes", type=_positive_integer, default=None, help="replay only the first M units")
    parser.add_argument("--policy-params", type=_json_object, default={}, metavar="JSON",
                        help="policy parameters: an object, or objects keyed by policy name")  # fmt: skip
    parser.add_argument("--json", default=None, metavar="OUT", help="write the records here ('-' for stdout)")
    parser.add_argument("--out", default=None, metavar="DIR", help="write figures (and the JSON if no --json) here")
    parser.add_argument("--workers", type=_positive_integer, default=os.cpu_count() or 1, help="local processes")
    parser.add_argument("--ray-address", default=None, metavar="ADDR", help="run on this existing Ray cluster")


def run_simulate(args: argparse.Namespace) -> int:
    return _run(args, policies=[args.policy], cpus=[args.cpus], seeds=[args.seed], phases=[args.plan_phase],
                name="simulate")


def run_compare(args: argparse.Namespace) -> int:
    if not args.from_config:
        for flag, value in (("--cpus", args.cpus), ("--policies", args.policies)):
            if value is None:
                raise FarodError(f"compare: {flag} is required (or --from-config)")
    phases = [k / args.phases for k in range(args.phases)]
    return _run(args, policies=args.policies, cpus=args.cpus, seeds=args.seeds, phases=phases, name="compare")


def _run(args: argparse.Namespace, *, policies: list[str], cpus: list[float], seeds: list[int], phases: list[float],
         name: str) -> int:
    from farod.sim import report  # imported here: `farod --help` must not load numba
    from farod.sim.suite import Suite, execute

    trace = _trace(args)
    train = _train(trace, args)
    if args.from_config:
        trace, config, policies, cpus, params = _from_config(args, trace, policies=policies, cpus=cpus)
    else:
        config, params = _config(args.config, args.fidelity), _params_by_policy(args.policy_params, policies)
    suite = Suite(
        trace=trace,
        policies=list(dict.fromkeys(policies)),
        cpus=list(dict.fromkeys(cpus)),
        seeds=list(dict.fromkeys(seeds)),
        phases=phases,
        config=config,
        policy_params=params,
        train={key: days for key, days in (train or {}).items() if key in trace.keys} or None,
    )
    suite.check()
    json_path = args.json or (os.path.join(args.out, f"{name}.json") if args.out else None)
    terminal = sys.stderr if json_path == "-" else sys.stdout
    check_writable(json_path)
    if args.out:
        _make_dir(args.out)
    results = []
    progress = Progress(total=len(suite.runs), label=name, unit="runs")
    interrupted = False
    try:
        for result in execute(suite, workers=args.workers, ray_address=args.ray_address):
            results.append(result)
            record = result.record
            phase = f" phase {record['plan_phase']:g}" if len(phases) > 1 else ""
            progress.advance(last=f"{record['policy']} {record['cpus']:g} CPUs seed {record['seed']}{phase}: "
                                  f"{record['wall_s']:.1f} s")  # fmt: skip
    except KeyboardInterrupt:
        interrupted = True
    progress.close()
    order = {(spec.policy, spec.cpus, spec.seed, spec.phase): i for i, spec in enumerate(suite.runs)}
    results.sort(key=lambda result: order[tuple(result.record[k] for k in ("policy", "cpus", "seed", "plan_phase"))])
    records = [_json_record(result.record) for result in results]
    if json_path:
        write_json(json_path, {"runs": records, **({"interrupted": True} if interrupted else {})})
    if records:
        print(report.table(records), file=terminal)
    if args.out and records:
        _figures(args.out, records, results, report)
    if interrupted:
        raise KeyboardInterrupt
    return 0


def _trace(args: argparse.Namespace):
    from farod.trace import read_trace

    trace = read_trace(args.trace or DEFAULT_TRACE, jobs=args.jobs, minutes=args.minutes, unit_s=args.unit_time)
    total = float(trace.counts.sum())
    if total > MAX_SIM_REQUESTS:
        raise FarodError(f"--trace: {total:.3g} requests in total, more than the simulator's limit of "
                         f"{MAX_SIM_REQUESTS:.0e} (it records every request); cut it with --minutes")  # fmt: skip
    return trace


def _train(trace, args: argparse.Namespace) -> dict | None:
    """Per job key, the earlier days its forecaster may learn from (never the trace's own day)."""
    from farod.forecast.train import read_train_csv, train_for

    path = args.train if args.train is not None else (None if args.trace else DEFAULT_TRAIN)
    if path is None or path == "none":
        return None
    per_job = train_for(trace, read_train_csv(path))
    return {key: days for key, days in zip(trace.keys, per_job) if days is not None}


def _config(path: str | None, fidelity: str | None):
    from farod.sim.config import load_config

    return load_config(path, fidelity_preset=fidelity)


def _from_config(args: argparse.Namespace, trace, *, policies: list[str] | None, cpus: list[float] | None):
    """The trace cut to the daemon config's jobs, the simulator config, policies, quotas and parameters."""
    from farod.sim.config import parse_config
    from farod.traces.from_config import from_daemon_config, policy_params
    from farod.yamlfile import read_yaml

    setup = from_daemon_config(args.from_config, trace, base=read_yaml(args.config) if args.config else None)
    for notice in setup.notices:
        print(f"farod: notice: {notice}", file=sys.stderr)
    if cpus is None:
        if setup.cpus is None:
            raise FarodError(f"--cpus: {args.from_config} takes its quota from a ResourceQuota; give the CPUs")
        cpus = [setup.cpus]
    if policies is None:
        policies = [setup.policy] + (["replay"] if setup.trace.replicas is not None else [])
    params = policy_params(setup.config, policies)
    for policy, given in _params_by_policy(args.policy_params, policies).items():
        params[policy] = {**params.get(policy, {}), **given}
    sim_config = {**setup.sim_config, "fidelity": args.fidelity} if args.fidelity else setup.sim_config
    return setup.trace, parse_config(sim_config), policies, cpus, params


def _params_by_policy(params: dict, policies: list[str]) -> dict:
    """``{"aiad": {...}}`` as given, or one flat object applied to every policy of the suite."""
    from farod.policies import NAMES

    if params and all(key in NAMES for key in params):
        for key, value in params.items():
            if not isinstance(value, dict):
                raise FarodError(f"--policy-params: {key} must map to an object of parameters")
        return params
    return {name: params for name in policies} if params else {}


def _figures(out: str, records: list[dict], results: list, report) -> None:
    report.bar_chart(records, os.path.join(out, "compare.png"))
    first_seed: dict[tuple[str, float], object] = {}
    for result in results:
        first_seed.setdefault((result.record["policy"], result.record["cpus"]), result)
    for (policy, cpus), result in first_seed.items():
        path = os.path.join(out, f"timeline-{policy}-{cpus:g}cpu.png")
        report.timeline_figure(result.timeline, path, title=f"{policy}, {cpus:g} CPUs, seed {result.record['seed']}")


def _json_record(record: dict) -> dict:
    """Whole quotas print as integers (``"cpus": 32``), as a user typed them."""
    quota = {name: _whole(amount) for name, amount in record["quota"].items()}
    return {**record, "cpus": _whole(record["cpus"]), "quota": quota}


def _whole(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def _make_dir(path: str) -> None:
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise FarodError(f"--out: cannot create {path}: {exc.strerror}") from None


def _list_of(item_type):
    def parse(text: str) -> list:
        values = [item_type(part.strip()) for part in text.split(",") if part.strip()]
        if not values:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}")
        return values

    return parse


def _positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


MAX_SEED = 2**32 - 1


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def _seed(text: str) -> int:
    value = _integer(text)
    if not 0 <= value <= MAX_SEED:  # numpy's generators take no negative seed
        raise argparse.ArgumentTypeError(f"a seed is an integer from 0 to {MAX_SEED}, got {text!r}")
    return value


def _phase(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"a plan phase is a fraction of the plan interval in [0, 1), got {text!r}")
    return value


def _phase_count(text: str) -> int:
    value = _integer(text)
    if not 1 <= value <= MAX_PHASES:
        raise argparse.ArgumentTypeError(f"from 1 to {MAX_PHASES} phases, got {text!r}")
    return value


def _positive_integer(text: str) -> int:
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc.msg})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object")
    return value
