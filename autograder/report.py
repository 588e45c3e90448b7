"""Progress line, end-of-run summary, score histogram and gradebook integrity check."""

import sqlite3
import sys
import time
from collections import Counter
from pathlib import Path


class Progress:
    """``[####------] 12/50 alice: graded (7.0/7.0) 3.2 s`` lines; plain text, one line per event,
    so it reads the same in a terminal, a CI log or a file."""

    def __init__(self, total: int, stream=None, width: int = 24):
        self.total, self.done, self.width = total, 0, width
        self.stream = stream or sys.stdout
        self.started = time.monotonic()

    def update(self, text: str) -> None:
        self.done += 1
        filled = round(self.width * self.done / max(self.total, 1))
        elapsed = time.monotonic() - self.started
        eta = elapsed / self.done * (self.total - self.done) if self.done else 0
        bar = "#" * filled + "-" * (self.width - filled)
        print(
            f"[{bar}] {self.done}/{self.total} {text} (elapsed {elapsed:.0f} s, ~{eta:.0f} s left)",
            file=self.stream,
            flush=True,
        )


def gradebook_problems(db_path: Path, assignment: str, students: list[str]) -> list[str]:
    """Empty list if the gradebook is sound: SQLite's integrity check passes and each student has
    exactly one submission of ``assignment`` with one grade per grade cell of every notebook."""
    problems = []
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        check = db.execute("PRAGMA integrity_check").fetchall()
        if check != [("ok",)]:
            problems.append(f"PRAGMA integrity_check: {check[:3]}")
        expected = dict(
            db.execute(
                "SELECT notebook.name, COUNT(grade_cells.id) FROM notebook "
                "JOIN assignment ON notebook.assignment_id = assignment.id "
                "LEFT JOIN base_cell ON base_cell.notebook_id = notebook.id "
                "LEFT JOIN grade_cells ON grade_cells.id = base_cell.id "
                "WHERE assignment.name = ? GROUP BY notebook.name",
                (assignment,),
            ).fetchall()
        )
        for student in students:
            submissions = db.execute(
                "SELECT submitted_assignment.id FROM submitted_assignment "
                "JOIN assignment ON submitted_assignment.assignment_id = assignment.id "
                "WHERE assignment.name = ? AND submitted_assignment.student_id = ?",
                (assignment, student),
            ).fetchall()
            if len(submissions) != 1:
                problems.append(f"{student}: {len(submissions)} submissions of {assignment}")
                continue
            rows = db.execute(
                "SELECT notebook.name, COUNT(grade.id) FROM submitted_notebook "
                "JOIN notebook ON submitted_notebook.notebook_id = notebook.id "
                "LEFT JOIN grade ON grade.notebook_id = submitted_notebook.id "
                "WHERE submitted_notebook.assignment_id = ? GROUP BY notebook.name",
                (submissions[0][0],),
            ).fetchall()
            if dict(rows) != expected:
                problems.append(f"{student}: grades per notebook {dict(rows)}, expected {expected}")
    return problems


def save_histogram(rows: list[dict], path: Path, assignment: str) -> Path | None:
    """Histogram of total scores (graded students) as a PNG; None if there is nothing to plot."""
    scores = [float(r["total_score"]) for r in rows if r["status"] == "graded"]
    if not scores:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    maximum = max(float(rows[0]["max_score"]), 1.0)
    figure, axes = plt.subplots(figsize=(6, 3.5))
    axes.hist(
        scores, bins=min(20, max(5, int(maximum) + 1)), range=(0, maximum), color="#4477aa", label="students"
    )
    axes.set_title(f"{assignment}: total scores of {len(scores)} graded submissions")
    axes.set_xlabel(f"total score (of {maximum:g})")
    axes.set_ylabel("students")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def summary_text(rows: list[dict], results, sandbox_note: str, problems: list[str], histogram) -> str:
    """``rows``: every student of the gradebook (grades.csv); ``results``: this run's students."""
    done = Counter(r.status for r in results)
    in_csv = Counter(r["status"] for r in rows)
    unfinished = f", {done['pending']} not finished (interrupted)" if done["pending"] else ""
    lines = [
        "",
        "Summary",
        f"  this run: {len(results)} submission(s): {done['graded']} graded, {done['error']} failed, "
        f"{done['skipped']} skipped (unchanged since graded){unfinished}",
        f"  grades.csv: {len(rows)} student(s), {in_csv['graded']} graded, {in_csv['error']} could not be graded",
        f"  sandbox: {sandbox_note}",
    ]
    graded = [r for r in rows if r["status"] == "graded"]
    if graded:
        totals = sorted(float(r["total_score"]) for r in graded)
        maximum = graded[0]["max_score"]
        mean = sum(totals) / len(totals)
        lines.append(
            f"  total score of {maximum}: mean {mean:.2f}, median {totals[len(totals) // 2]:g}, "
            f"min {totals[0]:g}, max {totals[-1]:g}"
        )
    attention = [r for r in rows if r["reason"]]
    if attention:
        lines.append("  students with a reason:")
        for row in attention:
            lines.append(
                f"    {row['student_id']} ({row['status']}, {row['total_score']}): {row['reason'][:300]}"
            )
    lines.append(f"  gradebook check: {'ok' if not problems else '; '.join(problems)}")
    if histogram is not None:
        lines.append(f"  histogram: {histogram}")
    return "\n".join(lines)
