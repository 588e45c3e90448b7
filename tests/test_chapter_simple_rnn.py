"""The SimpleRNN chapter's NumPy loop equals keras.layers.SimpleRNN over random shapes and seeds."""

import numpy as np
import pytest
from chapter_code import load_chapter_code
from keras_reference import keras, run_layer

chapter = load_chapter_code("rnn_basics/simple_rnn_numpy.md")
CASES = [(1, 1, 1, 1, 0), (2, 5, 3, 4, 1), (3, 17, 8, 6, 2), (4, 100, 32, 64, 3), (2, 9, 1, 16, 4)]


def random_weights(rng, d, h):
    scale = 1 / np.sqrt(d + h)
    W = rng.normal(0, scale, (h, d)).astype("float32")
    U = rng.normal(0, scale, (h, h)).astype("float32")
    b = rng.normal(0, 0.1, h).astype("float32")
    return W, U, b


@pytest.mark.parametrize(("n", "t", "d", "h", "seed"), CASES)
@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("with_initial_state", [False, True])
def test_batched_loop_equals_keras(n, t, d, h, seed, return_sequences, with_initial_state):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, t, d)).astype("float32")
    W, U, b = random_weights(rng, d, h)
    h0 = rng.normal(size=(n, h)).astype("float32") if with_initial_state else None
    ours = chapter["simple_rnn_forward"](x, W, U, b, h0=h0, return_sequences=return_sequences)
    layer = keras.layers.SimpleRNN(h, return_sequences=return_sequences)
    theirs = run_layer(layer, x, [W.T, U.T, b], initial_state=None if h0 is None else [h0])
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("n", "t", "d", "h", "seed"), CASES)
def test_single_sequence_loop_equals_batched_loop_in_float64(n, t, d, h, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, t, d))
    W, U, b = (w.astype("float64") for w in random_weights(rng, d, h))
    batched = chapter["simple_rnn_forward"](x, W, U, b)
    for i in range(n):
        single = chapter["simple_rnn_forward_single"](x[i], W, U, b)
        np.testing.assert_allclose(single, batched[i], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("d", "u"), [(1, 1), (32, 32), (32, 64), (128, 7)])
def test_parameter_formula_matches_count_params(d, u):
    layer = keras.layers.SimpleRNN(u)
    layer.build((None, 5, d))
    assert chapter["simple_rnn_param_count"](d, u) == layer.count_params()
