"""The GRU chapter's NumPy cells and layer equal keras.layers.GRU (both reset_after settings) over random
shapes and seeds, the two update conventions are the same model, and the parameter formulas hold."""

import numpy as np
import pytest
from chapter_code import load_chapter_code
from keras_reference import keras, run_layer

chapter = load_chapter_code("gated/gru.md")
# (N, T, D, U, seed): includes the edge cases D = 1, U = 1 and T = 1.
CASES = [
    (1, 1, 1, 1, 0),
    (2, 5, 3, 4, 1),
    (3, 17, 8, 6, 2),
    (2, 60, 32, 32, 3),
    (2, 9, 1, 16, 4),
    (3, 1, 7, 5, 5),
]


def random_weights(rng, d, u, reset_after, dtype="float32"):
    scale = 1 / np.sqrt(d + u)
    kernel = rng.normal(0, scale, (d, 3 * u))
    recurrent_kernel = rng.normal(0, scale, (u, 3 * u))
    bias = rng.normal(0, 0.5, (2, 3 * u) if reset_after else 3 * u)
    return [w.astype(dtype) for w in (kernel, recurrent_kernel, bias)]


@pytest.mark.parametrize(("n", "t", "d", "u", "seed"), CASES)
@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("with_initial_state", [False, True])
def test_gru_forward_equals_keras(n, t, d, u, seed, reset_after, return_sequences, with_initial_state):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, t, d)).astype("float32")
    weights = random_weights(rng, d, u, reset_after)
    h0 = rng.normal(0, 0.5, (n, u)).astype("float32") if with_initial_state else None
    ours = chapter["gru_forward"](
        x, *weights, h0=h0, return_sequences=return_sequences, reset_after=reset_after
    )
    layer = keras.layers.GRU(u, return_sequences=return_sequences, reset_after=reset_after)
    theirs = run_layer(layer, x, weights, initial_state=None if h0 is None else [h0])
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("n", "t", "d", "u", "seed"), CASES[:4])
@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_forward_equals_keras_in_float64(n, t, d, u, seed, reset_after):
    rng = np.random.default_rng(100 + seed)
    x = rng.normal(size=(n, t, d))
    weights = random_weights(rng, d, u, reset_after, "float64")
    h0 = rng.normal(0, 0.5, (n, u))
    layer = keras.layers.GRU(u, return_sequences=True, reset_after=reset_after, dtype="float64")
    layer.build(x.shape)
    layer.set_weights(weights)
    theirs = keras.ops.convert_to_numpy(layer(x, initial_state=[h0]))
    ours = chapter["gru_forward"](x, *weights, h0=h0, reset_after=reset_after)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("reset_after", "cell_name"), [(True, "gru_cell_reset_after"), (False, "gru_cell_reset_before")]
)
def test_each_cell_equals_the_layer_on_one_step(reset_after, cell_name):
    rng = np.random.default_rng(7)
    n, d, u = 3, 5, 4
    weights = random_weights(rng, d, u, reset_after, "float64")
    x_t = rng.normal(size=(n, d))
    h_prev = rng.normal(size=(n, u))
    h = chapter[cell_name](x_t, h_prev, *weights)
    layer_h = chapter["gru_forward"](
        x_t[:, None, :], *weights, h0=h_prev, return_sequences=False, reset_after=reset_after
    )
    np.testing.assert_allclose(h, layer_h, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize(("n", "t", "d", "u", "seed"), CASES)
@pytest.mark.parametrize("reset_after", [True, False])
def test_the_two_update_conventions_are_the_same_model(n, t, d, u, seed, reset_after):
    """z_writes with the update block negated == z_keeps (= Keras); flipping twice is the identity."""
    rng = np.random.default_rng(200 + seed)
    x = rng.normal(size=(n, t, d))
    weights = random_weights(rng, d, u, reset_after, "float64")
    h0 = rng.normal(0, 0.5, (n, u))
    forward, flip = chapter["gru_forward"], chapter["flip_update_gate"]
    keeps = forward(x, *weights, h0=h0, reset_after=reset_after, update_convention="z_keeps")
    flipped = flip(*weights)
    writes = forward(x, *flipped, h0=h0, reset_after=reset_after, update_convention="z_writes")
    np.testing.assert_allclose(writes, keeps, rtol=1e-12, atol=1e-12)
    # and the other way round: z_keeps with flipped weights == z_writes with the original ones
    np.testing.assert_allclose(
        forward(x, *flipped, h0=h0, reset_after=reset_after),
        forward(x, *weights, h0=h0, reset_after=reset_after, update_convention="z_writes"),
        rtol=1e-12,
        atol=1e-12,
    )
    for original, twice in zip(weights, flip(*flipped), strict=True):
        np.testing.assert_array_equal(original, twice)
    # the update block (and only it) changes sign, in every tensor and every bias row
    for original, new in zip(weights, flipped, strict=True):
        np.testing.assert_array_equal(new[..., :u], -original[..., :u])
        np.testing.assert_array_equal(new[..., u:], original[..., u:])


@pytest.mark.parametrize("reset_after", [True, False])
def test_flipped_z_writes_gru_equals_keras(reset_after):
    rng = np.random.default_rng(11)
    n, t, d, u = 3, 12, 6, 5
    x = rng.normal(size=(n, t, d)).astype("float32")
    weights = random_weights(rng, d, u, reset_after)
    h0 = rng.normal(0, 0.5, (n, u)).astype("float32")
    theirs = run_layer(keras.layers.GRU(u, return_sequences=True, reset_after=reset_after), x, weights, [h0])
    writes = chapter["gru_forward"](
        x,
        *chapter["flip_update_gate"](*weights),
        h0=h0,
        reset_after=reset_after,
        update_convention="z_writes",
    )
    np.testing.assert_allclose(writes, theirs, rtol=1e-5, atol=1e-5)
    same_weights = chapter["gru_forward"](
        x, *weights, h0=h0, reset_after=reset_after, update_convention="z_writes"
    )
    assert np.abs(same_weights - theirs).max() > 1e-2  # without the flip, the conventions differ


def test_unknown_update_convention_is_rejected():
    with pytest.raises(ValueError, match="unknown update convention"):
        chapter["gru_update"](np.zeros(2), np.zeros(2), np.zeros(2), "z_sometimes")


@pytest.mark.parametrize(
    ("d", "u", "reset_after", "expected"),
    [
        (128, 8, True, 3_312),
        (128, 8, False, 3_288),
        (256, 256, True, 394_752),
        (256, 128, True, 148_224),
        (1, 1, True, 12),
        (1, 1, False, 9),
        (128, 64, False, 37_056),
    ],
)
def test_parameter_formula_matches_count_params(d, u, reset_after, expected):
    layer = keras.layers.GRU(u, reset_after=reset_after)
    layer.build((None, 5, d))
    assert chapter["gru_param_count"](d, u, reset_after) == layer.count_params() == expected


def test_bidirectional_gru_count():
    model = keras.Sequential(
        [keras.Input(shape=(300, 128)), keras.layers.Bidirectional(keras.layers.GRU(64))]
    )
    assert model.count_params() == 2 * chapter["gru_param_count"](128, 64) == 74_496
    assert 3 * 64 * (128 + 64 + 1) == 37_056  # the lab report's product
