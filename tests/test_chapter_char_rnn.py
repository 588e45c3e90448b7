"""The char-RNN chapter's NumPy language model: forward, loss and BPTT equal tf.GradientTape (raw TF ops
written here, and the chapter's Keras helper) and central differences over random shapes; truncated BPTT
equals tf.stop_gradient on the carried state; clipping, streams, one training step and sampling."""

import numpy as np
import pytest
import tensorflow as tf
from chapter_code import load_chapter_code

chapter = load_chapter_code("generative/char_rnn_numpy.md")
PARAM_NAMES = ("W_xh", "W_hh", "b_h", "W_hy", "b_y")
# (V, H, N, T, seed)
CASES = [(2, 1, 1, 1, 0), (5, 4, 3, 6, 1), (27, 16, 4, 12, 2), (9, 7, 1, 30, 3), (3, 12, 8, 5, 4)]


def random_problem(rng, V, H, N, T, dtype="float64"):
    params = {
        "W_xh": rng.normal(0, 0.8, (H, V)),
        "W_hh": rng.normal(0, 1.0 / np.sqrt(H), (H, H)),
        "b_h": rng.normal(0, 0.2, (H, 1)),
        "W_hy": rng.normal(0, 1.0, (V, H)),
        "b_y": rng.normal(0, 0.2, (V, 1)),
    }
    params = {name: value.astype(dtype) for name, value in params.items()}
    inputs = rng.integers(0, V, (T, N))
    targets = rng.integers(0, V, (T, N))
    h0 = rng.normal(0, 0.5, (H, N)).astype(dtype)
    return params, inputs, targets, h0


def tf_reference(params, inputs, targets, h0):
    """Mean per-step cross-entropy of the char-RNN, in rows (N, .) with raw TF ops, and its gradients."""
    variables = {name: tf.Variable(value) for name, value in params.items()}
    h0_rows = tf.constant(h0.T)
    dtype = h0_rows.dtype
    n_steps, n_sequences = inputs.shape
    with tf.GradientTape() as tape:
        tape.watch(h0_rows)
        h, total = h0_rows, tf.constant(0.0, dtype=dtype)
        for t in range(n_steps):
            x = tf.one_hot(inputs[t], params["W_xh"].shape[1], dtype=dtype)
            h = tf.tanh(
                x @ tf.transpose(variables["W_xh"])
                + h @ tf.transpose(variables["W_hh"])
                + tf.transpose(variables["b_h"])
            )
            logits = h @ tf.transpose(variables["W_hy"]) + tf.transpose(variables["b_y"])
            total += tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(targets[t], logits))
        loss = total / (n_steps * n_sequences)
    gradients = tape.gradient(loss, [*variables.values(), h0_rows])
    grads = {name: g.numpy() for name, g in zip(variables, gradients[:-1], strict=True)}
    return float(loss), grads, gradients[-1].numpy().T, h.numpy().T


@pytest.mark.parametrize(("V", "H", "N", "T", "seed"), CASES)
@pytest.mark.parametrize(("dtype", "tol"), [("float64", 1e-10), ("float32", 2e-4)])
def test_loss_and_bptt_equal_gradient_tape(V, H, N, T, seed, dtype, tol):
    params, inputs, targets, h0 = random_problem(np.random.default_rng(seed), V, H, N, T, dtype)
    loss, grads, dh0, h_last = chapter["char_rnn_loss_and_gradients"](params, inputs, targets, h0)
    tf_loss, tf_grads, tf_dh0, tf_h_last = tf_reference(params, inputs, targets, h0)
    assert loss == pytest.approx(tf_loss, rel=tol, abs=tol)
    for name in PARAM_NAMES:
        assert grads[name].shape == params[name].shape and grads[name].dtype == np.dtype(dtype), name
        np.testing.assert_allclose(grads[name], tf_grads[name], rtol=tol, atol=tol, err_msg=name)
    np.testing.assert_allclose(dh0, tf_dh0, rtol=tol, atol=tol)
    np.testing.assert_allclose(h_last, tf_h_last, rtol=tol, atol=tol)


@pytest.mark.parametrize(("V", "H", "N", "T", "seed"), CASES[1:4])
def test_forward_probabilities_are_a_softmax_per_column(V, H, N, T, seed):
    params, inputs, targets, h0 = random_problem(np.random.default_rng(seed + 10), V, H, N, T)
    loss, cache = chapter["char_rnn_forward"](params, inputs, targets, h0)
    assert (
        cache["xs"].shape == (T, V, N)
        and cache["hs"].shape == (T + 1, H, N)
        and cache["ps"].shape == (T, V, N)
    )
    np.testing.assert_allclose(cache["ps"].sum(axis=1), 1.0, rtol=1e-12)
    picked = cache["ps"][np.arange(T)[:, None], targets, np.arange(N)[None, :]]
    assert loss == pytest.approx(-np.log(picked).mean(), rel=1e-12)
    # huge logits do not overflow
    params["b_y"][:] = 1e4
    assert np.isfinite(chapter["char_rnn_forward"](params, inputs, targets, h0)[0])


@pytest.mark.parametrize(("V", "H", "N", "T", "seed"), CASES[1:4])
def test_chapter_keras_helper_agrees_with_bptt(V, H, N, T, seed):
    params, inputs, targets, h0 = random_problem(np.random.default_rng(seed + 20), V, H, N, T)
    loss, grads, dh0, _ = chapter["char_rnn_loss_and_gradients"](params, inputs, targets, h0)
    keras_loss, keras_grads, keras_dh0 = chapter["keras_char_rnn_gradients"](params, inputs, targets, h0)
    assert loss == pytest.approx(keras_loss, rel=1e-12)
    for name in PARAM_NAMES:
        np.testing.assert_allclose(grads[name], keras_grads[name], rtol=1e-10, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(dh0, keras_dh0, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("V", "H", "N", "T", "seed"), [(4, 3, 2, 5, 30), (6, 5, 3, 4, 31)])
def test_bptt_equals_central_differences(V, H, N, T, seed):
    params, inputs, targets, h0 = random_problem(np.random.default_rng(seed), V, H, N, T)
    _, grads, dh0, _ = chapter["char_rnn_loss_and_gradients"](params, inputs, targets, h0)
    eps = 1e-6
    for name, array, ours in [*((n, params[n], grads[n]) for n in PARAM_NAMES), ("h0", h0, dh0)]:
        numeric = np.zeros_like(array)
        for index in np.ndindex(array.shape):
            saved = array[index]
            array[index] = saved + eps
            up = chapter["char_rnn_forward"](params, inputs, targets, h0)[0]
            array[index] = saved - eps
            down = chapter["char_rnn_forward"](params, inputs, targets, h0)[0]
            array[index] = saved
            numeric[index] = (up - down) / (2 * eps)
        assert np.abs(ours - numeric).max() <= 1e-7 * max(np.abs(ours).max(), 1e-3), name


def test_truncated_bptt_equals_stop_gradient_on_the_carried_state():
    V, H, N, T = 7, 6, 3, 5
    params, inputs, targets, h0 = random_problem(np.random.default_rng(40), V, H, N, 2 * T)
    first, second = slice(0, T), slice(T, 2 * T)
    _, grads_1, _, carried = chapter["char_rnn_loss_and_gradients"](params, inputs[first], targets[first], h0)
    _, grads_2, _, _ = chapter["char_rnn_loss_and_gradients"](
        params, inputs[second], targets[second], carried
    )
    _, tf_1, _, tf_carried = tf_reference(params, inputs[first], targets[first], h0)
    _, tf_2, _, _ = tf_reference(params, inputs[second], targets[second], tf_carried)  # a constant: stopped
    np.testing.assert_allclose(carried, tf_carried, rtol=1e-12, atol=1e-12)
    for name in PARAM_NAMES:
        np.testing.assert_allclose(
            grads_1[name] + grads_2[name], tf_1[name] + tf_2[name], rtol=1e-10, atol=1e-12
        )
    _, full, _, _ = tf_reference(params, inputs, targets, h0)
    assert not np.allclose(grads_1["W_hh"] + grads_2["W_hh"], 2 * full["W_hh"], rtol=1e-3)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("max_norm", [1e-3, 1.0, 1e6])
def test_clip_by_global_norm_equals_tensorflow(seed, max_norm):
    rng = np.random.default_rng(seed + 50)
    gradients = [rng.normal(0, 3, shape) for shape in [(4, 3), (3, 3), (3, 1)]]
    ours, norm = chapter["clip_by_global_norm"](gradients, max_norm)
    theirs, tf_norm = tf.clip_by_global_norm([tf.constant(g) for g in gradients], max_norm)
    assert norm == pytest.approx(float(tf_norm), rel=1e-12)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-12, atol=1e-15)


def test_streams_are_contiguous_slices_with_targets_shifted_by_one():
    ids = np.arange(103)
    inputs, targets = chapter["make_streams"](ids, 4)
    assert inputs.shape == targets.shape == (25, 4)
    np.testing.assert_array_equal(inputs[:, 1], np.arange(25, 50))
    np.testing.assert_array_equal(targets, inputs + 1)


def test_two_training_steps_carry_the_state_and_clip():
    """Iteration 2 starts from iteration 1's last state; each update is -lr * the clipped gradients."""
    V, H, N, T, lr, max_norm = 5, 4, 2, 3, 0.7, 0.05
    rng = np.random.default_rng(60)
    params, _, _, _ = random_problem(rng, V, H, N, T)
    ids = rng.integers(0, V, 200)
    before = {name: value.copy() for name, value in params.items()}
    history = chapter["train_char_rnn"](params, ids, 2, N, T, lr, max_norm)
    inputs, targets = chapter["make_streams"](ids, N)
    expected = {name: value.copy() for name, value in before.items()}
    h = np.zeros((H, N))
    for iteration in range(2):
        rows = slice(iteration * T, (iteration + 1) * T)
        loss, grads, _, h_next = tf_reference(expected, inputs[rows], targets[rows], h)
        clipped, norm = tf.clip_by_global_norm([tf.constant(grads[n]) for n in PARAM_NAMES], max_norm)
        for name, g in zip(PARAM_NAMES, clipped, strict=True):
            expected[name] = expected[name] - lr * g.numpy()
        assert history["loss"][iteration] == pytest.approx(loss, rel=1e-12)
        assert history["grad_norm"][iteration] == pytest.approx(float(norm), rel=1e-10)
        h = h_next
    assert history["grad_norm"][0] > max_norm  # the test exercises clipping
    for name in PARAM_NAMES:
        np.testing.assert_allclose(params[name], expected[name], rtol=1e-10, atol=1e-12, err_msg=name)


def test_evaluation_is_the_mean_over_chunks_with_the_state_carried():
    V, H, N, T = 5, 4, 3, 4
    rng = np.random.default_rng(70)
    params, _, _, _ = random_problem(rng, V, H, N, T)
    ids = rng.integers(0, V, 3 * 3 * T + 1)
    inputs, targets = chapter["make_streams"](ids, N)
    loss_1, _, _, carried = tf_reference(params, inputs[:T], targets[:T], np.zeros((H, N)))
    loss_2, _, _, carried = tf_reference(params, inputs[T : 2 * T], targets[T : 2 * T], carried)
    loss_3, _, _, _ = tf_reference(params, inputs[2 * T :], targets[2 * T :], carried)
    evaluated = chapter["char_rnn_evaluate"](params, ids, N, T)
    assert evaluated == pytest.approx((loss_1 + loss_2 + loss_3) / 3, rel=1e-12)


def test_sampling_is_seeded_and_follows_the_model_distribution():
    V, H = 4, 3
    p = np.array([0.1, 0.2, 0.3, 0.4])
    params = {
        "W_xh": np.zeros((H, V)),
        "W_hh": np.zeros((H, H)),
        "b_h": np.zeros((H, 1)),
        "W_hy": np.zeros((V, H)),
        "b_y": np.log(p)[:, None],  # p_t = p whatever the input
    }
    sample = chapter["sample_char_rnn"]
    first = sample(params, [0, 1], 4000, np.random.default_rng(1))
    assert first == sample(params, [0, 1], 4000, np.random.default_rng(1))
    assert first != sample(params, [0, 1], 4000, np.random.default_rng(2))
    frequencies = np.bincount(first, minlength=V) / len(first)
    np.testing.assert_allclose(frequencies, p, atol=0.03)
    params["b_y"] = np.array([[0.0], [0.0], [50.0], [0.0]])
    assert set(sample(params, [3], 50, np.random.default_rng(3))) == {2}


def test_sampling_feeds_back_what_it_drew():
    """A model whose next character is always (current + 1) mod V writes the alphabet in a cycle."""
    V, H = 5, 5
    params = {
        "W_xh": 10.0 * np.eye(H, V),  # h_t = tanh(10 x_t): the current character
        "W_hh": np.zeros((H, H)),
        "b_h": np.zeros((H, 1)),
        "W_hy": 20.0 * np.roll(np.eye(V, H), 1, axis=0),  # logits favour current + 1
        "b_y": np.zeros((V, 1)),
    }
    drawn = chapter["sample_char_rnn"](params, [2], 8, np.random.default_rng(0))
    assert drawn == [3, 4, 0, 1, 2, 3, 4, 0]


def test_text_helpers():
    text = chapter["clean_text"]("The Time-Machine, [1898]\n\nby H. G. Wells")
    assert text == "the time machine by h g wells"
    characters, index = chapter["build_vocabulary"](text)
    assert characters[0] == " " and [characters[index[c]] for c in text] == list(text)
    words = {"the", "time", "machine"}
    assert chapter["known_word_fraction"]("the time mashine the tim", words) == pytest.approx(3 / 4)
    assert chapter["known_word_fraction"]("", words) == 0
