"""The Keras character-LSTM chapter's helpers, as the page defines them: windows shifted by one,
perplexity and the unigram baseline, temperature and top-k sampling, and a step model that carries the
state and gives what the whole-sequence model gives."""

import keras
import numpy as np
import pytest
from chapter_code import load_chapter_code

chapter = load_chapter_code("generative/char_lstm_keras.md")
chapter["keras"] = keras


def test_targets_are_the_inputs_shifted_by_one():
    ids = np.arange(23)
    inputs, targets = chapter["shifted_windows"](ids, 5)
    assert inputs.shape == targets.shape == (4, 5)
    assert np.array_equal(targets, inputs + 1)
    assert np.array_equal(inputs.ravel(), ids[:20]), "windows do not overlap"


def test_perplexity_and_the_unigram_baseline():
    assert chapter["perplexity"](np.log(27)) == pytest.approx(27)
    train = np.array([0, 0, 0, 1])  # counts 3, 1, 0 -> add-one 4, 2, 1
    test = np.array([0, 1, 2])
    expected = -np.mean(np.log(np.array([4, 2, 1]) / 7))
    assert chapter["unigram_cross_entropy"](train, test, 3) == pytest.approx(expected)


def test_temperature_scales_the_logits_before_the_softmax_and_top_k_truncates():
    logits = np.array([2.0, 1.0, 0.0, -1.0])
    rng = np.random.default_rng(0)
    for tau in (0.5, 2.0):
        draws = [chapter["sample_index"](logits, rng, temperature=tau) for _ in range(20_000)]
        expected = np.exp(logits / tau) / np.exp(logits / tau).sum()
        assert np.allclose(np.bincount(draws, minlength=4) / 20_000, expected, atol=0.015), tau
    assert {chapter["sample_index"](logits, rng, temperature=1e-3) for _ in range(50)} == {0}
    assert {chapter["sample_index"](logits, rng, top_k=2) for _ in range(500)} == {0, 1}
    again = [chapter["sample_index"](logits, np.random.default_rng(7)) for _ in range(3)]
    assert len(set(again)) == 1, "the same generator state gives the same draw"


def test_the_step_model_carries_the_state_and_generates_what_rereading_gives():
    V, units = 7, 5
    model = chapter["char_lstm"](V, units, embedding=4, seed=3)
    prompt = [1, 4, 2, 6]
    stepper = chapter["step_model"](model, units)
    h = c = keras.ops.zeros((1, units))
    steps = []
    for i in prompt:
        logits, h, c = stepper([chapter["token"](i), h, c])
        steps.append(keras.ops.convert_to_numpy(logits)[0])
    whole = model.predict(np.array([prompt]), verbose=0)[0]
    assert whole.shape == (4, V) and np.allclose(steps, whole, atol=1e-5)
    carried = chapter["generate"](stepper, units, prompt, 12, np.random.default_rng(5), temperature=1.5)
    reread = chapter["generate_rereading"](model, prompt, 12, np.random.default_rng(5), temperature=1.5)
    assert len(carried) == 12 and carried == reread
