"""Hooks and session fixtures shared by the tests.

* ``@pytest.mark.needs(...)``: strict in CI, skip elsewhere (``tests/prerequisites.py``).
* ``quick_book``: the book built once per run in quick mode; its executed notebooks are what the page
  tests check, and its HTML is what the browser test opens (``tests/book_build.py``).
* ``graded``: each class of submissions graded once per run; every grading test reads the same run
  (``tests/grading.py``).

Both start in the background as soon as the tests are collected: the book build and two grading
runs at a time share the two cores while the fast tests run, and a test waits only for what it reads.
"""

import pytest
from book_build import QuickBook, QuickBookBuild
from grading import GradedRuns
from prerequisites import PREREQUISITES, STRICT_ENV_VAR, problem_with, strict_mode

_skipped_for: dict[str, int] = {}
_book_build = QuickBookBuild()


def pytest_configure(config):
    config.addinivalue_line(
        "markers", f"needs(*names): prerequisites of the test, from {sorted(PREREQUISITES)}"
    )


def pytest_collection_modifyitems(items):
    """Tests that read a background run (``graded``, ``quick_book``) go last, in their order: the
    other tests run while those runs are computed, instead of after the first wait for one."""
    waits = [item for item in items if {"graded", "quick_book"} & set(getattr(item, "fixturenames", ()))]
    if waits:
        ids = {id(item) for item in waits}
        items[:] = [item for item in items if id(item) not in ids] + waits


def _needs(item) -> set[str]:
    names = set()
    for marker in item.iter_markers("needs"):
        unknown = set(marker.args) - set(PREREQUISITES)
        if unknown:
            raise pytest.UsageError(f"{item.nodeid}: unknown prerequisite(s) {sorted(unknown)}")
        names.update(marker.args)
    return names


def pytest_collection_finish(session):
    """Strict mode: stop before any test when something the selected tests need is missing. Then
    start, in the background, the grading runs and the quick build that the selected tests read.
    (After collection is finished, so tests deselected by -m or -k start nothing.)"""
    config, items = session.config, session.items
    if strict_mode():
        needed = set().union(*(_needs(item) for item in items)) if items else set()
        problems = [problem for name in sorted(needed) if (problem := problem_with(name))]
        if problems:
            pytest.exit("\n".join(f"{STRICT_ENV_VAR}=1: missing prerequisite {line}" for line in problems), 4)
    if config.option.collectonly:
        return
    grading_tests = [item for item in items if "graded" in getattr(item, "fixturenames", ())]
    if grading_tests and problem_with("bwrap") is None:  # without a sandbox those tests skip
        runs = _graded_runs(config)
        modules = {
            item.module: [i for i in grading_tests if i.module is item.module] for item in grading_tests
        }
        # a module's GRADING_ORDER: its runs are queued before those of higher numbers (longest first)
        for module in sorted(modules, key=lambda module: getattr(module, "GRADING_ORDER", 50)):
            if hasattr(module, "start_grading"):
                module.start_grading(runs, modules[module])
    book_tests = [item for item in items if "quick_book" in getattr(item, "fixturenames", ())]
    if book_tests:
        needed = set().union(*(_needs(item) for item in book_tests))
        if all(problem_with(name) is None for name in needed):  # otherwise those tests skip
            _book_build.start()


def pytest_sessionfinish(session, exitstatus):
    _book_build.stop()
    if _runs:
        _runs[0].shutdown()


_runs: list[GradedRuns] = []


def _graded_runs(config) -> GradedRuns:
    """The session's graded runs, in a folder of pytest's temporary base (kept for the last runs)."""
    if not _runs:
        _runs.append(GradedRuns(config._tmp_path_factory.mktemp("graded")))
    return _runs[0]


def pytest_runtest_setup(item):
    for name in sorted(_needs(item)):
        problem = problem_with(name)
        if problem is not None:
            # In strict mode the collection hook has already stopped the run.
            _skipped_for[name] = _skipped_for.get(name, 0) + 1
            pytest.skip(f"missing prerequisite {problem}")


def pytest_terminal_summary(terminalreporter):
    if _skipped_for:
        terminalreporter.section("skipped for missing prerequisites (CI runs with COURSE_STRICT=1)")
        for name, count in sorted(_skipped_for.items()):
            terminalreporter.write_line(f"{count:4d} test(s): {problem_with(name)}")


@pytest.fixture(scope="session")
def quick_book() -> QuickBook:
    """The book built in quick mode, once for the whole run (started at collection, see above)."""
    return _book_build.result()


@pytest.fixture(scope="session")
def graded(request) -> GradedRuns:
    """Classes of submissions graded once for the whole run, started at collection (tests/grading.py)."""
    return _graded_runs(request.config)
