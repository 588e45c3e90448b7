"""One seed for Python, NumPy and TensorFlow."""

DEFAULT_SEED = 42


def set_seed(seed: int = DEFAULT_SEED, with_keras: bool = True) -> int:
    """Seed ``random``, NumPy and TensorFlow through ``keras.utils.set_random_seed``; return the seed.

    On CPU this gives bit-identical weights and results from run to run. ``with_keras=False`` seeds
    ``random`` and NumPy only, without importing TensorFlow (NumPy-only notebooks).
    """
    if not with_keras:
        import random

        import numpy as np

        random.seed(seed)
        np.random.seed(seed)
        return seed
    from rnncourse.quiet import import_tensorflow_quietly

    keras = import_tensorflow_quietly()
    keras.utils.set_random_seed(seed)
    return seed
