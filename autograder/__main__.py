"""``python -m autograder``: see autograder/grade.py."""

import sys

from autograder.grade import main

sys.exit(main())
