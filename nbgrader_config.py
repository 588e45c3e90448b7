"""nbgrader configuration of the course (paths are relative to the folder nbgrader runs in).

Instructor sources live in ``solutions/<assignment>/``; ``nbgrader generate_assignment`` writes the
student release to ``assignments/<assignment>/`` (committed, never edited by hand; run
``make assignments``). The autograder (``python -m autograder``) runs nbgrader in a separate working
folder, so grading never touches ``solutions/``.
"""

from nbgrader.converters import GenerateFeedback
from nbgrader.preprocessors import ClearHiddenTests

c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file

c.CourseDirectory.course_id = "rnn-hands-on"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"]

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Importing TensorFlow takes a few seconds and quick-mode training up to a minute per cell.
c.Execute.timeout = 120

# Feedback never shows hidden tests: nbgrader's default list keeps them in the cells' source. (Their
# outputs cannot quote them: test cells run in the grader, which writes only the visible lines.)
c.GenerateFeedback.preprocessors = [*GenerateFeedback.preprocessors.default(), ClearHiddenTests]
