"""``farod run --config FILE`` (the daemon) and ``farod validate FILE`` (check a config, run nothing).

Example::

    farod validate config/farod.example.yaml      # one line: ok, or the first problem and its field
    farod run --config config/farod.example.yaml > decisions.jsonl

``validate`` does everything ``run`` does before it starts its loop -- parse the schema, the semantic
checks, build the policy with its parameters -- so a config it accepts does not fail at start-up.
``run`` logs JSON lines on stdout (one per decision; ``farod explain`` reads them).
"""

from __future__ import annotations

from farod.daemon.config import load_config
from farod.daemon.runner import Daemon, build_policy
from farod.logs import configure_logging


def register(subparsers) -> None:
    run = subparsers.add_parser("run", help="the live control loop: Prometheus -> policy -> Ray Serve")
    run.add_argument("--config", required=True, metavar="FILE", help="YAML config (config/farod.example.yaml)")
    run.set_defaults(handler=run_daemon)
    validate = subparsers.add_parser("validate", help="check a config file without running")
    validate.add_argument("config", metavar="FILE")
    validate.set_defaults(handler=validate_config)


def validate_config(args) -> int:
    config = load_config(args.config)
    if config.quota:
        build_policy(config, quota=config.quota)
    print(f"{args.config}: ok ({len(config.jobs)} jobs, policy {config.policy.name}, "
          f"actuator {config.actuator.kind})")
    return 0


def run_daemon(args) -> int:
    config = load_config(args.config)
    configure_logging(config.log_level)
    if config.kubernetes.enabled:  # the Helm chart: Lease, ConfigMap watch, ResourceQuota, Events, KubeRay
        from farod.daemon.incluster import run_in_cluster

        with open(args.config, encoding="utf-8") as handle:
            return run_in_cluster(config, config_text=handle.read())
    daemon = Daemon(config)
    daemon.start()
    daemon.wait()
    return 0
