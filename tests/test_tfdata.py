"""tf.data pipelines with autotune off, and the validation split."""

import numpy as np
import pytest

from rnncourse.tfdata import make_dataset, split_validation


def test_batches_cover_every_sample_once():
    x = np.arange(10).reshape(10, 1)
    y = np.arange(10) * 2
    dataset = make_dataset(x, y, batch_size=4)
    batches = list(dataset.as_numpy_iterator())
    assert [len(bx) for bx, _ in batches] == [4, 4, 2]
    xs = np.concatenate([bx for bx, _ in batches]).ravel()
    ys = np.concatenate([by for _, by in batches])
    assert np.array_equal(xs, np.arange(10)) and np.array_equal(ys, xs * 2)
    assert dataset.options().autotune.enabled is False


def test_shuffle_is_seeded_and_keeps_pairs_together():
    x = np.arange(100)
    first = np.concatenate([bx for bx, _ in make_dataset(x, x, 16, shuffle=True, seed=3).as_numpy_iterator()])
    again = np.concatenate([bx for bx, _ in make_dataset(x, x, 16, shuffle=True, seed=3).as_numpy_iterator()])
    assert np.array_equal(first, again) and not np.array_equal(first, x)
    assert sorted(first) == list(x)
    for bx, by in make_dataset(x, x, 16, shuffle=True, seed=3).as_numpy_iterator():
        assert np.array_equal(bx, by)


def test_mismatched_lengths_are_rejected():
    with pytest.raises(ValueError, match="x has 3 samples but y has 2"):
        make_dataset(np.zeros(3), np.zeros(2))


def test_a_tuple_of_inputs_is_batched_and_shuffled_together():
    questions, answers = np.arange(20).reshape(10, 2), np.arange(10) * 3
    targets = np.arange(10) + 100
    for (bq, ba), by in make_dataset((questions, answers), targets, 4, shuffle=True).as_numpy_iterator():
        assert np.array_equal(bq[:, 0] // 2, ba // 3) and np.array_equal(ba // 3, by - 100)
    with pytest.raises(ValueError, match=r"\[10, 9\] samples"):
        make_dataset((questions, answers[:9]), targets)
    with pytest.raises(ValueError, match="x has 10 samples but y has 8"):
        make_dataset((questions, answers), targets[:8])


def test_validation_split_takes_the_tail_like_keras():
    x, y = np.arange(10), np.arange(10) + 100
    (x_train, y_train), (x_val, y_val) = split_validation(x, y, 0.2)
    assert list(x_train) == list(range(8)) and list(x_val) == [8, 9]
    assert list(y_val) == [108, 109]
    with pytest.raises(ValueError):
        split_validation(x, y, 1.0)
