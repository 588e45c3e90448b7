"""The code base stays ruff-clean (code, tests and the solution notebooks)."""

import subprocess

import pytest
from prerequisites import REPO_ROOT, environment_tool

pytestmark = pytest.mark.needs("ruff")


def test_ruff_check_passes():
    result = subprocess.run(
        [environment_tool("ruff"), "check", "."], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_applied():
    result = subprocess.run(
        [environment_tool("ruff"), "format", "--check", "."], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
