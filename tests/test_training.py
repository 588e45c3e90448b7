"""Training helpers: best checkpoint reloaded, epochs timed, checkpoints outside the source tree."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from rnncourse import training
from rnncourse.tfdata import make_dataset


@pytest.fixture
def checkpoints(tmp_path, monkeypatch):
    monkeypatch.setenv(training.CHECKPOINT_DIR_ENV_VAR, str(tmp_path))
    return tmp_path


def tiny_problem(seed=0):
    """A separable toy task: x (64, 5) integer sequences, y = 1 when token 1 occurs."""
    rng = np.random.default_rng(seed)
    x = rng.integers(2, 10, size=(64, 5))
    y = (rng.random(64) < 0.5).astype("float32")
    x[y == 1, rng.integers(0, 5)] = 1
    return x, y


def tiny_model(keras):
    model = keras.Sequential(
        [
            keras.Input(shape=(5,)),
            keras.layers.Embedding(10, 4),
            keras.layers.SimpleRNN(4),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="binary_crossentropy", metrics=["accuracy"])
    return model


def test_fit_best_reloads_the_best_checkpoint(checkpoints):
    import keras

    keras.utils.set_random_seed(1)
    x, y = tiny_problem()
    model = tiny_model(keras)
    data = make_dataset(x, y, batch_size=16)
    run = training.fit_best(model, data, data, epochs=4, name="tiny", patience=10)
    assert run.checkpoint == checkpoints / "quick" / "tiny.keras" and run.checkpoint.is_file()
    assert run.epochs == 4 == len(run.history["loss"])
    assert len(run.epoch_seconds) == 4 and run.seconds_per_epoch > 0
    best = int(np.argmax(run.history["val_accuracy"]))
    assert run.best_epoch == best + 1 and run.best_value == pytest.approx(run.history["val_accuracy"][best])
    _, accuracy = run.best_model.evaluate(data, verbose=0)
    assert accuracy == pytest.approx(run.best_value, abs=1e-6)
    assert run.best_model.count_params() == model.count_params()


@pytest.mark.parametrize("role", ["train_data", "validation_data"])
def test_fit_best_refuses_numpy_arrays(checkpoints, role):
    """fit() on NumPy arrays stalls in tf.data's autotuner here: the labs must pass make_dataset(...)."""
    import keras

    x, y = tiny_problem()
    data = {"train_data": make_dataset(x, y, batch_size=16), "validation_data": make_dataset(x, y, 16)}
    data[role] = (x, y)
    with pytest.raises(TypeError, match=f"{role} must be a tf.data.Dataset"):
        training.fit_best(tiny_model(keras), epochs=1, name="numpy", **data)
    assert not list(checkpoints.rglob("*.keras")), "nothing is trained or saved"


def test_default_checkpoints_are_under_build(monkeypatch):
    monkeypatch.delenv(training.CHECKPOINT_DIR_ENV_VAR, raising=False)
    path = training.checkpoint_path("x")
    assert path.parent == training.REPO_ROOT / "_build" / "checkpoints" / "quick"


def test_plot_history_has_two_labelled_subplots():
    history = {
        "loss": [0.7, 0.5],
        "val_loss": [0.6, 0.55],
        "accuracy": [0.5, 0.8],
        "val_accuracy": [0.6, 0.7],
    }
    fig = training.plot_history(history, "toy", best_epoch=2)
    loss_ax, acc_ax = fig.axes
    assert loss_ax.get_xlabel() == acc_ax.get_xlabel() == "epoch"
    assert [line.get_label() for line in acc_ax.get_lines()][:2] == ["train accuracy", "validation accuracy"]
    assert loss_ax.get_title() == "Loss" and acc_ax.get_title() == "Accuracy"
    fig.canvas.draw()
    for ax in fig.axes:  # two epochs: Matplotlib alone would tick 1.0, 1.2, ... 2.0
        ticks = [tick for tick in ax.get_xticks() if ax.get_xlim()[0] <= tick <= ax.get_xlim()[1]]
        assert ticks and all(float(tick).is_integer() for tick in ticks), ticks


def test_the_evaluated_model_is_the_best_epoch_not_the_last(checkpoints):
    """Validation labels flipped: the better the model fits, the worse it validates, so epoch 1 is best."""
    import keras

    keras.utils.set_random_seed(3)
    x, y = tiny_problem(seed=3)
    model = tiny_model(keras)
    train = make_dataset(x, y, batch_size=16)
    flipped = make_dataset(x, 1 - y, batch_size=16)
    run = training.fit_best(model, train, flipped, epochs=6, name="flipped", patience=10)
    assert run.epochs == 6, "patience 10 must not stop a 6-epoch run"
    assert run.best_epoch < run.epochs
    best_loss, best_acc = run.best_model.evaluate(flipped, verbose=0)
    last_loss, last_acc = model.evaluate(flipped, verbose=0)
    assert best_acc == pytest.approx(run.best_value, abs=1e-6)
    assert best_acc > last_acc, "fit_best returned the last epoch's weights"


def test_early_stopping_ends_training_after_patience(checkpoints):
    import keras

    keras.utils.set_random_seed(3)
    x, y = tiny_problem(seed=3)
    model = tiny_model(keras)
    flipped = make_dataset(x, 1 - y, batch_size=16)
    run = training.fit_best(
        model, make_dataset(x, y, batch_size=16), flipped, epochs=20, name="stop", patience=2
    )
    assert run.epochs == run.best_epoch + 2 < 20
    assert len(run.history["val_accuracy"]) == run.epochs == len(run.epoch_seconds)


def test_a_loss_monitor_keeps_the_lowest_value(checkpoints):
    import keras

    keras.utils.set_random_seed(1)
    x, y = tiny_problem()
    model = tiny_model(keras)
    data = make_dataset(x, y, batch_size=16)
    run = training.fit_best(model, data, data, epochs=3, name="loss", monitor="val_loss", patience=10)
    assert run.best_value == pytest.approx(min(run.history["val_loss"]))
    assert run.best_model.evaluate(data, verbose=0)[0] == pytest.approx(run.best_value, rel=1e-5)


def test_checkpoints_follow_the_mode(checkpoints, monkeypatch):
    monkeypatch.setenv("COURSE_QUICK", "0")
    assert training.checkpoint_path("a") == checkpoints / "full" / "a.keras"
    monkeypatch.setenv("COURSE_QUICK", "1")
    assert training.checkpoint_path("a") == checkpoints / "quick" / "a.keras"
    assert (checkpoints / "full").is_dir() and (checkpoints / "quick").is_dir()
