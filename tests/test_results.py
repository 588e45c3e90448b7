"""Lab results: one JSON file per model, kept apart by mode, read back for the comparison page."""

import json

import pytest

from rnncourse import results


@pytest.fixture
def results_home(tmp_path, monkeypatch):
    monkeypatch.setenv(results.RESULTS_DIR_ENV_VAR, str(tmp_path))
    return tmp_path


def record(lab="imdb_lab", model="LSTM(32)", test_accuracy=0.85, quick=True, dataset="IMDB"):
    return results.record_result(
        lab=lab,
        dataset=dataset,
        model=model,
        params=328353,
        seconds_per_epoch=12.5,
        epochs=4,
        best_val_accuracy=0.86,
        test_accuracy=test_accuracy,
        seed=42,
        quick=quick,
    )


def test_a_record_holds_every_field(results_home):
    path = record()
    assert path.parent == results_home / "quick" and path.suffix == ".json"
    data = json.loads(path.read_text())
    assert set(data) == set(results.FIELDS)
    assert data["params"] == 328353 and data["test_accuracy"] == 0.85 and data["mode"] == "quick"
    assert data["dataset"] == "IMDB" and data["seed"] == 42 and data["epochs"] == 4
    assert "CPU cores" in data["machine"] and data["keras_version"]
    assert not list(path.parent.glob("*partial*")), "the atomic write left a temporary file"


def test_quick_and_full_results_are_kept_apart(results_home):
    record(model="LSTM(32)", quick=True)
    record(model="GRU(32)", quick=False)
    assert [r["model"] for r in results.load_results(quick=True)] == ["LSTM(32)"]
    assert [r["model"] for r in results.load_results(quick=False)] == ["GRU(32)"]
    assert json.loads((results_home / "full" / "imdb-lab__gru-32.json").read_text())["mode"] == "full"


def test_the_mode_follows_course_quick(results_home, monkeypatch):
    monkeypatch.setenv("COURSE_QUICK", "0")
    assert record(quick=None).parent == results_home / "full"
    monkeypatch.setenv("COURSE_QUICK", "1")
    assert record(quick=None).parent == results_home / "quick"


def test_recording_a_model_again_replaces_it(results_home):
    record(test_accuracy=0.80)
    record(test_accuracy=0.90)
    (only,) = results.load_results(quick=True)
    assert only["test_accuracy"] == 0.90


def test_start_lab_removes_only_that_labs_files_in_that_mode(results_home):
    record(lab="imdb", model="old model")
    record(lab="imdb", model="kept in full", quick=False)
    record(lab="imdb_other", model="other lab")
    assert results.start_lab("imdb", quick=True) == 1
    assert [(r["lab"], r["model"]) for r in results.load_results(quick=True)] == [("imdb_other", "other lab")]
    assert [r["model"] for r in results.load_results(quick=False)] == ["kept in full"]
    assert results.start_lab("never-ran", quick=True) == 0


def test_records_are_sorted_and_missing_labs_named(results_home):
    record(lab="reuters", model="b")
    record(lab="imdb", model="z")
    record(lab="imdb", model="a")
    loaded = results.load_results(quick=True)
    assert [(r["lab"], r["model"]) for r in loaded] == [("imdb", "a"), ("imdb", "z"), ("reuters", "b")]
    assert results.missing_labs(loaded, ["imdb", "bidirectional", "reuters"]) == ["bidirectional"]


def test_no_folder_means_no_results(results_home):
    assert results.load_results(quick=False) == []
    assert "No results" in results.markdown_table([])


def test_damaged_or_foreign_files_are_skipped(results_home):
    record(model="good")
    folder = results_home / "quick"
    (folder / "broken.json").write_text("{not json")
    (folder / "partial.json").write_text(json.dumps({"lab": "x", "model": "y"}))
    full_record = json.loads((folder / "imdb-lab__good.json").read_text()) | {"mode": "full"}
    (folder / "misplaced.json").write_text(json.dumps(full_record))
    assert [r["model"] for r in results.load_results(quick=True)] == ["good"]


@pytest.mark.parametrize("bad", [86.3, -0.1])
def test_accuracies_outside_0_1_are_rejected(results_home, bad):
    with pytest.raises(ValueError, match="test_accuracy"):
        record(test_accuracy=bad)
    assert results.load_results(quick=True) == []


def test_names_are_required(results_home):
    with pytest.raises(ValueError, match="non-empty"):
        record(dataset="")


def test_markdown_table_has_one_row_per_record(results_home):
    record(lab="imdb", model="LSTM(32)")
    record(lab="reuters", model="GRU | 2", dataset="Reuters")
    table = results.markdown_table(results.load_results(quick=True)).splitlines()
    assert len(table) == 2 + 2
    assert table[0].startswith("| dataset | model |") and "test acc." in table[0]
    assert "| IMDB | LSTM(32) | imdb | 328,353 | 12.5 | 4 | 0.8600 | 0.8500 | 42 |" == table[2]
    assert table[1].count("---:") == 6
    assert table[3].startswith("| Reuters | GRU \\| 2 | reuters |"), "a | in a name must be escaped"


def test_default_folder_is_under_build_and_follows_the_mode(monkeypatch):
    monkeypatch.delenv(results.RESULTS_DIR_ENV_VAR, raising=False)
    monkeypatch.setenv("COURSE_QUICK", "0")
    assert results.results_dir() == results.REPO_ROOT / "_build" / "results" / "full"
    monkeypatch.setenv("COURSE_QUICK", "1")
    assert results.results_dir() == results.REPO_ROOT / "_build" / "results" / "quick"


def test_outside_a_checkout_results_go_to_the_working_folder(monkeypatch, tmp_path):
    monkeypatch.delenv(results.RESULTS_DIR_ENV_VAR, raising=False)
    monkeypatch.setattr(results, "REPO_ROOT", tmp_path / "site-packages")
    monkeypatch.chdir(tmp_path)
    assert results.results_dir(quick=False) == tmp_path / "rnncourse-results" / "full"
