"""Offline data: seed Keras' dataset cache from a folder of the files Keras downloads.

Chapters call the real ``keras.datasets.imdb.load_data`` and ``keras.datasets.reuters.load_data``.
Those look in ``$KERAS_HOME/datasets/`` first and download only what is missing or fails its hash.
:func:`seed_keras_cache` copies the four files there from a local folder, after checking each
file's sha256, so nothing is downloaded:

* the folder given as ``source``, else
* ``$COURSE_DATA_DIR`` if it is set, else
* ``../shared/datasets/keras`` next to the repository, if it exists.

With none of them, it does nothing and Keras downloads as usual (students on Colab).

Texts for character-level language models (:func:`load_text`) are read the same way, from
``$COURSE_TEXT_DIR`` or ``../shared/datasets/text``, else downloaded from their public URL into Keras'
cache; every file is checked against its sha256. So are the forecasting lab's price tables
(:func:`load_prices`: ``$COURSE_STOCK_DIR`` or ``../shared/datasets/stocks``) and the archive of the raw
IMDB reviews (:func:`imdb_raw_dir`: ``$COURSE_IMDB_RAW_DIR`` or ``../shared/datasets/imdb_raw``, else
Stanford's archive), which is extracted once. MNIST (:func:`load_mnist`) is read from LeCun's IDX files
(``$COURSE_MNIST_DIR`` or ``../shared/datasets/mnist_idx``), else from ``keras.datasets.mnist``.

Command line: ``python -m rnncourse [--source DIR]``.
"""

import hashlib
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

#: The files ``keras.datasets.imdb`` / ``reuters`` download, with their sha256.
KERAS_DATASET_FILES = {
    "imdb.npz": "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f",
    "imdb_word_index.json": "027313fe9a320280f3bf0fac5baf58c4a683cf39a7ed9c3d3d3912bde4284cf6",
    "reuters.npz": "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916",
    "reuters_word_index.json": "9b56000edc4b34a32e89fd5a23b2605594682c74efcf7d8f4e2a5514b771e633",
}

DATA_DIR_ENV_VAR = "COURSE_DATA_DIR"
REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA_DIR = REPO_ROOT.parent / "shared" / "datasets" / "keras"


class DatasetError(RuntimeError):
    """A dataset file is missing or corrupt; the message names the file and what to do."""


@dataclass
class SeedReport:
    """What :func:`seed_keras_cache` did."""

    source: Path | None
    cache_dir: Path
    copied: list[str] = field(default_factory=list)
    already_cached: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        """What a page prints: no folder names (they are the build machine's, not the reader's)."""
        if self.source is None:
            return "no local dataset folder: Keras will download each dataset the first time it is loaded"
        return (
            f"Keras dataset cache: {len(self.copied)} copied from the local data folder, "
            f"{len(self.already_cached)} already there"
        )

    def with_folders(self) -> str:
        """:meth:`__str__` followed by the folders (for ``python -m rnncourse``)."""
        source = self.source if self.source is not None else "(none)"
        return f"{self}\n  source: {source}\n  cache:  {self.cache_dir}"


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def keras_cache_dir() -> Path:
    """The folder Keras' ``get_file`` uses for datasets: ``$KERAS_HOME/datasets`` (default ``~/.keras``).

    Mirrors Keras' own rule, including its fall-back to ``/tmp/.keras`` when the home folder
    is not writable. If Keras is already imported, its resolved home is used.
    """
    if "keras" in sys.modules:
        from keras.src.backend import config

        home = Path(os.path.expanduser(config.keras_home()))
    elif "KERAS_HOME" in os.environ:
        home = Path(os.path.expanduser(os.environ["KERAS_HOME"]))
    else:
        base = Path(os.path.expanduser("~"))
        home = (base if os.access(base, os.W_OK) else Path("/tmp")) / ".keras"
    home.mkdir(parents=True, exist_ok=True)
    if not os.access(home, os.W_OK):
        home = Path("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir()) / ".keras"
    return home / "datasets"


def find_source_dir(source: str | os.PathLike | None = None) -> Path | None:
    """The folder to seed from: ``source``, else ``$COURSE_DATA_DIR``, else ``../shared/datasets/keras``.

    Returns None when no folder is configured and the shared one does not exist.
    Raises DatasetError when an explicitly named folder does not exist.
    """
    if source is not None:
        named, how = Path(source), "the folder you gave"
    elif os.environ.get(DATA_DIR_ENV_VAR):
        named, how = Path(os.environ[DATA_DIR_ENV_VAR]), f"${DATA_DIR_ENV_VAR}"
    elif SHARED_DATA_DIR.is_dir():
        return SHARED_DATA_DIR
    else:
        return None
    named = named.expanduser()
    if not named.is_dir():
        raise DatasetError(
            f"{how} ({named}) is not a folder. Point it at a folder holding "
            f"{', '.join(KERAS_DATASET_FILES)}, or unset {DATA_DIR_ENV_VAR} to let Keras download them."
        )
    return named


def _check_source_file(path: Path, expected: str) -> None:
    if not path.is_file():
        raise DatasetError(
            f"{path.name} is missing from {path.parent}. Copy the Keras dataset files "
            f"({', '.join(KERAS_DATASET_FILES)}) into that folder, or unset {DATA_DIR_ENV_VAR} "
            "to let Keras download them."
        )
    actual = sha256_of(path)
    if actual != expected:
        raise DatasetError(
            f"{path} is corrupt: its sha256 is {actual[:12]}..., expected {expected[:12]}.... "
            f"Replace it with an intact copy of {path.name} (the file Keras downloads), "
            "then run the cell again."
        )


def seed_keras_cache(
    source: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None
) -> SeedReport:
    """Copy the Keras dataset files into Keras' cache after verifying their sha256.

    Args:
        source: folder holding the four files; default: see :func:`find_source_dir`.
        cache_dir: where Keras looks (``$KERAS_HOME/datasets``); default :func:`keras_cache_dir`.

    Every source file is checked before anything is copied, so a corrupt folder changes
    nothing. Files already in the cache with the right hash are left alone; a cached file with
    a wrong hash is replaced. Copies are atomic (written aside, then renamed).

    Raises:
        DatasetError: a source file is missing or its sha256 does not match.
    """
    cache = Path(cache_dir) if cache_dir is not None else keras_cache_dir()
    folder = find_source_dir(source)
    report = SeedReport(source=folder, cache_dir=cache)
    if folder is None:
        return report
    for name, expected in KERAS_DATASET_FILES.items():
        _check_source_file(folder / name, expected)
    cache.mkdir(parents=True, exist_ok=True)
    for name, expected in KERAS_DATASET_FILES.items():
        target = cache / name
        if target.is_file() and sha256_of(target) == expected:
            report.already_cached.append(name)
            continue
        partial = cache / f".{name}.partial-{os.getpid()}"
        shutil.copyfile(folder / name, partial)
        os.replace(partial, target)
        report.copied.append(name)
    return report


# --- Public-domain texts for character-level language models -------------------------------------


@dataclass(frozen=True)
class TextFile:
    """A text the course reads by name: its file name, sha256 and the public URL it comes from."""

    filename: str
    sha256: str
    url: str


#: The texts :func:`load_text` knows, by name.
TEXT_FILES = {
    "timemachine": TextFile(
        "timemachine.txt",
        "8424dbd9532ac81f7e5f0b6add90e6952baea29158309d7d1bf3884f4e12c516",
        "http://d2l-data.s3-accelerate.amazonaws.com/timemachine.txt",
    ),
    "tinyshakespeare": TextFile(
        "tinyshakespeare.txt",
        "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
        "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
    ),
}
TEXT_DIR_ENV_VAR = "COURSE_TEXT_DIR"
SHARED_TEXT_DIR = REPO_ROOT.parent / "shared" / "datasets" / "text"


def _local_folder(env_var: str, shared: Path, files: list[str], what: str) -> Path | None:
    """``$env_var`` if set (it must be a folder), else ``shared`` if it exists, else None.

    Raises DatasetError naming the variable, the ``files`` it should hold and how to download ``what``.
    """
    if os.environ.get(env_var):
        folder = Path(os.environ[env_var]).expanduser()
        if not folder.is_dir():
            raise DatasetError(
                f"${env_var} ({folder}) is not a folder. Point it at a folder holding {', '.join(files)}, "
                f"or unset it to download the {what}."
            )
        return folder
    return shared if shared.is_dir() else None


def find_text_dir() -> Path | None:
    """The folder of local texts: ``$COURSE_TEXT_DIR``, else ``../shared/datasets/text`` if it exists.

    Returns None when neither is there (then :func:`text_path` downloads). Raises DatasetError when
    ``$COURSE_TEXT_DIR`` names something that is not a folder.
    """
    files = [text.filename for text in TEXT_FILES.values()]
    return _local_folder(TEXT_DIR_ENV_VAR, SHARED_TEXT_DIR, files, "texts")


def _download(url: str, target: Path) -> None:
    """Fetch ``url`` into the file ``target`` (tests replace this function: no network in tests)."""
    import urllib.request

    with urllib.request.urlopen(url, timeout=60) as response, open(target, "wb") as handle:
        shutil.copyfileobj(response, handle)


def text_path(name: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """The verified local file of text ``name`` (a key of :data:`TEXT_FILES`).

    Looks in ``$COURSE_TEXT_DIR``, else in ``../shared/datasets/text``; with neither folder, uses
    ``<cache_dir>/<file>`` (default: ``text/`` in Keras' dataset cache), downloading it from its public
    URL when it is not there or fails its hash. Every file is checked against its sha256.

    Raises:
        DatasetError: unknown name, or the file is missing, corrupt or cannot be downloaded
            (the message names the file and what to do).
    """
    if name not in TEXT_FILES:
        raise DatasetError(f"unknown text {name!r}: choose one of {', '.join(sorted(TEXT_FILES))}")
    return _verified_file(TEXT_FILES[name], find_text_dir(), TEXT_DIR_ENV_VAR, cache_dir, "text")


def _verified_file(
    entry: TextFile, folder: Path | None, env_var: str, cache_dir: str | os.PathLike | None, subdir: str
) -> Path:
    """``entry``'s file in ``folder`` (checked), or in the cache (``<Keras cache>/<subdir>`` unless
    ``cache_dir``), downloaded from its URL when missing or corrupt. Raises DatasetError."""
    if folder is not None:
        path = folder / entry.filename
        if not path.is_file():
            raise DatasetError(
                f"{entry.filename} is missing from {folder}. Download it from {entry.url} into that folder, "
                f"or unset {env_var} to let the course download it."
            )
        actual = sha256_of(path)
        if actual != entry.sha256:
            raise DatasetError(
                f"{path} is corrupt: its sha256 is {actual[:12]}..., expected {entry.sha256[:12]}.... "
                f"Replace it with an intact copy from {entry.url}, then run the cell again."
            )
        return path
    cache = Path(cache_dir) if cache_dir is not None else keras_cache_dir() / subdir
    path = cache / entry.filename
    if path.is_file() and sha256_of(path) == entry.sha256:
        return path
    cache.mkdir(parents=True, exist_ok=True)
    partial = cache / f".{entry.filename}.partial-{os.getpid()}"
    try:
        _download(entry.url, partial)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise DatasetError(
            f"could not download {entry.filename} from {entry.url} ({error}). Connect to the internet, or "
            f"put the file in a folder and point {env_var} at it."
        ) from error
    actual = sha256_of(partial)
    if actual != entry.sha256:
        partial.unlink()
        raise DatasetError(
            f"the download of {entry.filename} from {entry.url} is corrupt: its sha256 is {actual[:12]}..., "
            f"expected {entry.sha256[:12]}.... Try again, or put an intact copy in a folder and point "
            f"{env_var} at it."
        )
    os.replace(partial, path)
    return path


def load_text(name: str, cache_dir: str | os.PathLike | None = None) -> str:
    """The whole text ``name`` ("timemachine" or "tinyshakespeare") as a string, from a verified file.

    >>> text = load_text("timemachine")  # H. G. Wells, The Time Machine, as d2l.ai serves it

    See :func:`text_path` for where it is read from. Raises DatasetError as that function does.
    """
    return text_path(name, cache_dir).read_text(encoding="utf-8")


# --- Daily stock prices (the seminar's Starbucks forecaster) -----------------------------------------

#: The price tables :func:`load_prices` knows, by name (Yahoo Finance's CSV layout).
STOCK_FILES = {
    # the exact file of the seminar's source book (253 trading days, 2019-12-11 to 2020-12-10)
    "SBUX": TextFile(
        "SBUX.csv",
        "4293b10a3bc217bcc3bd02dd2032b0e1224a61c75bf943cb909aca9a65cb093c",
        "https://raw.githubusercontent.com/gilbutITbook/080289/HEAD/chap07/data/SBUX.csv",
    ),
    # the full daily history from the 1992 listing (split-adjusted), 7,170 days to 2020-12-11
    "SBUX_long": TextFile(
        "SBUX_long.csv",
        "0aab3561f0c24bb400dcedf484d704a473b9cef42d67b03189283a14ec3acb74",
        "https://raw.githubusercontent.com/Bluefin-Tuna/Yahoo-Finance-Historical-Data/HEAD/SBUX.csv",
    ),
}
STOCK_DIR_ENV_VAR = "COURSE_STOCK_DIR"
SHARED_STOCK_DIR = REPO_ROOT.parent / "shared" / "datasets" / "stocks"


def find_stock_dir() -> Path | None:
    """The folder of local price tables: ``$COURSE_STOCK_DIR``, else ``../shared/datasets/stocks``."""
    files = [table.filename for table in STOCK_FILES.values()]
    return _local_folder(STOCK_DIR_ENV_VAR, SHARED_STOCK_DIR, files, "prices")


@dataclass(frozen=True)
class PriceTable:
    """Daily prices, one entry per trading day, oldest first: ``dates`` (T,) datetime64[D], the other
    fields (T,) float64 in dollars (``volume`` in shares)."""

    dates: "np.ndarray"
    open: "np.ndarray"
    high: "np.ndarray"
    low: "np.ndarray"
    close: "np.ndarray"
    adj_close: "np.ndarray"
    volume: "np.ndarray"


def load_prices(name: str, cache_dir: str | os.PathLike | None = None) -> PriceTable:
    """The price table ``name`` ("SBUX" or "SBUX_long", see :data:`STOCK_FILES`), from a verified file.

    Read from ``$COURSE_STOCK_DIR`` or ``../shared/datasets/stocks``, else downloaded (as for
    :func:`text_path`). Raises DatasetError for an unknown name or a missing or corrupt file.
    """
    import csv

    import numpy as np

    if name not in STOCK_FILES:
        raise DatasetError(f"unknown price table {name!r}: choose one of {', '.join(sorted(STOCK_FILES))}")
    path = _verified_file(STOCK_FILES[name], find_stock_dir(), STOCK_DIR_ENV_VAR, cache_dir, "stocks")
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    number = lambda column: np.array([float(row[column]) for row in rows])  # noqa: E731
    return PriceTable(
        dates=np.array([row["Date"] for row in rows], dtype="datetime64[D]"),
        open=number("Open"),
        high=number("High"),
        low=number("Low"),
        close=number("Close"),
        adj_close=number("Adj Close"),
        volume=number("Volume"),
    )


# --- The raw IMDB reviews (aclImdb), for pipelines that start from text ---------------------------------

#: The course's copy of the Large Movie Review Dataset: the official split (train/ and test/, pos/ and neg/),
#: repacked without train/unsup. Its URL is Stanford's archive, which holds the same reviews.
IMDB_RAW_LOCAL = TextFile(
    "aclImdb_v1_labeled.tar.gz",
    "69d67dc228177f8465f7355a7ba792f8badb395005c733a140fd565027025ce9",
    "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
)
#: Stanford's archive, downloaded where no local copy is found (it also holds train/unsup).
IMDB_RAW_DOWNLOAD = TextFile(
    "aclImdb_v1.tar.gz",
    "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe",
    "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
)
IMDB_RAW_DIR_ENV_VAR = "COURSE_IMDB_RAW_DIR"
SHARED_IMDB_RAW_DIR = REPO_ROOT.parent / "shared" / "datasets" / "imdb_raw"


def find_imdb_raw_dir() -> Path | None:
    """The folder of the local archive: ``$COURSE_IMDB_RAW_DIR``, else ``../shared/datasets/imdb_raw``."""
    return _local_folder(IMDB_RAW_DIR_ENV_VAR, SHARED_IMDB_RAW_DIR, [IMDB_RAW_LOCAL.filename], "reviews")


def imdb_raw_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """The extracted ``aclImdb`` folder (``train/pos``, ``train/neg``, ``test/pos``, ``test/neg``, one review
    per file), ready for ``keras.utils.text_dataset_from_directory(folder / "train", class_names=["neg", "pos"])``.

    The archive is the verified local copy (``$COURSE_IMDB_RAW_DIR`` or ``../shared/datasets/imdb_raw``),
    else Stanford's, downloaded and verified. It is extracted once, into ``<cache_dir>`` (default:
    ``aclImdb/`` in Keras' dataset cache). Raises DatasetError for a missing or corrupt archive.
    """
    import tarfile

    folder = find_imdb_raw_dir()
    cache = Path(cache_dir) if cache_dir is not None else keras_cache_dir() / "aclImdb"
    if folder is not None:
        entry, archive = (
            IMDB_RAW_LOCAL,
            _verified_file(IMDB_RAW_LOCAL, folder, IMDB_RAW_DIR_ENV_VAR, None, ""),
        )
    else:
        entry = IMDB_RAW_DOWNLOAD
        archive = _verified_file(entry, None, IMDB_RAW_DIR_ENV_VAR, cache, "aclImdb")
    target = cache / f"extracted-{entry.sha256[:12]}"
    if not (target / "aclImdb" / "test" / "pos").is_dir():
        partial = cache / f".extracting-{os.getpid()}"
        shutil.rmtree(partial, ignore_errors=True)
        with tarfile.open(archive) as reviews:
            reviews.extractall(partial, filter="data")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(partial, target)
    return target / "aclImdb"


# --- MNIST, for reading an image row by row (the seminar's row-MNIST GRU) ----------------------------------

#: LeCun's four IDX files (gzip), byte-exact, with their sha256; the URL is PyTorch's public mirror of them.
MNIST_FILES = {
    part: TextFile(f"{part}.gz", sha256, f"https://ossci-datasets.s3.amazonaws.com/mnist/{part}.gz")
    for part, sha256 in {
        "train-images-idx3-ubyte": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    }.items()
}
MNIST_DIR_ENV_VAR = "COURSE_MNIST_DIR"
SHARED_MNIST_DIR = REPO_ROOT.parent / "shared" / "datasets" / "mnist_idx"


def find_mnist_dir() -> Path | None:
    """The folder of the IDX files: ``$COURSE_MNIST_DIR``, else ``../shared/datasets/mnist_idx``."""
    files = [entry.filename for entry in MNIST_FILES.values()]
    return _local_folder(MNIST_DIR_ENV_VAR, SHARED_MNIST_DIR, files, "digits")


def read_idx(path: str | os.PathLike) -> "np.ndarray":
    """The array in a gzip'd IDX file: uint8 images (N, 28, 28) or labels (N,).

    IDX: two zero bytes, a type byte (0x08 = uint8), the number of dimensions, one big-endian int32 per
    dimension, then the data. Raises DatasetError when the header does not match the data.
    """
    import gzip

    import numpy as np

    with gzip.open(path, "rb") as handle:
        blob = handle.read()
    if len(blob) < 4 or blob[:2] != b"\0\0" or blob[2] != 0x08:
        raise DatasetError(f"{path} is not a uint8 IDX file")
    ndim = blob[3]
    shape = tuple(int(n) for n in np.frombuffer(blob, ">i4", count=ndim, offset=4))
    offset = 4 + 4 * ndim
    if len(blob) - offset != int(np.prod(shape)):
        raise DatasetError(f"{path}: the header says {shape}, the file holds {len(blob) - offset} bytes")
    return np.frombuffer(blob, np.uint8, offset=offset).reshape(shape)


def load_mnist() -> tuple[tuple["np.ndarray", "np.ndarray"], tuple["np.ndarray", "np.ndarray"]]:
    """``(x_train, y_train), (x_test, y_test)``: uint8 (60000, 28, 28), (60000,), (10000, 28, 28), (10000,).

    The same arrays as ``keras.datasets.mnist.load_data()``. Read from the verified IDX files in
    ``$COURSE_MNIST_DIR`` or ``../shared/datasets/mnist_idx``; with neither folder, Keras downloads its own
    copy (as on Colab). Keras' cache is never written here: Keras deletes an ``mnist.npz`` whose hash is
    not its own. Raises DatasetError for a missing or corrupt file.
    """
    folder = find_mnist_dir()
    if folder is None:
        from rnncourse.quiet import import_tensorflow_quietly

        import_tensorflow_quietly()
        import keras

        return keras.datasets.mnist.load_data()
    arrays = {
        part: read_idx(_verified_file(entry, folder, MNIST_DIR_ENV_VAR, None, ""))
        for part, entry in MNIST_FILES.items()
    }
    return (arrays["train-images-idx3-ubyte"], arrays["train-labels-idx1-ubyte"]), (
        arrays["t10k-images-idx3-ubyte"],
        arrays["t10k-labels-idx1-ubyte"],
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m rnncourse [--source DIR]``: seed the cache and print what was done."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m rnncourse", description="Seed Keras' dataset cache from verified local files."
    )
    parser.add_argument("--source", help="folder holding the Keras dataset files")
    args = parser.parse_args(argv)
    try:
        print(seed_keras_cache(args.source).with_folders())
    except DatasetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0
