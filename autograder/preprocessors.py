"""nbgrader preprocessors of the course, loaded from nbgrader_config.py."""

import re

from nbformat.v4 import new_output
from nbgrader.preprocessors import NbGraderPreprocessor

HIDDEN_TESTS_BEGIN = "BEGIN HIDDEN TESTS"
HIDDEN_BLOCK = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)
REDACTED = "[autograder] output removed from the feedback: it quotes the hidden tests\n"


def _output_text(output) -> str:
    parts = [output.get("text", ""), output.get("evalue", ""), *output.get("traceback", [])]
    parts += [v for v in output.get("data", {}).values() if isinstance(v, str)]
    return "\n".join("".join(p) if isinstance(p, list) else str(p) for p in parts)


class ShortenHiddenTestErrors(NbGraderPreprocessor):
    """In cells holding hidden tests, cut each error down to its last line (``AssertionError: ...``).

    nbgrader's ClearHiddenTests removes the hidden lines from a cell's source, but a failing test's
    traceback quotes the lines around the failure, hidden ones included. Run this before
    ClearHiddenTests (which removes the marker this looks for). The student keeps the message that
    says what went wrong, and never sees the test code.

    Belt and braces: any output, in any cell, that quotes a line of the hidden tests (a submission
    that managed to read and print them) is replaced by a note.
    """

    def preprocess(self, nb, resources):
        self._hidden_lines = [
            line.strip()
            for cell in nb.cells
            if cell.cell_type == "code"
            for block in HIDDEN_BLOCK.findall(cell.source)
            for line in block.splitlines()
            if len(line.strip()) > 12
        ]
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and HIDDEN_TESTS_BEGIN in cell.source:
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
        if cell.cell_type == "code" and getattr(self, "_hidden_lines", None):
            outputs = []
            for output in cell.get("outputs", []):
                text = _output_text(output)
                if any(line in text for line in self._hidden_lines):
                    output = new_output("stream", name="stdout", text=REDACTED)
                outputs.append(output)
            cell["outputs"] = outputs
        return cell, resources
