"""The LSTM chapter's NumPy cell and layer equal keras.layers.LSTM over random shapes and seeds."""

import numpy as np
import pytest
from chapter_code import load_chapter_code
from keras_reference import keras, run_layer

chapter = load_chapter_code("gated/lstm.md")
# (N, T, D, U, seed): includes the edge cases D = 1, U = 1 and T = 1.
CASES = [
    (1, 1, 1, 1, 0),
    (2, 5, 3, 4, 1),
    (3, 17, 8, 6, 2),
    (2, 60, 32, 32, 3),
    (2, 9, 1, 16, 4),
    (3, 1, 7, 5, 5),
]


def random_weights(rng, d, u, dtype="float32"):
    scale = 1 / np.sqrt(d + u)
    kernel = rng.normal(0, scale, (d, 4 * u))
    recurrent_kernel = rng.normal(0, scale, (u, 4 * u))
    bias = rng.normal(0, 0.5, 4 * u)
    return [w.astype(dtype) for w in (kernel, recurrent_kernel, bias)]


def random_states(rng, n, u, dtype="float32"):
    return rng.normal(0, 0.5, (n, u)).astype(dtype), rng.normal(0, 1.0, (n, u)).astype(dtype)


@pytest.mark.parametrize(("n", "t", "d", "u", "seed"), CASES)
@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("with_initial_state", [False, True])
def test_lstm_forward_equals_keras(n, t, d, u, seed, return_sequences, with_initial_state):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, t, d)).astype("float32")
    weights = random_weights(rng, d, u)
    h0, c0 = random_states(rng, n, u) if with_initial_state else (None, None)
    ours = chapter["lstm_forward"](x, *weights, h0=h0, c0=c0, return_sequences=return_sequences)
    layer = keras.layers.LSTM(u, return_sequences=return_sequences)
    theirs = run_layer(layer, x, weights, initial_state=None if h0 is None else [h0, c0])
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("n", "t", "d", "u", "seed"), CASES)
def test_return_state_equals_keras(n, t, d, u, seed):
    rng = np.random.default_rng(100 + seed)
    x = rng.normal(size=(n, t, d)).astype("float32")
    weights = random_weights(rng, d, u)
    h0, c0 = random_states(rng, n, u)
    ours = chapter["lstm_forward"](x, *weights, h0=h0, c0=c0, return_sequences=False, return_state=True)
    theirs = run_layer(keras.layers.LSTM(u, return_state=True), x, weights, initial_state=[h0, c0])
    assert len(ours) == len(theirs) == 3
    for our_part, their_part in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(our_part, their_part, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("n", "t", "d", "u", "seed"), CASES[:4])
def test_lstm_forward_equals_keras_in_float64(n, t, d, u, seed):
    rng = np.random.default_rng(200 + seed)
    x = rng.normal(size=(n, t, d))
    weights = random_weights(rng, d, u, "float64")
    h0, c0 = random_states(rng, n, u, "float64")
    layer = keras.layers.LSTM(u, return_sequences=True, dtype="float64")
    layer.build(x.shape)
    layer.set_weights(weights)
    theirs = keras.ops.convert_to_numpy(layer(x, initial_state=[h0, c0]))
    ours = chapter["lstm_forward"](x, *weights, h0=h0, c0=c0)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


def test_cell_on_one_vector_equals_layer_on_one_step():
    rng = np.random.default_rng(7)
    d, u = 5, 3
    weights = random_weights(rng, d, u, "float64")
    x_t = rng.normal(size=d)
    h_prev, c_prev = (s[0] for s in random_states(rng, 1, u, "float64"))
    h, c = chapter["lstm_cell"](x_t, h_prev, c_prev, *weights)
    _, h_layer, c_layer = chapter["lstm_forward"](
        x_t[None, None, :], *weights, h0=h_prev[None], c0=c_prev[None], return_state=True
    )
    np.testing.assert_allclose(h, h_layer[0], rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(c, c_layer[0], rtol=1e-14, atol=1e-14)


def test_gates_are_in_keras_order_i_f_c_o():
    """Closing block 1 (the forget gate) must make c_1 independent of c_0; closing block 3 must zero h_1."""
    rng = np.random.default_rng(8)
    d, u, n = 4, 3, 2
    kernel, recurrent_kernel, bias = random_weights(rng, d, u, "float64")
    x = rng.normal(size=(n, 1, d))
    h0, c0 = random_states(rng, n, u, "float64")
    for block in range(4):
        closed = bias.copy()
        closed[block * u : (block + 1) * u] = -40.0
        _, h_a, c_a = chapter["lstm_forward"](
            x, kernel, recurrent_kernel, closed, h0=h0, c0=c0, return_state=True
        )
        _, _, c_b = chapter["lstm_forward"](
            x, kernel, recurrent_kernel, closed, h0=h0, c0=2 * c0, return_state=True
        )
        assert (np.abs(c_a - c_b).max() < 1e-12) == (block == 1)
        assert (np.abs(h_a).max() < 1e-12) == (block == 3)


def test_sigmoid_is_the_logistic_function_and_does_not_overflow():
    a = np.linspace(-30, 30, 601)
    np.testing.assert_allclose(chapter["sigmoid"](a), 1 / (1 + np.exp(-a)), rtol=1e-12, atol=1e-15)
    with np.errstate(over="raise"):
        assert chapter["sigmoid"](np.array([-1e4, 1e4])).tolist() == [0.0, 1.0]


@pytest.mark.parametrize(
    ("d", "u", "expected"), [(32, 32, 8_320), (128, 8, 4_384), (8, 8, 544), (1, 1, 12), (128, 64, None)]
)
def test_parameter_formula_matches_count_params(d, u, expected):
    layer = keras.layers.LSTM(u)
    layer.build((None, 5, d))
    assert chapter["lstm_param_count"](d, u) == layer.count_params()
    if expected is not None:
        assert layer.count_params() == expected


def test_bidirectional_lstm_count_and_unit_forget_bias():
    model = keras.Sequential(
        [keras.Input(shape=(300, 128)), keras.layers.Bidirectional(keras.layers.LSTM(64))]
    )
    assert model.count_params() == 2 * chapter["lstm_param_count"](128, 64) == 98_816
    assert 4 * 64 * (128 + 64 + 1) == 49_408  # the lab report's product, one direction
    fresh = keras.layers.LSTM(6)
    fresh.build((None, None, 2))
    blocks = np.split(fresh.get_weights()[2], 4)
    assert [float(b.mean()) for b in blocks] == [0.0, 1.0, 0.0, 0.0]
