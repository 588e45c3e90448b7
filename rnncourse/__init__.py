"""Shared helpers for the course *Recurrent neural networks, hands-on*.

What chapters, labs and assignments share: offline dataset seeding, quick mode, seeding,
quiet TensorFlow, tf.data input pipelines, figure style and ``glue`` (numbers for the prose). Never
the answers students write.

Typical first cell of a chapter::

    import rnncourse
    rnncourse.setup()
"""

from rnncourse.course import CourseSetup, setup
from rnncourse.data import DatasetError, load_text, seed_keras_cache
from rnncourse.gluing import glue
from rnncourse.quick import is_quick, pick

__all__ = [
    "CourseSetup",
    "DatasetError",
    "glue",
    "is_quick",
    "load_text",
    "pick",
    "seed_keras_cache",
    "setup",
]
