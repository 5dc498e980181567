"""``farod plan``: one allocation decision from a problem file (schema: :mod:`farod.planfile`).

Example::

    farod plan --input examples/plan-10jobs.json --method exact --json -
"""

from __future__ import annotations

import argparse
from farod.cli.output import write_json
from farod.model.problem import problem_from_dict
from farod.model.solver import METHODS, solve
from farod.yamlfile import parse_json, read_text


def register(subparsers) -> None:
    parser = subparsers.add_parser("plan", help="solve one allocation problem (JSON in, JSON out)")
    parser.add_argument("--input", required=True, metavar="PROBLEM.json", help="the problem file ('-' for stdin)")
    parser.add_argument("--method", choices=METHODS, default="exact")
    parser.add_argument("--json", default="-", metavar="OUT", help="where to write the solution ('-' for stdout)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    problem = problem_from_dict(_read_json(args.input))
    solution = solve(problem, method=args.method)
    write_json(args.json, solution.to_json())
    if args.json != "-":
        _print_table(solution)
    return 0


def _read_json(path: str):
    return parse_json(read_text(path, what="--input problem"), source=f"--input {path}")


def _print_table(solution) -> None:
    print(f"{'job':<24} {'replicas':>8} {'accept':>7} {'utility':>8}  max predicted latency (ms)")
    for name, replicas in solution.allocation.items():
        worst = max(solution.predicted_latency_ms[name])
        print(f"{name:<24} {replicas:>8} {solution.accept_rate[name]:>7.3f} {solution.utility[name]:>8.4f}  {worst:.1f}")
    status = "optimal" if solution.optimal else "not proven optimal"
    print(f"objective {solution.objective:.4f} ({solution.method}, {status}, {solution.solve_ms:.1f} ms)")
