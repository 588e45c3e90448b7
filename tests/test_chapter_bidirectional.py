"""The bidirectional chapter's NumPy layer equals keras.layers.Bidirectional(SimpleRNN) for every merge mode."""

import numpy as np
import pytest
from chapter_code import load_chapter_code
from keras_reference import keras

chapter = load_chapter_code("gated/bidirectional.md")
MERGE_MODES = ["concat", "sum", "mul", "ave", None]
CASES = [(1, 1, 1, 1, 0), (2, 5, 3, 4, 1), (3, 12, 8, 6, 2), (4, 30, 16, 10, 3)]


def random_weights(rng, d, u):
    scale = 1 / np.sqrt(d + u)
    W = rng.normal(0, scale, (u, d)).astype("float32")
    U = rng.normal(0, scale, (u, u)).astype("float32")
    b = rng.normal(0, 0.1, u).astype("float32")
    return W, U, b


def as_list(outputs, merge_mode):
    return list(outputs) if merge_mode is None else [outputs]


@pytest.mark.parametrize(("n", "t", "d", "u", "seed"), CASES)
@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("merge_mode", MERGE_MODES)
def test_bidirectional_simple_rnn_equals_keras(n, t, d, u, seed, return_sequences, merge_mode):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, t, d)).astype("float32")
    forward, backward = random_weights(rng, d, u), random_weights(rng, d, u)
    layer = keras.layers.Bidirectional(
        keras.layers.SimpleRNN(u, return_sequences=return_sequences), merge_mode=merge_mode
    )
    layer.build((None, t, d))
    layer.forward_layer.set_weights(chapter["weights_to_keras"](*forward))
    layer.backward_layer.set_weights(chapter["weights_to_keras"](*backward))
    ours = as_list(
        chapter["bidirectional_simple_rnn"](x, forward, backward, merge_mode, return_sequences), merge_mode
    )
    theirs = [np.asarray(o) for o in as_list(layer(x), merge_mode)]
    assert len(ours) == len(theirs)
    for a, k in zip(ours, theirs, strict=True):
        assert a.shape == k.shape
        np.testing.assert_allclose(a, k, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("seed", [0, 1])
def test_weights_read_from_keras_give_keras_output(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(3, 9, 5)).astype("float32")
    keras.utils.set_random_seed(seed)
    layer = keras.layers.Bidirectional(keras.layers.SimpleRNN(7, return_sequences=True))
    layer.build((None, 9, 5))
    forward = chapter["weights_from_keras"](*layer.forward_layer.get_weights())
    backward = chapter["weights_from_keras"](*layer.backward_layer.get_weights())
    ours = chapter["bidirectional_simple_rnn"](x, forward, backward)
    np.testing.assert_allclose(ours, np.asarray(layer(x)), rtol=1e-5, atol=1e-5)


def test_backward_half_is_aligned_by_position():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 6, 3))
    forward, backward = random_weights(rng, 3, 4), random_weights(rng, 3, 4)
    both = chapter["bidirectional_simple_rnn"](x, forward, backward, merge_mode=None)
    run = chapter["simple_rnn_forward"]
    for t in range(6):  # position t of the backward half has read x[t:] from the end
        np.testing.assert_allclose(both[1][:, t], run(x[:, t:][:, ::-1], *backward, return_sequences=False))
        np.testing.assert_allclose(both[0][:, t], run(x[:, : t + 1], *forward, return_sequences=False))


def test_unknown_merge_mode_raises():
    with pytest.raises(ValueError):
        chapter["merge_directions"](np.zeros(2), np.zeros(2), "max")


@pytest.mark.parametrize(("d", "u"), [(1, 1), (16, 8), (128, 64)])
@pytest.mark.parametrize(
    ("cell", "formula"),
    [
        (keras.layers.SimpleRNN, "simple_rnn_params"),
        (keras.layers.LSTM, "lstm_params"),
        (keras.layers.GRU, "gru_params"),
    ],
)
@pytest.mark.parametrize("merge_mode", ["concat", "sum", None])
def test_bidirectional_params_and_output_shape(d, u, cell, formula, merge_mode):
    inputs = keras.Input(shape=(7, d))
    layer = keras.layers.Bidirectional(cell(u), merge_mode=merge_mode)
    outputs = layer(inputs)
    assert layer.count_params() == chapter["bidirectional_params"](chapter[formula](d, u))
    if merge_mode == "concat":
        assert tuple(outputs.shape) == (None, 2 * u)
    elif merge_mode is None:
        assert [tuple(o.shape) for o in outputs] == [(None, u), (None, u)]
    else:
        assert tuple(outputs.shape) == (None, u)


def test_gru_params_without_reset_after():
    layer = keras.layers.GRU(8, reset_after=False)
    layer.build((None, None, 128))
    assert layer.count_params() == chapter["gru_params"](128, 8, reset_after=False) == 3288


def test_lab_report_bigru_shape_and_count():
    inputs = keras.Input(shape=(200,))
    x = keras.layers.Embedding(10000, 128)(inputs)
    bi = keras.layers.Bidirectional(keras.layers.GRU(64))
    assert tuple(bi(x).shape) == (None, 128)
    assert bi.count_params() == chapter["bidirectional_params"](chapter["gru_params"](128, 64)) == 74496
    lstm = keras.layers.Bidirectional(keras.layers.LSTM(64))
    lstm(x)
    assert lstm.count_params() == chapter["bidirectional_params"](chapter["lstm_params"](128, 64)) == 98816
