"""The bidirectional chapter's backward pass (one BPTT per direction, the output gradient split between them)
equals TensorFlow's gradients of keras.layers.Bidirectional(SimpleRNN) + Dense over random shapes, and
central differences in float64."""

import numpy as np
import pytest
import tensorflow as tf
from chapter_code import load_chapter_code
from keras_reference import keras

chapter = load_chapter_code("gated/bidirectional.md")
# (N, T, D, H, C, seed): includes T = 1, D = 1 and H = 1.
CASES = [(1, 1, 1, 1, 2, 0), (2, 6, 3, 4, 5, 1), (3, 11, 5, 2, 3, 2), (2, 20, 8, 6, 4, 3)]


def tagger(rng, n, t, d, units, classes, dtype="float64"):
    def direction():
        scale = 1 / np.sqrt(d + units)
        return (
            rng.normal(0, scale, (units, d)).astype(dtype),
            rng.normal(0, scale, (units, units)).astype(dtype),
            rng.normal(0, 0.1, units).astype(dtype),
        )

    x = rng.normal(size=(n, t, d)).astype(dtype)
    y = rng.integers(0, classes, size=(n, t))
    return (
        x,
        y,
        direction(),
        direction(),
        rng.normal(0, 0.5, (classes, 2 * units)),
        rng.normal(0, 0.1, classes),
    )


@pytest.mark.parametrize(("n", "t", "d", "units", "classes", "seed"), CASES)
def test_backward_pass_equals_gradient_tape(n, t, d, units, classes, seed):
    rng = np.random.default_rng(seed)
    x, y, fw, bw, W_y, b_y = tagger(rng, n, t, d, units, classes)
    loss, grads = chapter["bidirectional_tagger_loss_and_grads"](x, y, fw, bw, W_y, b_y)

    layer = keras.layers.Bidirectional(keras.layers.SimpleRNN(units, return_sequences=True))
    layer.build((None, t, d))
    layer.forward_layer.set_weights([w.astype("float32") for w in chapter["weights_to_keras"](*fw)])
    layer.backward_layer.set_weights([w.astype("float32") for w in chapter["weights_to_keras"](*bw)])
    head = keras.layers.Dense(classes)
    head.build((None, t, 2 * units))
    head.set_weights([W_y.T.astype("float32"), b_y.astype("float32")])
    x_tf = tf.constant(x, dtype="float32")
    with tf.GradientTape() as tape:
        tape.watch(x_tf)
        per_position = keras.losses.sparse_categorical_crossentropy(y, head(layer(x_tf)), from_logits=True)
        loss_tf = tf.reduce_sum(per_position) / n
    variables = [*layer.forward_layer.trainable_weights, *layer.backward_layer.trainable_weights]
    expected = tape.gradient(loss_tf, [*variables, head.kernel, head.bias, x_tf])
    ours = [
        *chapter["weights_to_keras"](*grads["forward"]),
        *chapter["weights_to_keras"](*grads["backward"]),
        grads["W_y"].T,
        grads["b_y"],
        grads["inputs"],
    ]
    assert abs(loss - float(loss_tf)) < 1e-4 * max(1.0, abs(loss))
    for a, e in zip(ours, expected, strict=True):
        assert a.shape == tuple(e.shape)
        np.testing.assert_allclose(a, e.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(("n", "t", "d", "units", "classes", "seed"), CASES[:3])
def test_backward_pass_equals_central_differences(n, t, d, units, classes, seed):
    rng = np.random.default_rng(50 + seed)
    x, y, fw, bw, W_y, b_y = tagger(rng, n, t, d, units, classes)
    loss_of = chapter["bidirectional_tagger_loss_and_grads"]
    _, grads = loss_of(x, y, fw, bw, W_y, b_y)
    pairs = [(fw[i], grads["forward"][i]) for i in range(3)] + [
        (bw[i], grads["backward"][i]) for i in range(3)
    ]
    pairs += [(W_y, grads["W_y"]), (b_y, grads["b_y"]), (x, grads["inputs"])]
    eps = 1e-6
    for tensor, analytic in pairs:
        for index in np.ndindex(tensor.shape):
            saved = tensor[index]
            tensor[index] = saved + eps
            plus = loss_of(x, y, fw, bw, W_y, b_y)[0]
            tensor[index] = saved - eps
            minus = loss_of(x, y, fw, bw, W_y, b_y)[0]
            tensor[index] = saved
            assert abs((plus - minus) / (2 * eps) - analytic[index]) < 1e-6


def test_a_loss_at_position_one_reaches_the_backward_direction_through_time_only():
    """Gradient arriving at position 1 only: the forward layer read nothing before it (h_0 = 0), so its
    recurrent weights get no gradient; the backward layer read every other input before it, so they do."""
    rng = np.random.default_rng(9)
    x, _, fw, bw, _, _ = tagger(rng, 2, 7, 3, 4, 3)
    states_grad = np.zeros((2, 7, 4))
    states_grad[:, 0] = rng.normal(size=(2, 4))
    forward_states = chapter["simple_rnn_forward"](x, *fw)
    _, dU, _, d_inputs = chapter["simple_rnn_backward"](x, forward_states, fw[0], fw[1], states_grad)
    np.testing.assert_array_equal(dU, np.zeros_like(dU))
    np.testing.assert_array_equal(d_inputs[:, 1:], np.zeros_like(d_inputs[:, 1:]))
    backward_read = chapter["simple_rnn_forward"](x[:, ::-1], *bw)
    _, dU_b, _, d_in_b = chapter["simple_rnn_backward"](
        x[:, ::-1], backward_read, bw[0], bw[1], states_grad[:, ::-1]
    )
    assert np.abs(dU_b).max() > 1e-3 and np.abs(d_in_b[:, 0]).max() > 1e-6
