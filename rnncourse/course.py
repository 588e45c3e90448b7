"""The one-line set-up call that opens every chapter, lab and assignment."""

from dataclasses import dataclass

from rnncourse.data import SeedReport, seed_keras_cache
from rnncourse.plotting import use_course_style
from rnncourse.quick import is_quick
from rnncourse.quiet import import_tensorflow_quietly
from rnncourse.seeding import DEFAULT_SEED, set_seed


@dataclass
class CourseSetup:
    """What :func:`setup` did: mode, seed, dataset cache and library versions."""

    quick: bool
    seed: int
    data: SeedReport | None
    keras_version: str | None  # None: set up without Keras (a NumPy-only notebook)
    tensorflow_version: str | None

    def __str__(self) -> str:
        mode = "quick mode (COURSE_QUICK=1): small data, few epochs" if self.quick else "full mode"
        libraries = (
            f"Keras {self.keras_version} on TensorFlow {self.tensorflow_version}"
            if self.keras_version
            else "NumPy only (TensorFlow not loaded)"
        )
        return f"{mode}; seed {self.seed}; {libraries}" + (f"\n{self.data}" if self.data is not None else "")

    def _repr_pretty_(self, printer, cycle):  # IPython shows str(), not the dataclass dump
        printer.text(str(self))


def setup(
    seed: int = DEFAULT_SEED, data_source=None, with_data: bool = True, with_keras: bool = True
) -> CourseSetup:
    """Quiet TensorFlow, seed every random generator, seed the offline dataset cache, style figures.

    Args:
        seed: passed to ``keras.utils.set_random_seed``.
        data_source: folder of Keras dataset files (default: ``$COURSE_DATA_DIR`` or
            ``../shared/datasets/keras``; none found means Keras downloads as usual).
        with_data: False skips the dataset cache (chapters that load no dataset).
        with_keras: False neither imports TensorFlow nor seeds it (NumPy-only assignments, whose
            tests compare with Keras in the grader's process, not in the notebook).

    Raises:
        DatasetError: a dataset file is missing or corrupt (the message says which and what to do).
    """
    versions = (None, None)
    if with_keras:
        keras = import_tensorflow_quietly()
        import tensorflow as tf

        versions = (keras.__version__, tf.__version__)
    set_seed(seed, with_keras=with_keras)
    use_course_style()
    report = seed_keras_cache(data_source) if with_data else None
    return CourseSetup(is_quick(), seed, report, *versions)
