"""Price tables (the forecasting lab), the raw IMDB reviews (the IMDB data lab) and MNIST (the row-MNIST
lab): read from a verified local file, else downloaded (here: a fake downloader) and verified; the parsed
tables hold what the files hold, the reviews' archive is extracted once, and the IDX files give Keras'
MNIST arrays."""

import hashlib

import numpy as np
import pytest

from rnncourse import data
from rnncourse.data import STOCK_FILES, DatasetError, load_prices

FAKE_CSV = (
    "Date,Open,High,Low,Close,Adj Close,Volume\n"
    "2020-01-02,1.0,2.0,0.5,1.5,1.4,100\n"
    "2020-01-03,1.5,2.5,1.0,2.0,1.9,200"  # no newline at the end, as in the seminar's file
)


@pytest.fixture
def fake_table(monkeypatch, tmp_path):
    """ "SBUX" becomes a two-day table that only a (fake) download provides; returns the URLs fetched."""
    monkeypatch.delenv(data.STOCK_DIR_ENV_VAR, raising=False)
    monkeypatch.setattr(data, "SHARED_STOCK_DIR", tmp_path / "no-shared-folder")
    blob = FAKE_CSV.encode()
    original = STOCK_FILES["SBUX"]
    monkeypatch.setitem(
        STOCK_FILES, "SBUX", data.TextFile(original.filename, hashlib.sha256(blob).hexdigest(), original.url)
    )
    calls, payload = [], [blob]

    def download(url, target):
        calls.append(url)
        target.write_bytes(payload[0])

    monkeypatch.setattr(data, "_download", download)
    return calls, payload


def test_every_table_has_a_sha256_and_a_public_url():
    assert set(STOCK_FILES) == {"SBUX", "SBUX_long"}
    for table in STOCK_FILES.values():
        assert (
            len(table.sha256) == 64 and table.url.startswith("https://") and table.filename.endswith(".csv")
        )


@pytest.mark.needs("stocks")
def test_the_shared_tables_are_the_seminars_year_and_the_whole_history():
    seminar, history = load_prices("SBUX"), load_prices("SBUX_long")
    assert len(seminar.dates) == 253 and str(seminar.dates[0]) == "2019-12-11"
    assert str(seminar.dates[-1]) == "2020-12-10"
    assert len(history.dates) == 7170 and str(history.dates[0]) == "1992-06-26"
    assert np.all(np.diff(history.dates.astype("int64")) > 0), "dates must increase"
    # on the shared days the closes are identical (the long file's volumes carry later revisions)
    shared = np.isin(history.dates, seminar.dates)
    assert shared.sum() == 253 and np.array_equal(history.close[shared], seminar.close)
    assert seminar.close[0] == pytest.approx(86.589996)
    assert np.all(seminar.low <= seminar.close) and np.all(seminar.close <= seminar.high)


def test_without_a_folder_the_table_is_downloaded_verified_and_parsed(fake_table, tmp_path):
    calls, _ = fake_table
    table = load_prices("SBUX", cache_dir=tmp_path / "cache")
    assert calls == [STOCK_FILES["SBUX"].url]
    assert table.dates.dtype == np.dtype("datetime64[D]") and list(table.close) == [1.5, 2.0]
    assert list(table.volume) == [100.0, 200.0] and list(table.adj_close) == [1.4, 1.9]
    load_prices("SBUX", cache_dir=tmp_path / "cache")
    assert len(calls) == 1, "a verified cached copy is not downloaded again"


def test_a_corrupt_download_is_refused_and_not_kept(fake_table, tmp_path):
    _, payload = fake_table
    payload[0] = FAKE_CSV.replace("2.0,1.9", "9.0,1.9").encode()
    with pytest.raises(DatasetError, match="corrupt"):
        load_prices("SBUX", cache_dir=tmp_path / "cache")
    assert not any((tmp_path / "cache").iterdir())


def test_a_corrupt_local_file_and_an_unknown_name_get_clear_errors(monkeypatch, tmp_path):
    (tmp_path / "SBUX.csv").write_text(FAKE_CSV)
    monkeypatch.setenv(data.STOCK_DIR_ENV_VAR, str(tmp_path))
    with pytest.raises(DatasetError, match="SBUX.csv is corrupt"):
        load_prices("SBUX")
    with pytest.raises(DatasetError, match="unknown price table 'AAPL'"):
        load_prices("AAPL")
    monkeypatch.setenv(data.STOCK_DIR_ENV_VAR, str(tmp_path / "missing"))
    with pytest.raises(DatasetError, match="is not a folder"):
        load_prices("SBUX")


# --------------------------------------------------------------------------------------------------
# The raw IMDB reviews (the IMDB data lab's raw-text pipeline)


def test_the_raw_reviews_archives_have_sha256s_and_stanfords_url():
    for entry in (data.IMDB_RAW_LOCAL, data.IMDB_RAW_DOWNLOAD):
        assert len(entry.sha256) == 64 and entry.filename.endswith(".tar.gz")
        assert entry.url == "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"


def tiny_archive(path, reviews: dict[str, str]) -> bytes:
    """A .tar.gz holding aclImdb/<relative path> for each review; returns its bytes."""
    import io
    import tarfile

    with tarfile.open(path, "w:gz") as archive:
        for relative, text in reviews.items():
            blob = text.encode()
            info = tarfile.TarInfo(f"aclImdb/{relative}")
            info.size = len(blob)
            archive.addfile(info, io.BytesIO(blob))
    return path.read_bytes()


REVIEWS = {
    "train/pos/0_9.txt": "A fine film.",
    "train/neg/0_1.txt": "Dull.",
    "test/pos/0_10.txt": "Superb.",
    "test/neg/0_2.txt": "Awful.",
}


def test_without_a_local_archive_stanfords_is_downloaded_verified_and_extracted_once(monkeypatch, tmp_path):
    monkeypatch.delenv(data.IMDB_RAW_DIR_ENV_VAR, raising=False)
    monkeypatch.setattr(data, "SHARED_IMDB_RAW_DIR", tmp_path / "no-shared-folder")
    blob = tiny_archive(tmp_path / "stanford.tar.gz", REVIEWS)
    original = data.IMDB_RAW_DOWNLOAD
    monkeypatch.setattr(
        data,
        "IMDB_RAW_DOWNLOAD",
        data.TextFile(original.filename, hashlib.sha256(blob).hexdigest(), original.url),
    )
    calls = []
    monkeypatch.setattr(data, "_download", lambda url, target: (calls.append(url), target.write_bytes(blob)))
    folder = data.imdb_raw_dir(cache_dir=tmp_path / "cache")
    assert calls == [original.url]
    assert (folder / "train" / "pos" / "0_9.txt").read_text() == "A fine film."
    assert sorted(p.name for p in (folder / "test").iterdir()) == ["neg", "pos"]
    (folder / "train" / "pos" / "0_9.txt").write_text("kept")
    assert data.imdb_raw_dir(cache_dir=tmp_path / "cache") == folder and len(calls) == 1
    assert (folder / "train" / "pos" / "0_9.txt").read_text() == "kept", "extracted once, not again"


def test_a_corrupt_local_archive_is_refused_by_name(monkeypatch, tmp_path):
    tiny_archive(tmp_path / data.IMDB_RAW_LOCAL.filename, REVIEWS)
    monkeypatch.setenv(data.IMDB_RAW_DIR_ENV_VAR, str(tmp_path))
    with pytest.raises(DatasetError, match="aclImdb_v1_labeled.tar.gz is corrupt"):
        data.imdb_raw_dir(cache_dir=tmp_path / "cache")


@pytest.mark.needs("imdb-raw")
def test_the_shared_archive_holds_the_official_split():
    """Read from the archive's index (extracting its 50,007 files took a minute on two cores; the
    quick book's IMDB data page extracts it with imdb_raw_dir and reads every folder)."""
    import tarfile
    from collections import Counter
    from pathlib import PurePosixPath

    counts = Counter()
    with tarfile.open(data.find_imdb_raw_dir() / data.IMDB_RAW_LOCAL.filename) as reviews:
        for member in reviews:
            parts = PurePosixPath(member.name).parts  # aclImdb/<part>/<label>/<id>_<rating>.txt
            if member.isfile() and len(parts) == 4 and parts[0] == "aclImdb" and parts[3].endswith(".txt"):
                counts[parts[1:3]] += 1
    official = {(part, label): 12_500 for part in ("train", "test") for label in ("pos", "neg")}
    assert {key: counts[key] for key in official} == official


# --------------------------------------------------------------------------------------------------
# MNIST from LeCun's IDX files (the row-MNIST lab)


def idx_file(path, array: np.ndarray, type_byte: int = 0x08, extra: bytes = b""):
    """Write ``array`` (uint8) as a gzip'd IDX file."""
    import gzip

    header = bytes([0, 0, type_byte, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes() + extra))
    return path


def test_read_idx_gives_the_array_and_refuses_a_file_whose_header_lies(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    assert np.array_equal(data.read_idx(idx_file(tmp_path / "images.gz", images)), images)
    labels = np.array([7, 2, 1], dtype=np.uint8)
    assert np.array_equal(data.read_idx(idx_file(tmp_path / "labels.gz", labels)), labels)
    with pytest.raises(DatasetError, match="header says"):
        data.read_idx(idx_file(tmp_path / "long.gz", labels, extra=b"x"))
    with pytest.raises(DatasetError, match="not a uint8 IDX file"):
        data.read_idx(idx_file(tmp_path / "float.gz", labels, type_byte=0x0D))


def test_every_mnist_file_has_a_sha256_and_a_public_url():
    assert len(data.MNIST_FILES) == 4
    for entry in data.MNIST_FILES.values():
        assert len(entry.sha256) == 64 and entry.url.startswith("https://") and entry.filename.endswith(".gz")


def test_without_a_folder_mnist_comes_from_keras_and_the_cache_is_not_written(monkeypatch, tmp_path):
    import keras

    monkeypatch.delenv(data.MNIST_DIR_ENV_VAR, raising=False)
    monkeypatch.setattr(data, "SHARED_MNIST_DIR", tmp_path / "no-shared-folder")
    arrays = ((np.zeros((1, 28, 28), np.uint8), np.zeros(1, np.uint8)),) * 2
    calls = []
    monkeypatch.setattr(keras.datasets.mnist, "load_data", lambda: (calls.append(1), arrays)[1])
    monkeypatch.setattr(data, "_download", lambda url, target: pytest.fail(f"downloaded {url}"))
    assert data.load_mnist() is arrays and calls == [1]


def test_a_corrupt_idx_file_is_refused_by_name(monkeypatch, tmp_path):
    for entry in data.MNIST_FILES.values():
        idx_file(tmp_path / entry.filename, np.zeros(3, np.uint8))
    monkeypatch.setenv(data.MNIST_DIR_ENV_VAR, str(tmp_path))
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte.gz is corrupt"):
        data.load_mnist()


@pytest.mark.needs("mnist")
def test_the_shared_idx_files_give_keras_mnist_arrays():
    (x_train, y_train), (x_test, y_test) = data.load_mnist()
    assert x_train.shape == (60_000, 28, 28) and x_test.shape == (10_000, 28, 28)
    assert x_train.dtype == np.uint8 and y_train.shape == (60_000,) and y_test.shape == (10_000,)
    assert list(y_train[:10]) == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert list(y_test[:10]) == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    scaled = x_train / 255.0
    assert scaled.mean() == pytest.approx(0.130660, abs=1e-6) and scaled.std() == pytest.approx(
        0.308108, abs=1e-6
    )
    assert np.array_equal(np.bincount(y_test), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
