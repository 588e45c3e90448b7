"""Offline data: the Keras cache is seeded from verified files, and errors say what to do."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from rnncourse import data
from rnncourse.data import KERAS_DATASET_FILES, DatasetError, seed_keras_cache, sha256_of

# The dataset folder: $COURSE_DATA_DIR, else ../shared/datasets/keras (see tests/prerequisites.py).
needs_shared_data = pytest.mark.needs("datasets")


@pytest.fixture
def source_copy(tmp_path):
    """A writable copy of the four dataset files."""
    folder = tmp_path / "source"
    folder.mkdir()
    for name in KERAS_DATASET_FILES:
        shutil.copyfile(data.find_source_dir() / name, folder / name)
    return folder


def corrupt(path):
    """Flip one byte in the middle of a file."""
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    path.write_bytes(bytes(blob))


def test_sha256_matches_hashlib(tmp_path):
    import hashlib

    sample = tmp_path / "sample.bin"
    sample.write_bytes(os.urandom(3 << 20))
    assert sha256_of(sample) == hashlib.sha256(sample.read_bytes()).hexdigest()


@needs_shared_data
def test_seeding_copies_every_file_then_reuses_the_cache(tmp_path):
    cache = tmp_path / "keras" / "datasets"
    first = seed_keras_cache(data.find_source_dir(), cache_dir=cache)
    assert sorted(first.copied) == sorted(KERAS_DATASET_FILES)
    for name, expected in KERAS_DATASET_FILES.items():
        assert sha256_of(cache / name) == expected
    second = seed_keras_cache(data.find_source_dir(), cache_dir=cache)
    assert second.copied == []
    assert sorted(second.already_cached) == sorted(KERAS_DATASET_FILES)
    assert "4 already there" in str(second)


@needs_shared_data
def test_a_corrupt_source_file_is_rejected_by_name_and_nothing_is_copied(tmp_path, source_copy):
    corrupt(source_copy / "reuters.npz")
    cache = tmp_path / "cache"
    with pytest.raises(DatasetError, match=r"reuters\.npz is corrupt") as caught:
        seed_keras_cache(source_copy, cache_dir=cache)
    assert "Replace it with an intact copy" in str(caught.value)
    assert not cache.exists() or not any(cache.iterdir())


@needs_shared_data
def test_a_missing_source_file_is_named(tmp_path, source_copy):
    (source_copy / "imdb_word_index.json").unlink()
    with pytest.raises(DatasetError, match=r"imdb_word_index\.json is missing from"):
        seed_keras_cache(source_copy, cache_dir=tmp_path / "cache")


@needs_shared_data
def test_a_corrupt_cached_file_is_replaced(tmp_path):
    cache = tmp_path / "cache"
    seed_keras_cache(data.find_source_dir(), cache_dir=cache)
    corrupt(cache / "imdb.npz")
    report = seed_keras_cache(data.find_source_dir(), cache_dir=cache)
    assert report.copied == ["imdb.npz"]
    assert sha256_of(cache / "imdb.npz") == KERAS_DATASET_FILES["imdb.npz"]


def test_course_data_dir_that_does_not_exist_is_an_error(monkeypatch, tmp_path):
    monkeypatch.setenv(data.DATA_DIR_ENV_VAR, str(tmp_path / "nowhere"))
    with pytest.raises(DatasetError, match=r"\$COURSE_DATA_DIR .* is not a folder"):
        seed_keras_cache(cache_dir=tmp_path / "cache")


@needs_shared_data
def test_course_data_dir_wins_over_the_shared_folder(monkeypatch, tmp_path, source_copy):
    monkeypatch.setenv(data.DATA_DIR_ENV_VAR, str(source_copy))
    report = seed_keras_cache(cache_dir=tmp_path / "cache")
    assert report.source == source_copy


def test_without_any_folder_keras_is_left_to_download(monkeypatch, tmp_path):
    monkeypatch.delenv(data.DATA_DIR_ENV_VAR, raising=False)
    monkeypatch.setattr(data, "SHARED_DATA_DIR", tmp_path / "no-shared-folder")
    cache = tmp_path / "cache"
    report = seed_keras_cache(cache_dir=cache)
    assert report.source is None and report.copied == []
    assert not cache.exists()
    assert "Keras will download" in str(report)


def run_python(code, env_extra=None, timeout=300):
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


NO_NETWORK = """
import socket, urllib.request

def _refuse(*args, **kwargs):
    raise AssertionError("a network connection was attempted")

socket.socket.connect = _refuse
socket.create_connection = _refuse
urllib.request.urlretrieve = _refuse
urllib.request.urlopen = _refuse
"""


@needs_shared_data
def test_real_keras_loaders_read_the_seeded_cache_without_network(tmp_path):
    code = (
        NO_NETWORK
        + """
import json, rnncourse
course = rnncourse.setup()
import keras
(x_train, y_train), (x_test, y_test) = keras.datasets.imdb.load_data(num_words=10000)
(r_train, ry_train), (r_test, ry_test) = keras.datasets.reuters.load_data(num_words=10000)
index = keras.datasets.imdb.get_word_index()
print(json.dumps({
    "imdb": [len(x_train), len(x_test)], "imdb_positive_train": int(y_train.sum()),
    "reuters": [len(r_train), len(r_test)], "reuters_topics": int(max(ry_train.max(), ry_test.max()) + 1),
    "word_index": len(index), "copied": len(course.data.copied),
}))
"""
    )
    result = run_python(code, {"KERAS_HOME": str(tmp_path / "keras_home")})
    assert result.returncode == 0, result.stderr[-3000:]
    facts = json.loads(result.stdout.strip().splitlines()[-1])
    assert facts["imdb"] == [25_000, 25_000]
    assert facts["imdb_positive_train"] == 12_500
    assert facts["reuters"] == [8_982, 2_246]
    assert facts["reuters_topics"] == 46
    assert facts["word_index"] > 80_000
    assert facts["copied"] == 4
    assert "Downloading" not in result.stdout + result.stderr


@needs_shared_data
def test_setup_with_a_corrupt_file_fails_with_one_clear_line(tmp_path, source_copy):
    corrupt(source_copy / "imdb.npz")
    result = subprocess.run(
        [sys.executable, "-m", "rnncourse", "--source", str(source_copy)],
        capture_output=True,
        text=True,
        env=dict(os.environ, KERAS_HOME=str(tmp_path / "keras_home")),
        timeout=120,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "imdb.npz is corrupt" in lines[0]
    assert "Traceback" not in result.stderr


def test_setup_keeps_stderr_silent_and_seeds_reproducibly(tmp_path):
    code = """
import rnncourse
rnncourse.setup(seed=7, with_data=False)
import keras, numpy as np
first = keras.layers.SimpleRNN(3)(np.ones((1, 4, 2), "float32"))
rnncourse.setup(seed=7, with_data=False)
second = keras.layers.SimpleRNN(3)(np.ones((1, 4, 2), "float32"))
assert np.array_equal(np.asarray(first), np.asarray(second))
print("ok")
"""
    result = run_python(code, {"KERAS_HOME": str(tmp_path / "keras_home")})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    assert result.stderr == "", f"TensorFlow wrote to stderr: {result.stderr[:500]}"
