"""The long-range memory chapter's helpers, as the page defines them: the first step alone decides the
label, later steps carry only noise, every cell gets the same model around it, and a run returns a test
accuracy and the epochs it ran."""

import keras
import numpy as np
import pytest
from chapter_code import load_chapter_code

from rnncourse.tfdata import make_dataset
from rnncourse.training import fit_best

chapter = load_chapter_code("generative/long_range_memory.md")
chapter.update(keras=keras, make_dataset=make_dataset, fit_best=fit_best)


def test_the_label_is_the_sign_at_the_first_step_and_the_rest_is_noise():
    inputs, labels = chapter["first_step_task"](4000, 30, np.random.default_rng(0))
    assert inputs.shape == (4000, 30, 2) and inputs.dtype == np.float32
    assert np.array_equal(inputs[:, 0, 0], 2.0 * labels - 1.0)
    assert not inputs[:, 1:, 0].any(), "feature 0 is zero after the first step"
    assert abs(inputs[:, :, 1].std() - chapter["NOISE"]) < 0.02 and abs(labels.mean() - 0.5) < 0.03
    quiet, _ = chapter["first_step_task"](10, 5, np.random.default_rng(0), noise=0.0)
    assert not quiet[:, :, 1].any()


@pytest.mark.parametrize(
    ("cell", "recurrent"), [("SimpleRNN", 16 * (2 + 16 + 1)), ("LSTM", 4 * 16 * 19), ("GRU", 3 * 16 * 20)]
)
def test_every_cell_gets_the_same_model_around_it(cell, recurrent):
    model = chapter["memory_model"](cell, seed=0)
    assert model.layers[0].count_params() == recurrent and model.layers[-1].count_params() == 17
    assert model.predict(np.zeros((3, 7, 2), "float32"), verbose=0).shape == (3, 1)


def test_a_run_is_seeded_and_reports_its_test_accuracy_and_epochs():
    first = chapter["train_and_test"]("LSTM", 4, 64, seed=1, max_epochs=1)
    assert 0.0 <= first[0] <= 1.0 and first[1] == 1
    assert chapter["train_and_test"]("LSTM", 4, 64, seed=1, max_epochs=1) == first
