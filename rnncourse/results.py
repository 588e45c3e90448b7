"""Record and read the results of the labs: one small JSON file per trained model.

Each lab calls :func:`record_result` after evaluating a model; the model-comparison page calls
:func:`load_results` and builds its table and chart from the files, so no number is ever typed.

Where the files live: ``$COURSE_RESULTS_DIR/<quick|full>/`` if that variable is set, else
``<repo>/_build/results/<quick|full>/`` in a checkout of the course (``_build`` is git-ignored: results
are build output, never committed), else ``./rnncourse-results/<quick|full>/`` (an installed package,
e.g. on Colab). Quick and full runs are kept apart, so a quick test run never shows up in, nor
overwrites, the full book's results. A model recorded again (same lab, same model name) replaces its
previous file, and :func:`start_lab` removes a lab's old files when the lab starts, so a renamed or
dropped model does not linger.
"""

import json
import os
import platform
import re
import time
from pathlib import Path

from rnncourse.quick import is_quick

RESULTS_DIR_ENV_VAR = "COURSE_RESULTS_DIR"
REPO_ROOT = Path(__file__).resolve().parent.parent

#: The keys of every record, in the order the comparison table shows them.
FIELDS = (
    "lab",
    "dataset",
    "model",
    "params",
    "seconds_per_epoch",
    "epochs",
    "best_val_accuracy",
    "test_accuracy",
    "seed",
    "machine",
    "keras_version",
    "mode",
    "recorded_at",
)


def mode_name(quick: bool | None = None) -> str:
    """``"quick"`` or ``"full"``; ``quick=None`` asks ``COURSE_QUICK``."""
    return "quick" if (is_quick() if quick is None else quick) else "full"


def results_dir(quick: bool | None = None) -> Path:
    """The folder holding the result files of the current (or given) mode; not created here."""
    if os.environ.get(RESULTS_DIR_ENV_VAR):
        return Path(os.environ[RESULTS_DIR_ENV_VAR]).expanduser() / mode_name(quick)
    if (REPO_ROOT / "_toc.yml").is_file():  # a checkout of the course: next to the book's build
        return REPO_ROOT / "_build" / "results" / mode_name(quick)
    return Path.cwd() / "rnncourse-results" / mode_name(quick)


def results_dir_label(quick: bool | None = None) -> str:
    """:func:`results_dir` as a page shows it: relative to the checkout or the working folder, never
    the build machine's absolute path."""
    folder = results_dir(quick)
    for base in (REPO_ROOT, Path.cwd()):
        if folder.is_relative_to(base):
            return str(folder.relative_to(base))
    return f"${RESULTS_DIR_ENV_VAR}/{mode_name(quick)}"


def machine_description() -> str:
    """A short description of the machine that ran the lab, e.g. ``"x86_64, 2 CPU cores, Linux"``."""
    processor = platform.processor() or platform.machine() or "unknown processor"
    return f"{processor}, {os.cpu_count()} CPU cores, {platform.system()}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "model"


def start_lab(lab: str, quick: bool | None = None) -> int:
    """Remove the result files ``lab`` left in the current (or given) mode; return how many.

    A lab calls it once at its start: its records then describe exactly the models of this run.
    The other labs' files, and the other mode's, are left alone.
    """
    folder = results_dir(quick)
    removed = 0
    if folder.is_dir():
        for path in folder.glob(f"{_slug(lab)}__*.json"):
            path.unlink()
            removed += 1
    return removed


def record_result(
    lab: str,
    dataset: str,
    model: str,
    params: int,
    seconds_per_epoch: float,
    epochs: int,
    best_val_accuracy: float,
    test_accuracy: float,
    seed: int,
    quick: bool | None = None,
) -> Path:
    """Write one result file ``<lab>__<model>.json`` and return its path.

    Args:
        lab: the page that trained the model, e.g. ``"imdb_bidirectional"``.
        dataset: the data it was trained and tested on, e.g. ``"IMDB"`` or ``"Reuters"``.
        model: a short model name shown in the comparison, e.g. ``"BiGRU(64)"``.
        params: ``model.count_params()``.
        seconds_per_epoch: mean wall time of one training epoch on this machine.
        epochs: epochs actually trained (after early stopping).
        best_val_accuracy, test_accuracy: in [0, 1]; the test accuracy of the evaluated model.
        seed: the seed of the run.
        quick: which mode's folder to use (default: ``COURSE_QUICK``).
    """
    import keras

    for name, value in (("best_val_accuracy", best_val_accuracy), ("test_accuracy", test_accuracy)):
        if not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value}")
    if not lab or not dataset or not model:
        raise ValueError("lab, dataset and model must be non-empty names")
    record = {
        "lab": lab,
        "dataset": dataset,
        "model": model,
        "params": int(params),
        "seconds_per_epoch": float(seconds_per_epoch),
        "epochs": int(epochs),
        "best_val_accuracy": float(best_val_accuracy),
        "test_accuracy": float(test_accuracy),
        "seed": int(seed),
        "machine": machine_description(),
        "keras_version": keras.__version__,
        "mode": mode_name(quick),
        "recorded_at": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    folder = results_dir(quick)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{_slug(lab)}__{_slug(model)}.json"
    partial = path.with_suffix(f".partial-{os.getpid()}")
    partial.write_text(json.dumps(record, indent=2), encoding="utf-8")
    os.replace(partial, path)
    return path


def load_results(quick: bool | None = None) -> list[dict]:
    """Every record of the current (or given) mode, sorted by lab then model; [] if there is none.

    Files that are not valid records (unreadable JSON, missing fields, another mode's record) are
    skipped, so one damaged file never stops the comparison page.
    """
    folder = results_dir(quick)
    if not folder.is_dir():
        return []
    mode = mode_name(quick)
    records = []
    for path in sorted(folder.glob("*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and set(FIELDS) <= set(record) and record["mode"] == mode:
            records.append(record)
    return sorted(records, key=lambda record: (record["lab"], record["model"]))


def missing_labs(records: list[dict], expected_labs) -> list[str]:
    """The labs of ``expected_labs`` that have no record in ``records``, in the given order."""
    present = {record["lab"] for record in records}
    return [lab for lab in expected_labs if lab not in present]


#: The comparison table's columns: (heading, record key, format).
TABLE_COLUMNS = (
    ("dataset", "dataset", "{}"),
    ("model", "model", "{}"),
    ("lab", "lab", "{}"),
    ("parameters", "params", "{:,}"),
    ("s / epoch", "seconds_per_epoch", "{:.1f}"),
    ("epochs", "epochs", "{:d}"),
    ("best val. acc.", "best_val_accuracy", "{:.4f}"),
    ("test acc.", "test_accuracy", "{:.4f}"),
    ("seed", "seed", "{:d}"),
)


def markdown_table(records: list[dict]) -> str:
    """The records as a Markdown table (numbers right-aligned), or a one-line note when there are none."""
    if not records:
        return "*No results recorded yet in this mode: run the labs first.*"
    heading = "| " + " | ".join(title for title, _, _ in TABLE_COLUMNS) + " |"
    rule = "| " + " | ".join("---" if fmt == "{}" else "---:" for _, _, fmt in TABLE_COLUMNS) + " |"
    rows = [
        "| " + " | ".join(fmt.format(record[key]).replace("|", "\\|") for _, key, fmt in TABLE_COLUMNS) + " |"
        for record in records
    ]
    return "\n".join([heading, rule, *rows])
