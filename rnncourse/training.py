"""Training helpers shared by the labs: early stopping, best checkpoint, epoch timing, history plot.

Typical use in a lab::

    run = fit_best(model, train_ds, val_ds, epochs=10, name="imdb_bigru")
    run.best_model.evaluate(test_ds, verbose=0)  # the best checkpoint, not the last epoch
    plot_history(run.history, "BiGRU on IMDB")

Checkpoints are written under ``$COURSE_CHECKPOINT_DIR/<quick|full>/`` if that variable is set, else
under ``<repo>/_build/checkpoints/<quick|full>/`` in a checkout of the course (never in the source
tree), else under ``./rnncourse-checkpoints/<quick|full>/`` (an installed package, e.g. on Colab).
"""

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from rnncourse.quick import is_quick

CHECKPOINT_DIR_ENV_VAR = "COURSE_CHECKPOINT_DIR"
REPO_ROOT = Path(__file__).resolve().parent.parent


def checkpoint_path(name: str) -> Path:
    """Where the best model of run ``name`` is saved: ``.../<quick|full>/<name>.keras`` (folder created)."""
    mode = "quick" if is_quick() else "full"
    base = os.environ.get(CHECKPOINT_DIR_ENV_VAR)
    if base:
        folder = Path(base).expanduser() / mode
    elif (REPO_ROOT / "_toc.yml").is_file():  # a checkout of the course
        folder = REPO_ROOT / "_build" / "checkpoints" / mode
    else:
        folder = Path.cwd() / "rnncourse-checkpoints" / mode
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.keras"


def _epoch_timer_class():
    import keras

    class EpochTimer(keras.callbacks.Callback):
        """Records the wall time of every training epoch (validation included) in ``self.seconds``."""

        def on_train_begin(self, logs=None):
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self._start)

    return EpochTimer


def epoch_timer():
    """A fresh Keras callback whose ``seconds`` list holds one wall time per epoch after ``fit``."""
    return _epoch_timer_class()()


@dataclass
class FitResult:
    """What :func:`fit_best` returns.

    history: Keras' ``history.history`` (metric name -> list, one value per epoch trained).
    best_model: the model reloaded from the best checkpoint (highest ``monitor``).
    epoch_seconds: wall time of each epoch; ``seconds_per_epoch`` is their mean.
    best_epoch: 1-based epoch of the checkpoint; ``best_value`` its ``monitor`` value.
    """

    history: dict
    best_model: object
    epoch_seconds: list[float] = field(default_factory=list)
    best_epoch: int = 0
    best_value: float = float("nan")
    checkpoint: Path | None = None

    @property
    def epochs(self) -> int:
        return len(self.epoch_seconds)

    @property
    def seconds_per_epoch(self) -> float:
        return sum(self.epoch_seconds) / max(len(self.epoch_seconds), 1)


def fit_best(
    model,
    train_data,
    validation_data,
    epochs: int,
    name: str,
    monitor: str = "val_accuracy",
    patience: int = 2,
    verbose: int = 0,
) -> FitResult:
    """Train with EarlyStopping and a best-only ModelCheckpoint; return the reloaded best model.

    Args:
        model: a compiled Keras model whose metrics include ``monitor`` (without the ``val_``).
        train_data, validation_data: ``tf.data`` datasets of (x, y) batches
            (see :func:`rnncourse.tfdata.make_dataset`).
        epochs: the most epochs to train; training stops after ``patience`` epochs without
            improvement of ``monitor``.
        name: the checkpoint's file name (see :func:`checkpoint_path`).
        monitor: a validation metric where higher is better (``"val_accuracy"``), or a loss
            (name ending in ``loss``), where lower is better.
    """
    import keras
    import tensorflow as tf

    for role, data in (("train_data", train_data), ("validation_data", validation_data)):
        if not isinstance(data, tf.data.Dataset):
            raise TypeError(
                f"fit_best: {role} must be a tf.data.Dataset (rnncourse.tfdata.make_dataset(x, y, ...)), "
                f"not {type(data).__name__}: fit() on NumPy arrays stalls 10-16 s per epoch on this stack"
            )
    mode = "min" if monitor.endswith("loss") else "max"
    path = checkpoint_path(name)
    timer = epoch_timer()
    callbacks = [
        keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=patience),
        keras.callbacks.ModelCheckpoint(path, monitor=monitor, mode=mode, save_best_only=True),
        timer,
    ]
    history = model.fit(
        train_data, validation_data=validation_data, epochs=epochs, callbacks=callbacks, verbose=verbose
    )
    values = history.history[monitor]
    best_index = values.index(max(values) if mode == "max" else min(values))
    return FitResult(
        history=history.history,
        best_model=keras.models.load_model(path),
        epoch_seconds=list(timer.seconds),
        best_epoch=best_index + 1,
        best_value=float(values[best_index]),
        checkpoint=path,
    )


def plot_history(history, title: str = "Training history", best_epoch: int | None = None):
    """The convergence graph: loss and accuracy, train vs validation, one subplot each, x axis "epoch".

    ``history`` is a Keras ``History`` or its ``.history`` dict (keys ``loss``, ``val_loss``,
    ``accuracy``, ``val_accuracy``; lists of one value per epoch). ``best_epoch`` (1-based) draws a
    vertical line at the checkpoint. Returns the Matplotlib figure.
    """
    import matplotlib.pyplot as plt

    from rnncourse.plotting import label_epochs

    values = getattr(history, "history", history)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        epochs = range(1, len(values[metric]) + 1)
        ax.plot(epochs, values[metric], "o-", label=f"train {metric}")
        if f"val_{metric}" in values:
            ax.plot(epochs, values[f"val_{metric}"], "s--", label=f"validation {metric}")
        if best_epoch is not None:
            ax.axvline(best_epoch, color="grey", linestyle=":", label="best checkpoint")
        label_epochs(ax)
        ax.set_ylabel(metric)
        ax.set_title(metric.capitalize())
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return fig
