"""Quick mode: one environment variable, the same code path, smaller sizes."""

import pytest

from rnncourse import quick


@pytest.mark.parametrize("value", ["1", "true", "YES", " on "])
def test_true_values_turn_quick_mode_on(monkeypatch, value):
    monkeypatch.setenv(quick.ENV_VAR, value)
    assert quick.is_quick()
    assert quick.pick(full=10, quick=1) == 1


@pytest.mark.parametrize("value", ["", "0", "false", "no", "off"])
def test_false_values_keep_full_mode(monkeypatch, value):
    monkeypatch.setenv(quick.ENV_VAR, value)
    assert not quick.is_quick()
    assert quick.pick(full=10, quick=1) == 10


def test_unset_means_full_mode(monkeypatch):
    monkeypatch.delenv(quick.ENV_VAR, raising=False)
    assert quick.pick(full=25_000, quick=2_000) == 25_000


def test_a_typo_is_an_error_not_a_silent_full_run(monkeypatch):
    monkeypatch.setenv(quick.ENV_VAR, "ture")
    with pytest.raises(ValueError, match="COURSE_QUICK='ture' is not understood"):
        quick.is_quick()
