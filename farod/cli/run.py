"""``farod run --config FILE`` (the daemon) and ``farod validate FILE`` (check a config, run nothing).

Example::

    farod validate config/farod.example.yaml      # one line: ok, or the first problem and its field
    farod run --config config/farod.example.yaml > decisions.jsonl

``validate`` does everything ``run`` does before it starts its loop -- parse the schema, the semantic
checks, build the policy with its parameters, the signals, the history and the actuator
(:func:`build_like_run`) -- so a config it accepts does not fail at start-up. Only what needs the
network is left to ``run``, which reports a port in use or a host it cannot listen on in one line.
``run`` logs JSON lines on stdout (one per decision; ``farod explain`` reads them).
"""

from __future__ import annotations

import socket

from farod.actuators.dryrun import DryRunActuator
from farod.daemon.config import Config, load_config
from farod.daemon.runner import Daemon
from farod.errors import FarodError
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
    build_like_run(config)
    print(f"{args.config}: ok ({len(config.jobs)} jobs, policy {config.policy.name}, "
          f"actuator {config.actuator.kind})")
    return 0


def build_like_run(config: Config) -> Daemon:
    """What ``run`` builds before it starts its loop (policy, signals, history, actuator, controller),
    without a network call; stand-ins where only the cluster can answer: a generous quota when it comes
    from a ResourceQuota, a dry-run actuator for a KubeRay RayService."""
    standin_quota = {resource: 1e6 for job in config.jobs for resource in job.resources}
    quota = (lambda: standin_quota) if config.quota_resource_quota else None
    actuator = DryRunActuator() if config.actuator.kind == "rayservice" else None
    return Daemon(config, quota=quota, actuator=actuator)


def run_daemon(args) -> int:
    config = load_config(args.config)
    configure_logging(config.log_level)
    _check_listen(config.server.host, config.server.port)
    if config.kubernetes.enabled:  # the Helm chart: Lease, ConfigMap watch, ResourceQuota, Events, KubeRay
        from farod.daemon.incluster import run_in_cluster

        with open(args.config, encoding="utf-8") as handle:
            return run_in_cluster(config, config_text=handle.read())
    daemon = Daemon(config)
    daemon.stop_on_signals()
    daemon.start()
    daemon.wait()
    return 0


def _check_listen(host: str, port: int) -> None:
    """A port in use or a host that is not this machine's: one line before anything starts."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        raise FarodError(f"server: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
