"""The forecasting lab's helpers, as the page defines them: windows line up with their targets, the
scaler maps its fitting range to [0, 1] and back, and the least-squares autoregression recovers known
weights (the persistence forecast is the autoregression with weight 1 on the last day)."""

import numpy as np
import pytest
from chapter_code import load_chapter_code

lab = load_chapter_code("labs/starbucks_forecast.md")


@pytest.mark.parametrize(("length", "width"), [(5, 1), (30, 4), (100, 20)])
def test_windows_end_the_day_before_their_target(length, width):
    series = np.arange(length, dtype=float) ** 2
    inputs, targets = lab["windows"](series, width)
    assert inputs.shape == (length - width, width) and targets.shape == (length - width,)
    for row in range(len(targets)):
        assert np.array_equal(inputs[row], series[row : row + width]) and targets[row] == series[row + width]


def test_the_scaler_maps_its_fitting_range_to_the_unit_interval_and_back():
    rng = np.random.default_rng(0)
    fit_on = rng.uniform(3, 40, 50)
    scale, unscale = lab["min_max_scaler"](fit_on)
    assert scale(fit_on).min() == pytest.approx(0) and scale(fit_on).max() == pytest.approx(1)
    later = rng.uniform(50, 100, 10)  # prices above the fitting range land above 1
    assert np.all(scale(later) > 1) and np.allclose(unscale(scale(later)), later)


def test_least_squares_recovers_an_autoregression_and_the_errors_are_in_the_units_of_the_data():
    rng = np.random.default_rng(1)
    inputs = rng.normal(size=(400, 5))
    weights = np.array([0.1, -0.2, 0.0, 0.3, 0.8, 2.5])  # five lags and a constant
    targets = inputs @ weights[:-1] + weights[-1]
    fitted = lab["fit_linear"](inputs, targets)
    assert np.allclose(fitted, weights)
    assert np.allclose(lab["predict_linear"](fitted, inputs), targets)
    persistence = np.r_[np.zeros(4), 1.0, 0.0]
    assert np.array_equal(lab["predict_linear"](persistence, inputs), inputs[:, -1])
    assert lab["rmse"](targets + 2.0, targets) == pytest.approx(2.0)
    assert lab["mae"](targets - 3.0, targets) == pytest.approx(3.0)
