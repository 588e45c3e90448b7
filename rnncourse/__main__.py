"""``python -m rnncourse [--source DIR]``: seed Keras' dataset cache and say what was done."""

import sys

from rnncourse.data import main

sys.exit(main())
