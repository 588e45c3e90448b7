"""The main gradebook, written by the grading command alone: one student's grades merged at a time."""

import math
import re
import shutil
import sqlite3
import warnings
from pathlib import Path

from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Unicode

from autograder import sanitize


def snapshot_gradebook(db: Path, target: Path) -> None:
    """A consistent copy of a SQLite file (the online backup API, safe while others read it)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        target.unlink()
    with sqlite3.connect(db) as source, sqlite3.connect(target) as copy:
        source.backup(copy)


def merge_submission(
    course_dir: Path, work_dir: Path, assignment: str, student_id: str, flagged: bool
) -> list[str]:
    """Copy the student's submission, grades and comments from the private gradebook into the main one;
    return the files left out (links, fifos...: none, the worker removed them)."""
    from nbgrader.api import Gradebook

    with (
        warnings.catch_warnings(),  # nbgrader's own SQLAlchemy "not in session" noise
        Gradebook(f"sqlite:///{work_dir / 'gradebook.db'}") as private,
        Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}") as main,
    ):
        warnings.simplefilter("ignore")
        theirs = private.find_submission(assignment, student_id)
        main.update_or_create_student(student_id)
        ours = main.update_or_create_submission(assignment, student_id, timestamp=theirs.timestamp)
        ours.extension = theirs.extension
        for notebook in theirs.notebooks:
            target = main.find_submission_notebook(notebook.name, assignment, student_id)
            target.flagged = bool(notebook.flagged or flagged)
            target.late_submission_penalty = notebook.late_submission_penalty
            for grade in notebook.grades:
                mine = main.find_grade(grade.name, notebook.name, assignment, student_id)
                mine.auto_score = grade.auto_score
                mine.manual_score = grade.manual_score
                mine.extra_credit = grade.extra_credit
                mine.needs_manual_grade = grade.needs_manual_grade
            for comment in notebook.comments:
                mine = main.find_comment(comment.name, notebook.name, assignment, student_id)
                mine.auto_comment = comment.auto_comment
                mine.manual_comment = comment.manual_comment
        main.db.commit()
    left_out = []
    for folder in ("submitted", "autograded", "feedback"):
        source = work_dir / folder / student_id / assignment
        target = course_dir / folder / student_id / assignment
        if target.exists():
            shutil.rmtree(target)
        if source.exists():
            left_out += sanitize.copy_regular_files(source, target)
    return left_out


def record_empty_submission(
    course_dir: Path, assignment: str, student_id: str, flagged: bool = False, reset: bool = True
) -> None:
    """Create (or, with ``reset``, zero) the student's submission in the main gradebook, every grade 0.

    Without ``reset`` an existing submission (an earlier run's grades) is left alone.
    """
    from nbgrader.api import Gradebook, MissingEntry

    with warnings.catch_warnings(), Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}") as gradebook:
        warnings.simplefilter("ignore")
        gradebook.update_or_create_student(student_id)
        try:
            submission = gradebook.find_submission(assignment, student_id)
            if not reset:
                return
        except MissingEntry:
            submission = gradebook.add_submission(assignment, student_id)
        for notebook in submission.notebooks:
            notebook.flagged = flagged
            for grade in notebook.grades:
                grade.auto_score = 0
                grade.manual_score = None
                grade.needs_manual_grade = False
        gradebook.db.commit()


# --------------------------------------------------------------------------------------------
# Due dates and late penalties

LATE_POLICY = re.compile(r"none|zero|(\d+(?:\.\d+)?)%/day")


def late_penalty(policy: str, score: float, seconds_late: float) -> float:
    """Points taken off a notebook's ``score``: ``none``; ``zero`` (all of it); ``P%/day``: P % of it
    for each day or part of a day late, at most all of it."""
    if seconds_late <= 0 or policy == "none":
        return 0.0
    percent = 100.0 if policy == "zero" else float(LATE_POLICY.fullmatch(policy)[1])
    return min(score, score * percent / 100 * math.ceil(seconds_late / 86400))


class CoursePenalty(LateSubmissionPlugin):
    """nbgrader's late-submission plugin with the course's policy (``autograde`` in the workers)."""

    policy = Unicode("none", help="none, zero or P%/day").tag(config=True)

    def late_submission_penalty(self, student_id: str, score: float, total_seconds_late: float):
        return late_penalty(self.policy, score, total_seconds_late) or None


def set_due_date(course_dir: Path, assignment: str, due: str) -> None:
    """Store the assignment's due date (``2026-12-01 23:59 UTC``; ``none`` removes it) in the gradebook."""
    from nbgrader.api import Gradebook
    from nbgrader.utils import parse_utc

    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}") as gradebook:
        duedate = None if due.strip().lower() == "none" else parse_utc(due)
        gradebook.update_or_create_assignment(assignment, duedate=duedate)


def apply_late_penalties(course_dir: Path, assignment: str, policy: str) -> str:
    """Store every notebook's late penalty, computed from its score now (manual grades included), so the
    CSV, ``nbgrader export`` and the feedback give one total; return the due date and policy in words."""
    from nbgrader.api import Gradebook

    with warnings.catch_warnings(), Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}") as gradebook:
        warnings.simplefilter("ignore")
        duedate = gradebook.find_assignment(assignment).duedate
        for submission in gradebook.assignment_submissions(assignment):
            for notebook in submission.notebooks:
                penalty = late_penalty(policy, notebook.score, submission.total_seconds_late)
                notebook.late_submission_penalty = penalty or None
        gradebook.db.commit()
    return f"due {duedate:%Y-%m-%d %H:%M:%S} UTC, late penalty {policy}" if duedate else "no due date"
