"""The blog-experiments lab's helpers, as the page defines them: the stratified split keeps each label's
share, the five variants are the blog's models (parameter counts 4,384, 544 and 3,312; recurrent dropout in
one variant only), and the seed statistics are what NumPy computes."""

import keras
import numpy as np
import pytest
from chapter_code import load_chapter_code

lab = load_chapter_code("labs/imdb_small_lstms.md")
lab["keras"] = keras


def test_the_split_takes_the_same_fraction_of_every_label_and_repeats_with_its_seed():
    labels = np.array([0] * 600 + [1] * 400 + [2] * 5)
    picked = lab["stratified_split"](labels, fraction=0.2, seed=26)
    assert picked.dtype == bool and picked.shape == labels.shape
    assert [int(picked[labels == c].sum()) for c in (0, 1, 2)] == [120, 80, 1]
    assert np.array_equal(picked, lab["stratified_split"](labels, 0.2, 26))
    assert not np.array_equal(picked, lab["stratified_split"](labels, 0.2, 27))


def test_the_variants_are_the_blogs_models():
    counts = {}
    for name, layers in lab["VARIANTS"].items():
        model = lab["blog_model"](layers, seed=0, jit_compile=False)
        counts[name] = [layer.count_params() for layer in model.layers[1:-1]]
        assert model.layers[0].count_params() == 500 * 128 and model.count_params() == sum(
            layer.count_params() for layer in model.layers
        )
        assert model.output_shape == (None, 1)
        assert float(model.optimizer.learning_rate) == pytest.approx(1e-4)
        assert isinstance(model.optimizer, keras.optimizers.RMSprop)
    assert list(counts.values()) == [[4384], [4384], [4384], [4384, 544], [3312]]
    recurrent_dropout = {
        name: [spec.get("recurrent_dropout", 0) for spec in layers]
        for name, layers in lab["VARIANTS"].items()
    }
    assert [name for name, values in recurrent_dropout.items() if any(values)] == [
        "LSTM(8), dropout + recurrent dropout 0.3"
    ]


def test_the_seed_statistics():
    values = [0.80, 0.82, 0.81]
    mean, spread, low, high = lab["summarize"](values)
    assert mean == pytest.approx(0.81) and spread == pytest.approx(np.std(values, ddof=1))
    assert (low, high) == (0.80, 0.82)
    difference, error, real = lab["differs_beyond_noise"]([0.85, 0.86, 0.84], values)
    assert difference == pytest.approx(0.04) and error == pytest.approx(np.sqrt(2 * 0.0001 / 3))
    assert real
    assert not lab["differs_beyond_noise"]([0.80, 0.83, 0.815], values)[2]
