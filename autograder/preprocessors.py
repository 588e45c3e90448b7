"""nbgrader preprocessors of the course, loaded from nbgrader_config.py."""

from nbgrader.preprocessors import NbGraderPreprocessor

HIDDEN_TESTS_BEGIN = "BEGIN HIDDEN TESTS"


class ShortenHiddenTestErrors(NbGraderPreprocessor):
    """In cells holding hidden tests, cut each error down to its last line (``AssertionError: ...``).

    nbgrader's ClearHiddenTests removes the hidden lines from a cell's source, but a failing test's
    traceback quotes the lines around the failure, hidden ones included. Run this before
    ClearHiddenTests (which removes the marker this looks for). The student keeps the message that
    says what went wrong, and never sees the test code.
    """

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and HIDDEN_TESTS_BEGIN in cell.source:
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
        return cell, resources
