"""Canaries: the private or unstable APIs the autograder relies on, each checked once, so that an
upgrade that changes one fails here with a clear message instead of grading wrongly."""

import inspect
import sqlite3

import pytest


def parameters(function) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_nbclient_hooks_that_guarded_execute_overrides():
    from nbclient import NotebookClient

    hooks = {
        "_async_handle_timeout": ["self", "timeout", "cell"],  # private: cell timeouts
        "async_execute_cell": ["self", "cell", "cell_index", "execution_count", "store_history"],
        "output": ["self", "outs", "msg", "display_id", "cell_index"],  # output caps
    }
    for name, expected in hooks.items():
        assert hasattr(NotebookClient, name), f"nbclient.NotebookClient.{name} is gone"
        assert parameters(getattr(NotebookClient, name)) == expected, f"NotebookClient.{name} changed"


def test_the_kernel_client_calls_the_outside_runner_makes():
    from jupyter_client.asynchronous import AsyncKernelClient
    from jupyter_client.client import KernelClient

    assert inspect.iscoroutinefunction(AsyncKernelClient.get_shell_msg)
    # AsyncKernelClient.execute wraps this one; without reply=True it returns the msg_id at once
    assert {"silent", "store_history", "allow_stdin", "stop_on_error"} <= set(
        parameters(KernelClient.execute)
    )


def test_nbgrader_preprocessor_lists_the_grader_builds_on():
    from nbgrader.converters import Autograde, GenerateFeedback
    from nbgrader.preprocessors import Execute, GetGrades, SaveAutoGrades

    autograde = Autograde.autograde_preprocessors.default()
    assert Execute in autograde and SaveAutoGrades in autograde, "GuardedExecute replaces Execute there"
    assert GetGrades in GenerateFeedback.preprocessors.default()


def test_ipython_turns_magics_into_python_for_the_outside_runner():
    from IPython.core.inputtransformer2 import TransformerManager

    assert "get_ipython()" in TransformerManager().transform_cell("%matplotlib inline\nx = 1\n")


def test_the_gradebook_schema_that_report_sql_reads(tmp_path):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}"):
        pass
    with sqlite3.connect(tmp_path / "gradebook.db") as db:
        columns = {
            table: {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
            for table in (
                "notebook",
                "assignment",
                "base_cell",
                "grade_cells",
                "submitted_assignment",
                "submitted_notebook",
                "grade",
            )
        }
    expected = {
        "notebook": {"id", "name", "assignment_id"},
        "assignment": {"id", "name"},
        "base_cell": {"id", "notebook_id"},
        "grade_cells": {"id"},
        "submitted_assignment": {"id", "assignment_id", "student_id"},
        "submitted_notebook": {"id", "notebook_id", "assignment_id"},
        "grade": {"id", "notebook_id"},
    }
    for table, wanted in expected.items():
        assert wanted <= columns[table], f"nbgrader's table {table} lost {sorted(wanted - columns[table])}"


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
