"""Quick mode: the same code path with smaller data and fewer epochs.

Set ``COURSE_QUICK=1`` (the tests and CI do) to shrink every size chosen through :func:`pick`.
The built book runs in full mode.
"""

import os

ENV_VAR = "COURSE_QUICK"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def is_quick() -> bool:
    """Return True when ``COURSE_QUICK`` asks for quick mode.

    Raises ValueError for a value that is neither true-ish nor false-ish, so that a typo
    such as ``COURSE_QUICK=ture`` does not silently start a 30-minute full run.
    """
    value = os.environ.get(ENV_VAR, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(
        f"{ENV_VAR}={os.environ[ENV_VAR]!r} is not understood: use 1 for quick mode or 0 (or unset) for full mode."
    )


def pick(full, quick):
    """Return ``full`` in full mode and ``quick`` in quick mode.

    >>> n_epochs = pick(full=10, quick=1)
    """
    return quick if is_quick() else full
