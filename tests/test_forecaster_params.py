"""Forecaster parameters flow end to end: daemon config (or policy parameters) -> policy -> forecaster registry."""

from __future__ import annotations

import pytest

from farod import policies
from farod.cli import main
from farod.daemon.config import parse_config
from farod.daemon.runner import build_policy, policy_params_for
from farod.errors import FarodError
from farod.jobs import JobSpec
from tests.test_daemon_config import MINIMAL, with_
from tests.test_validate_is_run import _validate

FARO = with_("policy", {"name": "faro-sum"})


def _windows(policy) -> set[int]:
    """The window of every job's forecaster (the registry's ``ma`` objects the policy built)."""
    return {forecaster.window for forecaster in policy.inner._forecasters.values()}  # noqa: SLF001


def test_daemon_forecaster_params_reach_every_forecaster():
    config = parse_config(with_("forecaster", {"name": "ma", "params": {"window": 30}}, base=FARO))
    policy = build_policy(config, quota=config.quota)
    assert policy.params.forecaster == "ma" and policy.params.forecaster_params == {"window": 30}
    assert _windows(policy) == {30}


def test_policy_params_naming_a_forecaster_replace_the_whole_forecaster_section():
    base = with_("forecaster", {"name": "ma", "params": {"window": 30}}, base=FARO)
    config = parse_config(with_("policy.params", {"forecaster": "ma", "forecaster_params": {"window": 5}}, base=base))
    assert _windows(build_policy(config, quota=config.quota)) == {5}
    config = parse_config(with_("policy.params", {"forecaster": "last"}, base=base))
    assert "forecaster_params" not in policy_params_for(config, "faro-sum")
    # A reactive policy has no forecaster: the section is not its parameter.
    assert "forecaster_params" not in policy_params_for(config, "aiad")


@pytest.mark.parametrize("forecaster, message", [
    ({"name": "ma", "params": {"window": 0}}, "forecaster.params.window: must be a positive integer, got 0"),
    ({"name": "ma", "params": {"window": 10**400}}, "forecaster.params.window: must be <= 10080, got an integer of"),
    ({"name": "ma", "params": {"windw": 30}}, "forecaster.params.windw: not a parameter of forecast model 'ma' "
                                              "(it takes: window)"),
    ({"name": "sarimax", "params": {"p": "1"}}, "forecaster.params.p: must be an integer ARIMA order in 0..5, got '1'"),
    ({"params": {"window": 30}}, "forecaster.params.window: not a parameter of forecast model 'seasonal'"),
    ({"name": "prophet"}, "forecaster.name: unknown forecast model 'prophet' (choose from default, last, ma, ets"),
    ({"name": "oracle"}, "forecaster.name: unknown forecast model 'oracle'"),
])
def test_validate_refuses_bad_forecaster_params_in_one_line(tmp_path, capsys, forecaster, message):
    code, error, _ = _validate(tmp_path, capsys, with_("forecaster", forecaster, base=FARO))
    assert code == 2 and error.startswith(message) and "\n" not in error, error


def test_validate_accepts_forecaster_params_that_run_applies(tmp_path, capsys):
    code, _, out = _validate(tmp_path, capsys, with_("forecaster", {"name": "ets", "params": {"refit_every": 30}},
                                                     base=FARO))
    assert code == 0 and "ok (1 jobs, policy faro-sum" in out


JOBS = {"a/m": JobSpec(application="a", deployment="m", slo_ms=720, service_time_ms=180)}


def test_policy_parameters_carry_forecaster_params_for_the_simulator():
    policy = policies.create("mark", jobs=JOBS, quota={"cpu": 4},
                             params={"forecaster": "ma", "forecaster_params": {"window": 7}})
    assert _windows(policy) == {7}
    with pytest.raises(FarodError, match=r"^policy faro-sum: forecaster_params\.window: must be a positive integer"):
        policies.create("faro-sum", jobs=JOBS, quota={"cpu": 4},
                        params={"forecaster": "ma", "forecaster_params": {"window": -3}})
    with pytest.raises(FarodError, match=r"^policy faro-sum: forecaster: unknown forecast model 'prophet'"):
        policies.create("faro-sum", jobs=JOBS, quota={"cpu": 4}, params={"forecaster": "prophet"})


def test_compare_policy_params_flag_carries_forecaster_params(capsys, tmp_path):
    code = main(["compare", "--cpus", "32", "--policies", "mark", "--seeds", "1", "--minutes", "3",
                 "--policy-params", '{"mark": {"forecaster": "ma", "forecaster_params": {"window": 0}}}'])
    err = capsys.readouterr().err
    assert (code, err) == (2, "farod: error: policy mark: forecaster_params.window: must be a positive integer, "
                              "got 0\n")
    # The flag's errors name the policy (a daemon config names policy.params.<name> instead).
    code = main(["compare", "--cpus", "32", "--policies", "mark", "--seeds", "1", "--minutes", "3",
                 "--policy-params", '{"quantile": 2}'])
    assert (code, capsys.readouterr().err) == (2, "farod: error: policy mark: quantile must be in (0, 1), got 2.0\n")
