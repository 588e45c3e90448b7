"""The Keras recurrent-layers chapter: parameter formulas, the parameter table, and masking."""

import numpy as np
import pytest
from chapter_code import load_chapter_code
from keras_reference import keras

chapter = load_chapter_code("keras_layers/recurrent_layers.md")
SIZES = [(1, 1), (32, 32), (32, 64), (128, 8), (256, 128)]


def built(layer, d):
    layer.build((None, None, d))
    return layer


@pytest.mark.parametrize(("d", "u"), SIZES)
def test_recurrent_formulas_match_count_params(d, u):
    assert chapter["simple_rnn_params"](d, u) == built(keras.layers.SimpleRNN(u), d).count_params()
    assert chapter["lstm_params"](d, u) == built(keras.layers.LSTM(u), d).count_params()
    assert chapter["gru_params"](d, u) == built(keras.layers.GRU(u), d).count_params()
    gru_v1 = built(keras.layers.GRU(u, reset_after=False), d)
    assert chapter["gru_params"](d, u, reset_after=False) == gru_v1.count_params()
    bi = built(keras.layers.Bidirectional(keras.layers.LSTM(u)), d)
    assert chapter["bidirectional_params"](chapter["lstm_params"](d, u)) == bi.count_params()


@pytest.mark.parametrize(("n_in", "n_out"), [(1, 1), (32, 1), (128, 46)])
def test_dense_and_embedding_formulas(n_in, n_out):
    dense = keras.layers.Dense(n_out)
    dense.build((None, n_in))
    assert chapter["dense_params"](n_in, n_out) == dense.count_params()
    embedding = keras.layers.Embedding(n_in * 10, n_out)
    embedding.build((None, None))
    assert chapter["embedding_params"](n_in * 10, n_out) == embedding.count_params()


def lecture_model(layers, length=None):
    return keras.Sequential([keras.Input(shape=(length,), dtype="int32"), *layers])


@pytest.mark.parametrize(
    ("name", "expected_total"),
    [("stacked", 330400), ("simple", 322113), ("lstm", 328353), ("reuters", 3108910)],
)
def test_lecture_models_row_by_row(name, expected_total, capsys):
    c = chapter
    if name == "stacked":
        model = lecture_model(
            [keras.layers.Embedding(10000, 32)]
            + [keras.layers.SimpleRNN(32, return_sequences=True) for _ in range(5)]
        )
        formulas = [("", c["embedding_params"](10000, 32))] + [("", c["simple_rnn_params"](32, 32))] * 5
    elif name in ("simple", "lstm"):
        recurrent = keras.layers.SimpleRNN(32) if name == "simple" else keras.layers.LSTM(32)
        inner = c["simple_rnn_params"](32, 32) if name == "simple" else c["lstm_params"](32, 32)
        model = lecture_model(
            [keras.layers.Embedding(10000, 32), recurrent, keras.layers.Dense(1, activation="sigmoid")], 500
        )
        formulas = [("", c["embedding_params"](10000, 32)), ("", inner), ("", c["dense_params"](32, 1))]
    else:
        model = lecture_model(
            [
                keras.layers.Embedding(10000, 256),
                keras.layers.GRU(256, return_sequences=True),
                keras.layers.GRU(128),
                keras.layers.Dense(46, activation="softmax"),
            ]
        )
        formulas = [
            ("", c["embedding_params"](10000, 256)),
            ("", c["gru_params"](256, 256)),
            ("", c["gru_params"](256, 128)),
            ("", c["dense_params"](128, 46)),
        ]
    rows = c["parameter_rows"](model, formulas)
    assert all(row[5] for row in rows)
    assert [row[4] for row in rows] == [layer.count_params() for layer in model.layers]
    assert c["print_parameter_table"](model, formulas) == expected_total == model.count_params()
    assert "total" in capsys.readouterr().out


def test_parameter_rows_rejects_wrong_number_of_formulas():
    model = lecture_model([keras.layers.Embedding(10, 2), keras.layers.SimpleRNN(3)])
    with pytest.raises(ValueError):
        chapter["parameter_rows"](model, [("", 20)])


def test_print_parameter_table_fails_on_a_wrong_formula():
    model = lecture_model([keras.layers.Embedding(10, 2), keras.layers.SimpleRNN(3)])
    with pytest.raises(AssertionError):
        chapter["print_parameter_table"](model, [("", 20), ("", 999)])


@pytest.mark.parametrize(("n", "t", "d", "h", "seed"), [(1, 1, 1, 1, 0), (3, 8, 4, 5, 1), (5, 20, 7, 9, 2)])
@pytest.mark.parametrize("return_sequences", [True, False])
def test_masked_loop_equals_keras(n, t, d, h, seed, return_sequences):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, t, d)).astype("float32")
    mask = rng.random((n, t)) > 0.4
    W = rng.normal(0, 0.5, (h, d)).astype("float32")
    U = rng.normal(0, 0.5, (h, h)).astype("float32")
    b = rng.normal(0, 0.1, h).astype("float32")
    layer = keras.layers.SimpleRNN(h, return_sequences=return_sequences)
    layer.build((None, t, d))
    layer.set_weights([W.T, U.T, b])
    ours = chapter["masked_simple_rnn_forward"](x, mask, W, U, b, return_sequences)
    theirs = np.asarray(layer(x, mask=mask))
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


def test_all_true_mask_is_the_plain_loop():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 6, 3))
    W, U, b = rng.normal(size=(4, 3)), rng.normal(size=(4, 4)) * 0.3, rng.normal(size=4)
    masked = chapter["masked_simple_rnn_forward"](x, np.ones((2, 6), bool), W, U, b)
    state, states = np.zeros((2, 4)), []
    for step in range(6):
        state = np.tanh(x[:, step] @ W.T + state @ U.T + b)
        states.append(state)
    np.testing.assert_allclose(masked, np.stack(states, axis=1), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("padding", ["pre", "post"])
def test_mask_zero_makes_padding_invisible(seed, padding):
    keras.utils.set_random_seed(seed)
    masked = chapter["padding_demo_model"](30, 6, 5, mask_zero=True)
    unmasked = chapter["padding_demo_model"](30, 6, 5, mask_zero=False)
    unmasked.set_weights(masked.get_weights())
    rng = np.random.default_rng(seed)
    tokens = rng.integers(1, 30, size=int(rng.integers(2, 8))).tolist()
    padded = keras.utils.pad_sequences([tokens], maxlen=len(tokens) + 4, padding=padding)
    reference = np.asarray(masked(np.array([tokens]))[1])
    np.testing.assert_allclose(np.asarray(masked(padded)[1]), reference, rtol=1e-6, atol=1e-6)
    assert np.abs(np.asarray(unmasked(padded)[1]) - np.asarray(unmasked(np.array([tokens]))[1])).max() > 1e-4
