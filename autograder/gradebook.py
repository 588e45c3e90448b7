"""The main gradebook, written by the grading command alone: one student's grades merged at a time."""

import shutil
import sqlite3
import warnings
from pathlib import Path

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
