"""Keras reference layers for cross-checks: build a layer, set given weights, run it."""

import numpy as np

from rnncourse.quiet import import_tensorflow_quietly

keras = import_tensorflow_quietly()


def run_layer(layer, inputs, weights, initial_state=None):
    """Build ``layer`` on ``inputs`` (N, T, D) float32, set ``weights``, return the output(s) as NumPy."""
    inputs = np.asarray(inputs, dtype="float32")
    layer.build(inputs.shape)
    layer.set_weights([np.asarray(w, dtype="float32") for w in weights])
    if initial_state is None:
        outputs = layer(inputs)
    else:
        outputs = layer(inputs, initial_state=[np.asarray(s, dtype="float32") for s in initial_state])
    if isinstance(outputs, (list, tuple)):
        return [np.asarray(o) for o in outputs]
    return np.asarray(outputs)
