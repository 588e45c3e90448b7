"""Texts for language models: read from a verified local file, else downloaded (here: a fake downloader)
into Keras' cache and verified; a missing or corrupt file is a DatasetError that names it."""

import hashlib

import pytest

from rnncourse import data, load_text
from rnncourse.data import TEXT_FILES, DatasetError, sha256_of, text_path

# The text folder: $COURSE_TEXT_DIR, else ../shared/datasets/text (see tests/prerequisites.py).
needs_texts = pytest.mark.needs("texts")
FAKE_TEXT = "The Time Traveller (for so it will be convenient to speak of him)\n"


@pytest.fixture
def no_local_folder(monkeypatch, tmp_path):
    """Neither $COURSE_TEXT_DIR nor the shared folder: text_path must download."""
    monkeypatch.delenv(data.TEXT_DIR_ENV_VAR, raising=False)
    monkeypatch.setattr(data, "SHARED_TEXT_DIR", tmp_path / "no-shared-folder")


@pytest.fixture
def fake_timemachine(monkeypatch):
    """Make "timemachine" a small text whose sha256 the registry expects; returns its bytes."""
    blob = FAKE_TEXT.encode()
    original = TEXT_FILES["timemachine"]
    fake = data.TextFile(original.filename, hashlib.sha256(blob).hexdigest(), original.url)
    monkeypatch.setitem(TEXT_FILES, "timemachine", fake)
    return blob


@pytest.fixture
def fake_downloads(monkeypatch):
    """Replace the downloader: records each URL and writes ``payload[0]`` (or raises it if an exception)."""
    calls, payload = [], [b""]

    def download(url, target):
        calls.append(url)
        if isinstance(payload[0], Exception):
            raise payload[0]
        target.write_bytes(payload[0])

    monkeypatch.setattr(data, "_download", download)
    return calls, payload


def test_every_text_has_a_sha256_and_a_public_url():
    assert set(TEXT_FILES) == {"timemachine", "tinyshakespeare"}
    for text in TEXT_FILES.values():
        assert len(text.sha256) == 64 and int(text.sha256, 16) >= 0
        assert text.url.startswith(("http://", "https://")) and text.filename.endswith(".txt")


@needs_texts
@pytest.mark.parametrize(
    ("name", "n_chars", "start"),
    [
        ("timemachine", 178_979, "The Time Machine, by H. G. Wells"),
        ("tinyshakespeare", 1_115_394, "First Citizen:"),
    ],
)
def test_the_shared_folder_gives_the_verified_texts(name, n_chars, start, fake_downloads):
    calls, _ = fake_downloads
    text = load_text(name)
    assert len(text) == n_chars and text.startswith(start)
    assert sha256_of(text_path(name)) == TEXT_FILES[name].sha256
    assert calls == [], "a local text must not be downloaded"


def test_course_text_dir_is_read_first(monkeypatch, tmp_path, fake_timemachine, fake_downloads):
    (tmp_path / "timemachine.txt").write_bytes(fake_timemachine)
    monkeypatch.setenv(data.TEXT_DIR_ENV_VAR, str(tmp_path))
    assert load_text("timemachine") == FAKE_TEXT
    assert text_path("timemachine") == tmp_path / "timemachine.txt"
    assert fake_downloads[0] == []


def test_a_corrupt_local_text_is_named_with_what_to_do(monkeypatch, tmp_path, fake_timemachine):
    (tmp_path / "timemachine.txt").write_bytes(fake_timemachine.replace(b"Time", b"Tame"))
    monkeypatch.setenv(data.TEXT_DIR_ENV_VAR, str(tmp_path))
    with pytest.raises(DatasetError, match=r"timemachine\.txt is corrupt") as caught:
        load_text("timemachine")
    assert "Replace it with an intact copy from http" in str(caught.value)


def test_a_missing_local_text_is_named_with_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setenv(data.TEXT_DIR_ENV_VAR, str(tmp_path))
    with pytest.raises(DatasetError, match=r"tinyshakespeare\.txt is missing from") as caught:
        load_text("tinyshakespeare")
    assert TEXT_FILES["tinyshakespeare"].url in str(caught.value)


def test_a_text_dir_that_is_not_a_folder_is_an_error(monkeypatch, tmp_path):
    monkeypatch.setenv(data.TEXT_DIR_ENV_VAR, str(tmp_path / "nowhere"))
    with pytest.raises(DatasetError, match=r"\$COURSE_TEXT_DIR .* is not a folder"):
        load_text("timemachine")


def test_an_unknown_name_lists_the_known_ones():
    with pytest.raises(DatasetError, match=r"unknown text 'war_and_peace'.*timemachine, tinyshakespeare"):
        load_text("war_and_peace")


def test_without_a_local_folder_the_text_is_downloaded_once_into_the_cache(
    tmp_path, no_local_folder, fake_timemachine, fake_downloads
):
    calls, payload = fake_downloads
    payload[0] = fake_timemachine
    cache = tmp_path / "cache"
    assert load_text("timemachine", cache_dir=cache) == FAKE_TEXT
    assert calls == [TEXT_FILES["timemachine"].url]
    assert sorted(p.name for p in cache.iterdir()) == ["timemachine.txt"]
    assert load_text("timemachine", cache_dir=cache) == FAKE_TEXT
    assert len(calls) == 1, "a verified cached copy must be reused"


def test_the_default_cache_is_inside_the_keras_cache(
    monkeypatch, tmp_path, no_local_folder, fake_timemachine, fake_downloads
):
    monkeypatch.setattr(data, "keras_cache_dir", lambda: tmp_path / "keras" / "datasets")
    fake_downloads[1][0] = fake_timemachine
    assert text_path("timemachine") == tmp_path / "keras" / "datasets" / "text" / "timemachine.txt"


def test_a_corrupt_cached_copy_is_downloaded_again(
    tmp_path, no_local_folder, fake_timemachine, fake_downloads
):
    calls, payload = fake_downloads
    payload[0] = fake_timemachine
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "timemachine.txt").write_bytes(b"truncated")
    assert load_text("timemachine", cache_dir=cache) == FAKE_TEXT
    assert len(calls) == 1


def test_a_corrupt_download_is_rejected_and_nothing_is_kept(
    tmp_path, no_local_folder, fake_timemachine, fake_downloads
):
    fake_downloads[1][0] = b"<html>Access denied</html>"
    cache = tmp_path / "cache"
    with pytest.raises(DatasetError, match=r"download of timemachine\.txt .* is corrupt"):
        load_text("timemachine", cache_dir=cache)
    assert list(cache.iterdir()) == []


def test_a_failed_download_says_what_to_do(tmp_path, no_local_folder, fake_downloads):
    fake_downloads[1][0] = OSError("Name or service not known")
    cache = tmp_path / "cache"
    with pytest.raises(DatasetError, match=r"could not download tinyshakespeare\.txt from https") as caught:
        load_text("tinyshakespeare", cache_dir=cache)
    assert "COURSE_TEXT_DIR" in str(caught.value) and "Name or service not known" in str(caught.value)
    assert list(cache.iterdir()) == []
