"""`farod validate` accepts exactly what `farod run` can start with; `run` reports what only it can see in one line."""

from __future__ import annotations

import socket

import pytest
import yaml

from farod.cli import main
from tests.test_daemon_config import MINIMAL, with_

IN_CLUSTER = with_("kubernetes", {"enabled": True})
FROM_RESOURCE_QUOTA = with_("quota", {"from_resource_quota": {"name": "compute"}}, base=IN_CLUSTER)


def _validate(tmp_path, capsys, data=None, *, text=None):
    path = tmp_path / "farod.yaml"
    path.write_bytes(text if isinstance(text, bytes) else (text or yaml.safe_dump(data)).encode())
    code = main(["validate", str(path)])
    captured = capsys.readouterr()
    return code, captured.err.removeprefix("farod: error: ").rstrip("\n"), captured.out


@pytest.mark.parametrize("data, message", [
    (with_("kubernetes.leader_election", {"renew_deadline_s": 10, "retry_period_s": 10}),
     "kubernetes.leader_election.retry_period_s: must be shorter than renew_deadline_s (10)"),
    (with_("policy", {"name": "faro-sum", "params": {"step_s": 7}}),
     "policy.params.step_s: must divide a day (86400 s)"),
    (with_("policy", {"name": "faro-sum", "params": {"quantile": 2}}, base=FROM_RESOURCE_QUOTA),
     "policy.params.quantile: must be in (0, 1), got 2.0"),
    (with_("prometheus.ca_file", "/nonexistent/ca.pem"), "prometheus.ca_file: no such file '/nonexistent/ca.pem'"),
    (with_("actuator.rayserve.ca_file", "/nonexistent/ca.pem"), "actuator.rayserve.ca_file: no such file"),
    (with_("intervals.plan_s", 1e300), "intervals.plan_s: must be <= 86400, got 1e+300"),
    (with_("prometheus.timeout_s", 1e300), "prometheus.timeout_s: must be <= 300, got 1e+300"),
    (with_("kubernetes.request_timeout_s", 1e300), "kubernetes.request_timeout_s: must be <= 300, got 1e+300"),
    (with_("prometheus.backfill_days", 1e7), "prometheus.backfill_days: must be an integer >= 0, got 10000000.0"),
    (with_("prometheus.backfill_days", 10**7), "prometheus.backfill_days: must be <= 28, got 10000000"),
    (with_("forecaster", {"name": "ets", "params": {"damped": False}}),
     "forecaster.params.damped: not a parameter of forecast model 'ets'"),
    (with_("jobs[0].resources", {"cpu": 1, "gpu": 1}), "jobs[0].resources.gpu: the quota does not name 'gpu'"),
    (with_("jobs[0].application", "a\x00b"), "jobs[0].application: must not contain control characters"),
    (with_("jobs[0].deployment", "m\nx"), "jobs[0].deployment: must not contain control characters"),
    (with_("jobs[0].application", "a/b"), "jobs[0].application: must be 1-63 of A-Z a-z 0-9 . _ -"),
    (with_("jobs[0].deployment", "x..y"), "jobs[0].deployment: must be 1-63 of A-Z a-z 0-9 . _ -"),
    (with_("policy.name", "oracle"), "policy.name: oracle is simulation only"),
    (with_("policy.name", "replay"), "policy.name: replay is simulation only"),
])
def test_validate_refuses_what_run_could_not_start_with(tmp_path, capsys, data, message):
    code, error, _ = _validate(tmp_path, capsys, data)
    assert code == 2 and error.startswith(message) and "\n" not in error, error


@pytest.mark.parametrize("params, message", [
    ({"quantile": 2}, "policy.params.quantile: must be in (0, 1), got 2.0"),
    ({"quantile": "abc"}, "policy.params.quantile: must be a number, got 'abc'"),
    ({"quantil": 0.5}, "policy.params.quantil: unknown parameter of faro-sum (known: admission, calibration_bounds, "),
    ({"headroom_quantiles": [0.9, "x"]}, "policy.params.headroom_quantiles[1]: must be a number, got 'x'"),
    ({"headroom_quantiles": [0.9, 0.8]}, "policy.params.headroom_quantiles: must be increasing"),
    ({"max_scale_up": -1}, "policy.params.max_scale_up: must be >= 0, got -1"),
    ({"forecaster": "ma", "forecaster_params": {"window": 0}},
     "policy.params.forecaster_params.window: must be a positive integer, got 0"),
])
def test_policy_parameter_errors_name_their_config_path(tmp_path, capsys, params, message):
    code, error, _ = _validate(tmp_path, capsys, with_("policy", {"name": "faro-sum", "params": params}))
    assert code == 2 and error.startswith(message) and "\n" not in error, error


def test_duplicate_keys_are_refused_naming_the_key(tmp_path, capsys):
    code, error, _ = _validate(tmp_path, capsys, text="quota: {cpu: 4}\nquota: {cpu: 8}\n")
    assert (code, error) == (2, f"{tmp_path / 'farod.yaml'}:2: duplicate key 'quota'")


def test_a_resource_quota_config_is_built_like_run_builds_it(tmp_path, capsys):
    code, _, out = _validate(tmp_path, capsys, with_("policy", {"name": "faro-sum"}, base=FROM_RESOURCE_QUOTA))
    assert code == 0 and "ok (1 jobs, policy faro-sum" in out


def test_run_reports_a_port_in_use_in_one_line(tmp_path, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        path = tmp_path / "farod.yaml"
        path.write_text(yaml.safe_dump(with_("server", {"host": "127.0.0.1", "port": port})))
        assert main(["run", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == f"farod: error: server: cannot listen on 127.0.0.1:{port}: Address already in use\n"


def test_run_reports_an_unbindable_host_in_one_line(tmp_path, capsys):
    path = tmp_path / "farod.yaml"
    path.write_text(yaml.safe_dump(with_("server", {"host": "192.0.2.1", "port": 0})))  # TEST-NET: not ours
    assert main(["run", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("farod: error: server: cannot listen on 192.0.2.1:0: ") and err.count("\n") == 1


@pytest.mark.parametrize("text, message", [
    (("jobs: [{application: a, deployment: m, slo_ms: " + "9" * 400 + "}]\nquota: {cpu: 4}\npolicy: {name: aiad}\n"
      ).encode(), "jobs[0].slo_ms: must be a number, got an integer of 400 digits"),
    (b"quota: {cpu: \xff}\n", "{path}:1: config is not UTF-8 text (byte 0xff)"),
    (("x: " + "[" * 1000 + "]" * 1000 + "\n").encode(), "{path}: nested deeper than 32 levels"),
    (b"jobs: [{application: a, deployment: m, slo_ms: 7e2}]\nquota: {cpu: 4}\npolicy: {name: aiad}\n",
     "jobs[0].slo_ms: must be a number (YAML reads 1e3 without a dot as text: write 1000 or 1.0e3), got '7e2'"),
])
def test_inputs_that_used_to_raise_tracebacks_are_one_line(tmp_path, capsys, text, message):
    code, error, _ = _validate(tmp_path, capsys, text=text)
    assert (code, error) == (2, message.format(path=tmp_path / "farod.yaml"))
