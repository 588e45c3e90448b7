"""The row-MNIST lab's helpers, as the page defines them: the parameter formulas equal Keras' counts, the
classifier maps (N, 28, 28) images to 10 probabilities, and the every-step copy's output at step k is what
the same weights give after reading only the first k rows."""

import keras
import numpy as np
import pytest
from chapter_code import load_chapter_code

lab = load_chapter_code("labs/row_mnist.md")
lab["keras"] = keras


@pytest.mark.parametrize(("d", "u"), [(28, 128), (28, 8), (5, 3)])
def test_the_parameter_formulas_are_keras_counts(d, u):
    for layer, formula in [
        (keras.layers.GRU(u), lab["gru_parameters"]),
        (keras.layers.LSTM(u), lab["lstm_parameters"]),
    ]:
        layer.build((None, 7, d))
        assert layer.count_params() == formula(d, u), type(layer).__name__


def test_the_classifier_reads_28_rows_and_gives_10_probabilities():
    model = lab["row_classifier"](keras.layers.GRU, units=16, seed=3)
    images = np.random.default_rng(0).uniform(size=(5, 28, 28)).astype("float32")
    probabilities = model.predict(images, verbose=0)
    assert probabilities.shape == (5, 10) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    assert model.get_layer("rows").count_params() == lab["gru_parameters"](28, 16)
    again = lab["row_classifier"](keras.layers.GRU, units=16, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), again.get_weights(), strict=True)), (
        "seeded"
    )


@pytest.mark.parametrize("cell", [keras.layers.GRU, keras.layers.LSTM])
def test_the_state_after_row_k_is_the_layer_after_reading_k_rows(cell):
    model = lab["row_classifier"](cell, units=12, seed=1)
    images = np.random.default_rng(1).uniform(size=(4, 28, 28)).astype("float32")
    states = lab["every_step_states"](model).predict(images, verbose=0)
    assert states.shape == (4, 28, 12)
    probabilities = model.predict(images, verbose=0)
    assert np.array_equal(lab["head_predictions"](model, states[:, -1]), probabilities.argmax(axis=1))
    for k in (1, 9, 20):
        recurrent = cell.from_config(model.get_layer("rows").get_config())
        first_rows = keras.Sequential([keras.Input((k, 28)), recurrent])
        recurrent.set_weights(model.get_layer("rows").get_weights())
        assert np.allclose(states[:, k - 1], first_rows.predict(images[:, :k], verbose=0), atol=1e-5), k


def test_the_probe_recovers_linearly_separable_digits_and_fails_on_noise():
    rng = np.random.default_rng(2)
    centres = rng.normal(size=(10, 16)) * 3
    labels = rng.integers(0, 10, 600)
    states = centres[labels] + rng.normal(size=(600, 16)) * 0.3
    weights = lab["fit_probe"](states[:400], labels[:400])
    assert weights.shape == (17, 10)
    assert np.mean(lab["probe_predictions"](weights, states[400:]) == labels[400:]) > 0.95
    noise = rng.normal(size=(600, 16))
    weights = lab["fit_probe"](noise[:400], labels[:400])
    assert np.mean(lab["probe_predictions"](weights, noise[400:]) == labels[400:]) < 0.3
