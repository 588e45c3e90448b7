"""The BPTT chapter's NumPy gradients equal tf.GradientTape on keras.layers.SimpleRNN and central
differences over random shapes and seeds; its global-norm clipping equals tf.clip_by_global_norm."""

import numpy as np
import pytest
import tensorflow as tf
from chapter_code import load_chapter_code
from keras_reference import keras

chapter = load_chapter_code("rnn_basics/bptt.md")
GRAD_NAMES = ("W", "U", "b", "h0", "inputs")
# (n, t, d, h, seed)
CASES = [(1, 1, 1, 1, 0), (2, 5, 3, 4, 1), (3, 12, 6, 8, 2), (2, 30, 4, 16, 3), (4, 7, 1, 5, 4)]


def random_problem(rng, n, t, d, h, dtype="float64"):
    scale = 1 / np.sqrt(d + h)
    x = rng.normal(size=(n, t, d))
    W = rng.normal(0, scale, (h, d))
    U = rng.normal(0, 1.2 * scale, (h, h))
    b = rng.normal(0, 0.1, h)
    h0 = rng.normal(0, 0.5, (n, h))
    G = rng.normal(size=(n, t, h))
    return [a.astype(dtype) for a in (x, W, U, b, h0, G)]


def keras_gradients(x, W, U, b, h0, G, dtype):
    """Loss sum(h_t * G) and its gradients from GradientTape, written independently of the chapter."""
    layer = keras.layers.SimpleRNN(U.shape[0], return_sequences=True, dtype=dtype)
    layer.build(x.shape)
    layer.set_weights([W.T, U.T, b])
    xt, h0t = tf.constant(x), tf.constant(h0)
    with tf.GradientTape() as tape:
        tape.watch([xt, h0t])
        loss = tf.reduce_sum(layer(xt, initial_state=[h0t]) * tf.constant(G))
    kernel, recurrent, bias, dx, dh0 = tape.gradient(loss, [*layer.trainable_weights, xt, h0t])
    grads = {"W": kernel.numpy().T, "U": recurrent.numpy().T, "b": bias.numpy(), "h0": dh0.numpy()}
    grads["inputs"] = dx.numpy()
    return float(loss), grads


@pytest.mark.parametrize(("n", "t", "d", "h", "seed"), CASES)
@pytest.mark.parametrize(("dtype", "tol"), [("float32", 1e-5), ("float64", 1e-12)])
def test_bptt_equals_gradient_tape(n, t, d, h, seed, dtype, tol):
    problem = random_problem(np.random.default_rng(seed), n, t, d, h, dtype)
    loss, ours = chapter["linear_state_loss"](*problem)
    keras_loss, theirs = keras_gradients(*problem, dtype)
    assert loss == pytest.approx(keras_loss, rel=tol, abs=tol)
    for name in GRAD_NAMES:
        assert ours[name].shape == theirs[name].shape, name
        assert ours[name].dtype == np.dtype(dtype), name
        np.testing.assert_allclose(ours[name], theirs[name], rtol=tol, atol=tol, err_msg=name)


@pytest.mark.parametrize(("n", "t", "d", "h", "seed"), CASES[:4])
def test_chapter_keras_helper_agrees_with_bptt(n, t, d, h, seed):
    problem = random_problem(np.random.default_rng(seed + 10), n, t, d, h)
    _, ours = chapter["linear_state_loss"](*problem)
    _, theirs = chapter["keras_simple_rnn_gradients"](*problem)
    for name in GRAD_NAMES:
        np.testing.assert_allclose(ours[name], theirs[name], rtol=1e-12, atol=1e-12, err_msg=name)


def central_differences(f, array, eps=1e-6):
    """Independent of the chapter's numerical_gradient: perturb a copy, entry by entry."""
    grad = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        saved = array[index]
        array[index] = saved + eps
        up = f()
        array[index] = saved - eps
        down = f()
        array[index] = saved
        grad[index] = (up - down) / (2 * eps)
    return grad


@pytest.mark.parametrize(("n", "t", "d", "h", "seed"), CASES[:4])
def test_bptt_equals_central_differences_in_float64(n, t, d, h, seed):
    x, W, U, b, h0, G = random_problem(np.random.default_rng(seed + 20), n, t, d, h)
    _, grads = chapter["linear_state_loss"](x, W, U, b, h0, G)
    arrays = {"W": W, "U": U, "b": b, "h0": h0, "inputs": x}
    for name, array in arrays.items():
        numeric = central_differences(lambda: chapter["linear_state_loss"](x, W, U, b, h0, G)[0], array)
        rel = np.abs(grads[name] - numeric) / np.maximum(np.abs(grads[name]) + np.abs(numeric), 1e-12)
        assert rel.max() < 1e-6, (name, rel.max())  # entry by entry (small entries: ~1e-7)
        norm_wise = np.abs(grads[name] - numeric).max() / np.abs(grads[name]).max()
        assert norm_wise < 1e-8, (name, norm_wise)  # relative to the largest entry (measured <= 2e-9)
    # the chapter's own helpers give the same verdict
    numeric_W = chapter["numerical_gradient"](lambda: chapter["linear_state_loss"](x, W, U, b, h0, G)[0], W)
    assert chapter["relative_error"](grads["W"], numeric_W) < 1e-6


@pytest.mark.parametrize("seed", range(4))
def test_final_state_loss_gradient_is_jacobian_product(seed):
    """For L = v . h_T, dL/dh0 = v^T prod diag(1 - h_k^2) U, and its norm respects state_jacobian_norms."""
    rng = np.random.default_rng(seed + 30)
    t, d, h = 8, 3, 6
    x, W, U, b, _, _ = random_problem(rng, 1, t, d, h)
    h0 = np.zeros((1, h))
    G = np.zeros((1, t, h))
    v = rng.normal(size=h)
    G[0, -1] = v
    states = chapter["rnn_forward_states"](x, W, U, b, h0)
    dh0 = chapter["rnn_backward"](x, W, U, states, G)["h0"][0]
    product = np.eye(h)
    for k in range(t, 0, -1):
        product = product @ (np.diag(1 - states[0, k] ** 2) @ U)
    np.testing.assert_allclose(v @ product, dh0, rtol=1e-12, atol=1e-14)
    norms = chapter["state_jacobian_norms"](states[0], U)
    assert norms.shape == (t + 1,)
    assert norms[-1] == pytest.approx(np.linalg.norm(product, 2), rel=1e-12)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("max_norm", [1e-3, 1.0, 5.0, 1e6])
def test_clip_by_global_norm_equals_tensorflow(seed, max_norm):
    rng = np.random.default_rng(seed + 40)
    shapes = [tuple(rng.integers(1, 6, size=rng.integers(1, 3))) for _ in range(rng.integers(1, 5))]
    gradients = [rng.normal(0, 10, shape) for shape in shapes]
    ours, norm = chapter["clip_by_global_norm"](gradients, max_norm)
    theirs, tf_norm = tf.clip_by_global_norm([tf.constant(g) for g in gradients], max_norm)
    assert norm == pytest.approx(float(tf_norm), rel=1e-12)
    for a, b in zip(ours, theirs, strict=True):
        assert a.shape == tuple(b.shape)
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-12, atol=1e-15)


def test_clip_by_global_norm_equals_keras_global_clipnorm_step():
    rng = np.random.default_rng(50)
    gradients = [rng.normal(0, 3, (4, 3)).astype("float32"), rng.normal(0, 3, 4).astype("float32")]
    variables = [keras.Variable(np.zeros_like(g)) for g in gradients]
    optimizer = keras.optimizers.SGD(learning_rate=1.0, global_clipnorm=2.0)
    optimizer.apply_gradients(zip([tf.constant(g) for g in gradients], variables, strict=True))
    clipped, _ = chapter["clip_by_global_norm"](gradients, 2.0)
    for c, variable in zip(clipped, variables, strict=True):
        np.testing.assert_allclose(-c, variable.numpy(), rtol=1e-5, atol=1e-6)
