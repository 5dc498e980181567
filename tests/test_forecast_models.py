"""farod.forecast: the interface contract of every model, robustness to live data, and what each one knows."""

import numpy as np
import pytest

from farod import forecast
from farod.errors import FarodError

RNG = np.random.default_rng(7)
MINUTES = 120


def daily_shape(minutes: int = MINUTES) -> np.ndarray:
    """A load with a slow swell and a dip every 15 minutes, like the bundled job 7."""
    t = np.arange(minutes)
    return 400 + 150 * np.sin(t / 30) - 250 * (t % 15 == 0)


def noisy_days(days: int) -> np.ndarray:
    return RNG.poisson(daily_shape(), size=(days, MINUTES)).astype(float)


TRAIN = noisy_days(3)
TODAY = noisy_days(1)[0]
FORECASTING = [name for name in forecast.MODELS if name != "oracle"]


def make(name: str, **params) -> forecast.Forecaster:
    if name == "oracle":
        return forecast.create("oracle", future=TODAY)
    return forecast.create(name, train=TRAIN, **params)


def assert_usable(bands: np.ndarray, quantiles, horizon: int) -> None:
    assert bands.shape == (len(quantiles), horizon)
    assert np.all(np.isfinite(bands)) and np.all(bands >= 0)
    order = np.argsort(quantiles)
    assert np.all(np.diff(bands[order], axis=0) >= 0), "quantile rows must not cross"


def test_models_and_default_are_published():
    assert {"last", "ma", "ets", "sarimax", "seasonal", "oracle"} <= set(forecast.MODELS)
    assert forecast.DEFAULT_MODEL in forecast.MODELS
    assert "oracle" not in forecast.BACKTEST_MODELS
    assert type(forecast.create("default", train=TRAIN)).name == forecast.DEFAULT_MODEL


@pytest.mark.parametrize("name", forecast.MODELS)
def test_contract_shapes_finite_nonnegative_monotone(name):
    forecaster = make(name)
    quantiles = [0.9, 0.1, 0.5, 0.99]  # unsorted on purpose
    for minutes in (20, 45, 46):
        forecaster.update(TODAY[:minutes])
        assert_usable(forecaster.predict(7, quantiles), quantiles, 7)
    assert_usable(forecaster.predict(30, [0.5]), [0.5], 30)  # longer than any step fitted so far


HISTORIES = {
    "nan": np.where(np.arange(60) % 7 == 3, np.nan, TODAY[:60]),
    "gap": np.concatenate([TODAY[:30], np.full(20, np.nan), TODAY[50:60]]),
    "zeros": np.zeros(60),
    "ten_minutes": TODAY[:10],
    "spike_10x": np.concatenate([TODAY[:59], [10 * TODAY[58]]]),
    "all_nan": np.full(40, np.nan),
    "negative_and_inf": np.concatenate([TODAY[:40], [-5.0, np.inf, -np.inf]]),
    "empty": np.zeros(0),
}


@pytest.mark.parametrize("case", HISTORIES)
@pytest.mark.parametrize("name", FORECASTING)
def test_robust_to_live_data(name, case):
    forecaster = make(name)
    forecaster.update(HISTORIES[case])
    bands = forecaster.predict(7, [0.5, 0.9])
    assert_usable(bands, [0.5, 0.9], 7)
    if case == "spike_10x":
        # A single spiking minute may lift the forecast but must not be extrapolated beyond it.
        assert bands[0].max() <= HISTORIES[case][-1]


def test_without_train_every_model_still_answers():
    for name in FORECASTING:
        forecaster = forecast.create(name)
        forecaster.update(TODAY[:40])
        assert_usable(forecaster.predict(5, [0.5, 0.95]), [0.5, 0.95], 5)


def test_last_repeats_the_last_good_minute_and_ma_averages_the_window():
    history = np.array([10.0, 20, 30, 40, np.nan])
    last = forecast.create("last")
    last.update(history)
    np.testing.assert_array_equal(last.predict(3, [0.5])[0], [40, 40, 40])
    moving = forecast.create("ma", window=3)
    moving.update(history)
    np.testing.assert_allclose(moving.predict(2, [0.5])[0], [(30 + 40 + 40) / 3] * 2)


def test_error_quantiles_give_headroom_that_grows_with_noise():
    calm = forecast.create("ma", train=np.full((3, MINUTES), 100.0) + RNG.normal(0, 1, (3, MINUTES)))
    wild = forecast.create("ma", train=np.full((3, MINUTES), 100.0) + RNG.normal(0, 30, (3, MINUTES)))
    spreads = []
    for forecaster in (calm, wild):
        forecaster.update(np.full(30, 100.0))
        median, high = forecaster.predict(7, [0.5, 0.9])
        spreads.append(float(np.mean(high - median)))
    assert 0 < spreads[0] < 5 < spreads[1]


def test_seasonal_learns_the_daily_shape_the_moving_average_misses():
    truth = daily_shape()
    errors = {}
    for name in ("seasonal", "ma"):
        forecaster = forecast.create(name, train=TRAIN)
        misses = []
        for minute in range(20, MINUTES - 7):
            forecaster.update(TODAY[:minute])
            misses.append(forecaster.predict(7, [0.5])[0] - truth[minute : minute + 7])
        errors[name] = float(np.sqrt(np.mean(np.square(misses))))
    assert errors["seasonal"] < 0.5 * errors["ma"]


@pytest.mark.parametrize("days", [TRAIN[:1], TRAIN[:, :20]], ids=["one_day", "twenty_minutes"])
def test_seasonal_without_enough_earlier_days_falls_back_to_the_moving_average(days):
    seasonal = forecast.create("seasonal", train=days)
    moving = forecast.create("ma", train=days)
    for forecaster in (seasonal, moving):
        forecaster.update(TODAY[:50])
    np.testing.assert_allclose(seasonal.predict(7, [0.5, 0.9]), moving.predict(7, [0.5, 0.9]))


def test_seasonal_horizons_beyond_the_fitted_steps_reuse_the_furthest_step():
    forecaster = forecast.create("seasonal", train=TRAIN)
    forecaster.update(TODAY[:40])
    long = forecaster.predict(200, [0.5, 0.9])  # longer than the training days themselves
    assert_usable(long, [0.5, 0.9], 200)
    np.testing.assert_allclose(forecaster.predict(7, [0.5])[0], long[0, :7])


def test_oracle_returns_the_truth_and_poisson_headroom_above_it():
    oracle = forecast.create("oracle", future=TODAY)
    oracle.update(TODAY[:30])
    median, high = oracle.predict(7, [0.5, 0.9])
    np.testing.assert_array_equal(median, TODAY[30:37])
    assert np.all(high > median)
    oracle.update(TODAY[: MINUTES - 2])  # past the end of the trace the last count repeats
    np.testing.assert_array_equal(oracle.predict(4, [0.5])[0], [TODAY[-2], TODAY[-1], TODAY[-1], TODAY[-1]])


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: forecast.create("prophet"), "model: unknown forecast model 'prophet'"),
        (lambda: forecast.create("ma", windw=3), "windw: not a parameter of forecast model 'ma'"),
        (lambda: forecast.create("ma", window=0), "window: must be a positive integer"),
        (lambda: forecast.create("sarimax", p=9), "p: must be an integer ARIMA order"),
        (lambda: forecast.create("seasonal", train=np.zeros(5)), "train: must be a 2-D array"),
        (lambda: forecast.create("oracle", future=[]), "future: must be a non-empty 1-D array"),
        (lambda: make("last").predict(0, [0.5]), "horizon: must be a positive integer"),
        (lambda: make("last").predict(3, [0.5, 1.0]), r"quantiles: must be .* in \(0, 1\)"),
        (lambda: make("last").update(np.zeros((2, 2))), "history: must be a 1-D array"),
    ],
)
def test_bad_arguments_are_named(call, message):
    with pytest.raises(FarodError, match=message):
        call()
