"""The order task of the FFNN-vs-RNN chapter: well formed, correctly labelled, and order-free models
are at chance by construction (reversing a sequence flips its label and keeps its bag of tokens)."""

import numpy as np
import pytest
from chapter_code import load_chapter_code

chapter = load_chapter_code("rnn_basics/ffnn_vs_rnn.md")


@pytest.mark.parametrize(("n", "length", "n_tokens", "seed"), [(1, 2, 3, 0), (50, 5, 4, 1), (500, 20, 6, 2)])
def test_sequences_have_one_a_one_b_and_correct_labels(n, length, n_tokens, seed):
    tokens, labels = chapter["make_order_task"](n, length, np.random.default_rng(seed), n_tokens=n_tokens)
    assert tokens.shape == (n, length) and labels.shape == (n,) and labels.dtype == np.float32
    assert np.all((tokens == 0).sum(axis=1) == 1) and np.all((tokens == 1).sum(axis=1) == 1)
    assert tokens.min() >= 0 and tokens.max() < n_tokens
    expected = [float(list(row).index(0) < list(row).index(1)) for row in tokens]
    np.testing.assert_array_equal(labels, expected)


def test_labels_are_balanced_and_positions_uniform():
    tokens, labels = chapter["make_order_task"](20_000, 10, np.random.default_rng(3))
    assert abs(labels.mean() - 0.5) < 0.02
    a_positions = np.argmax(tokens == 0, axis=1)
    counts = np.bincount(a_positions, minlength=10) / len(a_positions)
    assert np.all(np.abs(counts - 0.1) < 0.02)


@pytest.mark.parametrize("seed", range(3))
def test_reversal_flips_the_label_and_keeps_the_bag(seed):
    tokens, labels = chapter["make_order_task"](200, 12, np.random.default_rng(seed))
    reversed_tokens = tokens[:, ::-1]
    reversed_labels = np.array([float(list(row).index(0) < list(row).index(1)) for row in reversed_tokens])
    np.testing.assert_array_equal(reversed_labels, 1 - labels)
    one_hot = chapter["one_hot"]
    np.testing.assert_array_equal(one_hot(tokens).mean(axis=1), one_hot(reversed_tokens).mean(axis=1))


def test_one_hot():
    encoded = chapter["one_hot"](np.array([[0, 5, 2]]))
    assert encoded.shape == (1, 3, 6) and encoded.dtype == np.float32
    np.testing.assert_array_equal(encoded.argmax(axis=-1), [[0, 5, 2]])
    np.testing.assert_array_equal(encoded.sum(axis=-1), 1.0)
