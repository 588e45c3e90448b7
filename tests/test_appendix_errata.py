"""The errata appendix's NumPy LSTM and GRU equal Keras (and its 'slips' really differ)."""

import numpy as np
import pytest
from chapter_code import load_chapter_code
from keras_reference import keras, run_layer

errata = load_chapter_code("appendix/errata.md")
CASES = [(1, 1, 1, 1, 0), (2, 7, 3, 5, 1), (4, 12, 8, 16, 2)]


def random_weights(rng, d, u, gates, bias_shape):
    return (
        rng.normal(0, 0.5, (d, gates * u)).astype("float32"),
        rng.normal(0, 0.5, (u, gates * u)).astype("float32"),
        rng.normal(0, 0.5, bias_shape).astype("float32"),
    )


@pytest.mark.parametrize(("n", "t", "d", "u", "seed"), CASES)
def test_lstm_equals_keras_and_the_slips_do_not(n, t, d, u, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, t, d)).astype("float32")
    weights = random_weights(rng, d, u, 4, (4 * u,))
    theirs = run_layer(keras.layers.LSTM(u, return_sequences=True), x, weights)
    np.testing.assert_allclose(errata["lstm_forward"](x, *weights), theirs, rtol=1e-5, atol=1e-5)
    if t > 1:
        slip = errata["lstm_forward"](x, *weights, h_from_previous_cell=True)
        assert np.abs(slip - theirs).max() > 1e-3


@pytest.mark.parametrize(("n", "t", "d", "u", "seed"), CASES)
def test_gru_conventions_are_the_same_model(n, t, d, u, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, t, d)).astype("float32")
    kernel, recurrent, bias = random_weights(rng, d, u, 3, (2, 3 * u))
    theirs = run_layer(keras.layers.GRU(u, return_sequences=True), x, [kernel, recurrent, bias])
    np.testing.assert_allclose(
        errata["gru_forward"](x, kernel, recurrent, bias), theirs, rtol=1e-5, atol=1e-5
    )
    flip = np.ones(3 * u, dtype="float32")
    flip[:u] = -1
    other = errata["gru_forward"](
        x, kernel * flip, recurrent * flip, bias * flip, update_weights_new_state=True
    )
    np.testing.assert_allclose(other, theirs, rtol=1e-5, atol=1e-5)
