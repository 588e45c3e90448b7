"""The porting chapter's PyTorch-style cells (x2h and h2h, two biases), converted into Keras' layout, equal
keras.layers.LSTM and keras.layers.GRU over random shapes; the conversions invert each other; the parameter
formulas of both layouts hold."""

import numpy as np
import pytest
from chapter_code import load_chapter_code
from keras_reference import keras, run_layer

chapter = load_chapter_code("gated/porting_weights.md")
# (N, T, D, H, seed): includes the edge cases D = 1, H = 1 and T = 1.
CASES = [(1, 1, 1, 1, 0), (2, 5, 3, 4, 1), (3, 17, 8, 6, 2), (2, 40, 28, 32, 3), (3, 1, 7, 5, 4)]


def params(rng, d, units, blocks, dtype="float32"):
    """Random PyTorch-style weights with non-trivial biases (larger than PyTorch's initial ones)."""
    p = chapter["random_torch_params"](rng, d, units, blocks, dtype)
    p["bias_ih_l0"] = rng.normal(0, 0.5, blocks * units).astype(dtype)
    p["bias_hh_l0"] = rng.normal(0, 0.5, blocks * units).astype(dtype)
    return p


@pytest.mark.parametrize(("n", "t", "d", "units", "seed"), CASES)
@pytest.mark.parametrize("batch_first", [True, False])
def test_torch_style_lstm_equals_keras(n, t, d, units, seed, batch_first):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, t, d)).astype("float32")
    p = params(rng, d, units, 4)
    theirs_out, theirs_h, theirs_c = run_layer(
        keras.layers.LSTM(units, return_sequences=True, return_state=True),
        x,
        chapter["lstm_torch_to_keras"](p),
    )
    inputs = x if batch_first else x.transpose(1, 0, 2)
    out, (h_n, c_n) = chapter["torch_lstm"](inputs, p, batch_first=batch_first)
    out = out if batch_first else out.transpose(1, 0, 2)
    assert h_n.shape == c_n.shape == (1, n, units)
    np.testing.assert_allclose(out, theirs_out, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(h_n[0], theirs_h, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(c_n[0], theirs_c, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("n", "t", "d", "units", "seed"), CASES)
@pytest.mark.parametrize("batch_first", [True, False])
def test_torch_style_gru_equals_keras_reset_after(n, t, d, units, seed, batch_first):
    rng = np.random.default_rng(100 + seed)
    x = rng.normal(size=(n, t, d)).astype("float32")
    p = params(rng, d, units, 3)
    theirs_out, theirs_h = run_layer(
        keras.layers.GRU(units, return_sequences=True, return_state=True), x, chapter["gru_torch_to_keras"](p)
    )
    inputs = x if batch_first else x.transpose(1, 0, 2)
    out, h_n = chapter["torch_gru"](inputs, p, batch_first=batch_first)
    out = out if batch_first else out.transpose(1, 0, 2)
    assert h_n.shape == (1, n, units)
    np.testing.assert_allclose(out, theirs_out, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(h_n[0], theirs_h, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("n", "t", "d", "units", "seed"), CASES[:4])
def test_conversions_in_float64_are_exact_to_rounding(n, t, d, units, seed):
    rng = np.random.default_rng(200 + seed)
    x = rng.normal(size=(n, t, d))
    for blocks, layer, convert, run in [
        (4, keras.layers.LSTM, "lstm_torch_to_keras", "torch_lstm"),
        (3, keras.layers.GRU, "gru_torch_to_keras", "torch_gru"),
    ]:
        p = params(rng, d, units, blocks, "float64")
        keras_layer = layer(units, return_sequences=True, dtype="float64")
        keras_layer.build(x.shape)
        keras_layer.set_weights(chapter[convert](p))
        ours = chapter[run](x, p, batch_first=True)[0]
        np.testing.assert_allclose(ours, keras.ops.convert_to_numpy(keras_layer(x)), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_keras_weights_round_trip_through_the_torch_layout(seed):
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    d, units = int(rng.integers(1, 9)), int(rng.integers(1, 9))
    x = rng.normal(size=(2, 6, d)).astype("float32")
    lstm = keras.layers.LSTM(units, return_sequences=True)
    gru = keras.layers.GRU(units, return_sequences=True)
    for layer in (lstm, gru):
        layer.build((None, 6, d))
    lstm_t = chapter["lstm_keras_to_torch"](*lstm.get_weights())
    gru_t = chapter["gru_keras_to_torch"](*gru.get_weights())
    assert lstm_t["weight_ih_l0"].shape == (4 * units, d) and gru_t["weight_hh_l0"].shape == (
        3 * units,
        units,
    )
    np.testing.assert_allclose(
        chapter["torch_lstm"](x, lstm_t, batch_first=True)[0], np.asarray(lstm(x)), rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(
        chapter["torch_gru"](x, gru_t, batch_first=True)[0], np.asarray(gru(x)), rtol=1e-5, atol=1e-5
    )
    for original, back in zip(lstm.get_weights(), chapter["lstm_torch_to_keras"](lstm_t), strict=True):
        np.testing.assert_array_equal(original, back)
    for original, back in zip(gru.get_weights(), chapter["gru_torch_to_keras"](gru_t), strict=True):
        np.testing.assert_array_equal(original, back)


def test_gru_blocks_are_reordered_not_copied():
    """Copying PyTorch's r, z, n blocks into Keras unchanged (no reorder) gives a different GRU."""
    rng = np.random.default_rng(5)
    d, units = 4, 3
    x = rng.normal(size=(2, 8, d)).astype("float32")
    p = params(rng, d, units, 3)
    naive = [p["weight_ih_l0"].T, p["weight_hh_l0"].T, np.stack([p["bias_ih_l0"], p["bias_hh_l0"]])]
    theirs = run_layer(keras.layers.GRU(units, return_sequences=True), x, naive)
    ours = chapter["torch_gru"](x, p, batch_first=True)[0]
    assert np.abs(ours - theirs).max() > 1e-2


def test_reset_before_gru_is_refused():
    layer = keras.layers.GRU(3, reset_after=False)
    layer.build((None, 4, 2))
    with pytest.raises(ValueError, match="reset_after=False"):
        chapter["gru_keras_to_torch"](*layer.get_weights())


@pytest.mark.parametrize(("d", "units"), [(1, 1), (28, 128), (128, 64), (128, 8)])
def test_parameter_counts_of_both_layouts(d, units):
    lstm, gru = keras.layers.LSTM(units), keras.layers.GRU(units)
    for layer in (lstm, gru):
        layer.build((None, 5, d))
    rng = np.random.default_rng(0)
    torch_lstm = sum(p.size for p in chapter["random_torch_params"](rng, d, units, 4).values())
    torch_gru = sum(p.size for p in chapter["random_torch_params"](rng, d, units, 3).values())
    assert torch_lstm == chapter["torch_lstm_param_count"](d, units) == 4 * units * (d + units + 2)
    assert lstm.count_params() == chapter["keras_lstm_param_count"](d, units) == 4 * units * (d + units + 1)
    assert torch_gru == chapter["torch_gru_param_count"](d, units) == gru.count_params()
