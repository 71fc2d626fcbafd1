"""Artifact files and their hashes: what a job wrote, recorded, and checked before anything reads it again.

A saved model (an MLlib PipelineModel folder, the LSTM's checkpoint) or a sequences dataset is a folder that later
runs load, and loading one runs what is in it: a PipelineModel's ``SQLTransformer`` statements run on
``transform``, and petastorm unpickles a dataset's ``_common_metadata`` when there is one. Data files must never
become code, so the job that writes an artifact records each of its files (:func:`scan`: relative path, size,
sha256) in ml.model_runs (``artifact_files``, see :mod:`ecomlake.ml.registry`): the lake's own record, not a
file beside the artifact that whoever can change the artifact could change too. Whatever reads the artifact
checks the folder against that record first (:func:`verify`): a file the job did not write, a missing file or a
changed byte refuses the read, naming the artifact, the file and how to rebuild it.

:func:`verify` reads every byte once. A process that reads the same folder again later (the LSTM's training
workers, every epoch) compares it with the verified listing instead (:func:`check_unchanged`: the same files,
sizes and modification times; one ``stat`` per file), so the cost of hashing is paid once per run, on the driver.

:func:`inside` checks that a recorded path lies inside a folder (the lake's models folder): no ``..``, no
absolute path elsewhere, no symbolic link out. Paths without a scheme are local (or mounted) paths, as in
:mod:`ecomlake.sequences.dataset`; ``hdfs://``, ``s3://`` and ``s3a://`` are read through pyarrow's file systems.

Example:
    >>> records = scan("/lake/models/kmeans_profile/20191021-3f2a9c1b")  # doctest: +SKIP
    >>> verify("/lake/models/kmeans_profile/20191021-3f2a9c1b", records, what="kmeans_profile model",
    ...        recover="re-run `ecomlake profile --date 2019-10-21`")  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import stat as stat_
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow.fs as pafs

from ecomlake.errors import ConfigError, DataQualityError, InputMissingError

CHUNK = 1 << 20  # bytes read at a time while hashing
SHOWN = 5  # file names a message lists before "and N more"


class TamperedArtifactError(DataQualityError):
    """An artifact's files are not the ones recorded when it was written: a file added, missing or changed."""


class ArtifactPathError(DataQualityError):
    """A recorded artifact path lies outside the folder it must be in (``..``, another absolute path, a symbolic link out)."""


@dataclass(frozen=True)
class FileRecord:
    """One file of an artifact as it was written: its path relative to the artifact's folder ('/'-separated), size and sha256."""

    path: str
    bytes: int
    sha256: str

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "bytes": self.bytes, "sha256": self.sha256}

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> FileRecord:
        return cls(str(raw["path"]), int(raw["bytes"]), str(raw["sha256"]))


@dataclass(frozen=True)
class FileStat:
    """One file of a verified artifact as a later check sees it without reading it: path, size and modification time."""

    path: str
    bytes: int
    mtime_ns: int

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "bytes": self.bytes, "mtime_ns": self.mtime_ns}

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> FileStat:
        return cls(str(raw["path"]), int(raw["bytes"]), int(raw["mtime_ns"]))


def is_remote(path: str) -> bool:
    """True for a URI with a scheme other than ``file:`` (``hdfs://``, ``s3a://``, ...)."""
    head = path.split("/", 1)[0]
    return ":" in head and not path.startswith("file:")


def local(path: str) -> str:
    """A local path without its ``file:`` scheme, made absolute."""
    if path.startswith("file:"):
        path = "/" + path.removeprefix("file:").lstrip("/")
    return os.path.abspath(path)


def _filesystem(path: str) -> tuple[pafs.FileSystem, str]:
    """pyarrow's file system for a remote URI and the path in it (``s3a://`` is S3 to pyarrow)."""
    uri = "s3://" + path.removeprefix("s3a://") if path.startswith("s3a://") else path
    try:
        return pafs.FileSystem.from_uri(uri)
    except ValueError as exc:  # ArrowInvalid: a scheme pyarrow has no file system for
        raise ConfigError(
            f"{path}: artifacts are hashed and checked through pyarrow's file systems, which cannot open this URI ({exc}); "
            "put lake.root on a local or mounted path, hdfs:// or s3a://"
        ) from exc


def exists(path: str) -> bool:
    """Whether a file or folder is at ``path`` (nothing is read)."""
    if not is_remote(path):
        return os.path.lexists(local(path))
    fs, inner = _filesystem(path)
    return bool(fs.get_file_info(inner).type != pafs.FileType.NotFound)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _matches(path: str, only: Sequence[str] | None) -> bool:
    """Whether a relative path is one ``only`` selects: a folder prefix ending in '/', or the file's exact path."""
    return only is None or any(path.startswith(p) if p.endswith("/") else path == p for p in only)


def _listing(root: str, only: Sequence[str] | None, what: str, recover: str) -> dict[str, FileStat]:
    """Every file under ``root`` (or under the ``only`` prefixes) by relative path; a symbolic link is refused."""
    if not exists(root):
        raise InputMissingError(f"{what}: nothing at {root}; {recover}")
    tops = [""] if only is None else list(only)
    found: dict[str, FileStat] = {}
    for top in tops:
        found.update(_local_listing(root, top, what, recover) if not is_remote(root) else _remote_listing(root, top))
    return {p: s for p, s in found.items() if _matches(p, only)}


def _local_listing(root: str, top: str, what: str, recover: str) -> dict[str, FileStat]:
    base = local(root)
    start = os.path.join(base, top) if top else base
    found: dict[str, FileStat] = {}
    if not os.path.lexists(start):
        return found
    if not os.path.isdir(start) or os.path.islink(start):
        return {top: _local_stat(base, start, what, recover)}
    for folder, dirs, files in os.walk(start, followlinks=False):
        for name in [*dirs, *files]:
            full = os.path.join(folder, name)
            if os.path.islink(full):  # a link could point anywhere, and what it points to could change after the check
                rel = os.path.relpath(full, base).replace(os.sep, "/")
                raise TamperedArtifactError(f"{what} at {root}: {rel} is a symbolic link, not a file it wrote; refusing to read it. {recover}")
        for name in files:
            full = os.path.join(folder, name)
            found[os.path.relpath(full, base).replace(os.sep, "/")] = _local_stat(base, full, what, recover)
    return found


def _local_stat(base: str, full: str, what: str, recover: str) -> FileStat:
    st = os.lstat(full)
    rel = os.path.relpath(full, base).replace(os.sep, "/")
    if not stat_.S_ISREG(st.st_mode):
        raise TamperedArtifactError(f"{what} at {base}: {rel} is not a plain file; refusing to read it. {recover}")
    return FileStat(rel, st.st_size, st.st_mtime_ns)


def _remote_listing(root: str, top: str) -> dict[str, FileStat]:
    fs, base = _filesystem(root)
    base = base.rstrip("/")
    start = f"{base}/{top}".rstrip("/") if top else base
    info = fs.get_file_info(start)
    if info.type == pafs.FileType.NotFound:
        return {}
    infos = [info] if info.type == pafs.FileType.File else fs.get_file_info(pafs.FileSelector(start, recursive=True))
    return {
        i.path[len(base) + 1 :]: FileStat(i.path[len(base) + 1 :], int(i.size), int(i.mtime_ns or 0)) for i in infos if i.type == pafs.FileType.File
    }


def _hash(root: str, rel: str) -> str:
    digest = hashlib.sha256()
    if is_remote(root):
        fs, base = _filesystem(root)
        with fs.open_input_stream(f"{base.rstrip('/')}/{rel}") as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
    else:
        # O_NOFOLLOW: a file swapped for a symbolic link after the listing is not followed.
        with open(os.path.join(local(root), rel), "rb", opener=lambda path, flags: os.open(path, flags | os.O_NOFOLLOW)) as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def scan(root: str) -> list[FileRecord]:
    """Every file under ``root`` with its size and sha256, sorted by path: what to record when the artifact is written."""
    listing = _listing(root, None, f"the artifact at {root}", "it was just written: check the folder")
    return [FileRecord(p, s.bytes, _hash(root, p)) for p, s in sorted(listing.items())]


def _names(paths: Iterable[str]) -> str:
    ordered = sorted(paths)
    more = f" and {len(ordered) - SHOWN} more" if len(ordered) > SHOWN else ""
    return ", ".join(ordered[:SHOWN]) + more


def _compare_names(root: str, expected: Iterable[str], found: Iterable[str], what: str, recover: str, source: str) -> None:
    """Refuse a file that is not expected (first: it is what could run code) or an expected file that is gone."""
    expected, found = set(expected), set(found)
    extra, missing = found - expected, expected - found
    if extra:
        raise TamperedArtifactError(
            f"{what} at {root}: {_names(extra)} {'is' if len(extra) == 1 else 'are'} not among the files {source}; "
            f"refusing to read it (a file dropped into an artifact could run code when it is loaded). {recover}"
        )
    if missing:
        are = "is" if len(missing) == 1 else "are"
        raise TamperedArtifactError(f"{what} at {root}: {_names(missing)} {are} missing (the files {source}); refusing to read it. {recover}")


def verify(
    root: str,
    recorded: Sequence[FileRecord],
    *,
    what: str,
    recover: str,
    source: str = "recorded in ml.model_runs",
    only: Sequence[str] | None = None,
) -> list[FileStat]:
    """Check that the files under ``root`` are exactly ``recorded``, byte for byte; return them as :class:`FileStat`.

    ``only`` limits the check to files under those relative prefixes (a folder ending in '/', or one file's path),
    for a reader that opens only part of the artifact. Raises TamperedArtifactError naming the first file added,
    missing or changed (``what`` names the artifact, ``recover`` says how to rebuild it, ``source`` where the
    record is), and InputMissingError when nothing is at ``root``. The listing is taken again after hashing, so
    a file changed while it was being hashed is refused too.
    """
    expected = {r.path: r for r in recorded if _matches(r.path, only)}
    listing = _listing(root, only, what, recover)
    _compare_names(root, expected, listing, what, recover, source)
    for path in sorted(listing):
        want, got = expected[path], listing[path]
        if got.bytes != want.bytes:
            raise TamperedArtifactError(
                f"{what} at {root}: {path} holds {got.bytes:,} bytes but {want.bytes:,} were written ({source}); refusing to read it. {recover}"
            )
        digest = _hash(root, path)
        if digest != want.sha256:
            raise TamperedArtifactError(
                f"{what} at {root}: {path} has sha256 {digest[:16]}... but {want.sha256[:16]}... was written ({source}): it changed "
                f"after it was written; refusing to read it. {recover}"
            )
    stats = sorted(listing.values(), key=lambda s: s.path)
    check_unchanged(root, stats, what=what, recover=recover, only=only)
    return stats


def check_unchanged(root: str, verified: Sequence[FileStat], *, what: str, recover: str, only: Sequence[str] | None = None) -> None:
    """Check, without reading any data, that the files under ``root`` are still those :func:`verify` checked.

    The same names (no file added or removed), sizes and modification times: one ``stat`` per file. ``only`` as in
    :func:`verify`. Raises TamperedArtifactError naming the file.
    """
    expected = {s.path: s for s in verified if _matches(s.path, only)}
    listing = _listing(root, only, what, recover)
    _compare_names(root, expected, listing, what, recover, "checked when the run started")
    for path, got in sorted(listing.items()):
        if (got.bytes, got.mtime_ns) != (expected[path].bytes, expected[path].mtime_ns):
            raise TamperedArtifactError(f"{what} at {root}: {path} changed after it was checked when the run started; refusing to read it. {recover}")


def check_bytes(data: bytes, record: FileRecord | None, *, what: str, where: str, recover: str) -> None:
    """Check a file read whole (``data``) against its record; refuse it when it has none or differs."""
    if record is None:
        raise TamperedArtifactError(f"{what}: {where} is not among the files recorded in ml.model_runs; refusing to load it. {recover}")
    digest = sha256_bytes(data)
    if len(data) != record.bytes or digest != record.sha256:
        raise TamperedArtifactError(
            f"{what}: {where} has sha256 {digest[:16]}... ({len(data):,} bytes) but {record.sha256[:16]}... ({record.bytes:,} bytes) was "
            f"recorded in ml.model_runs: it changed after it was written; refusing to load it. {recover}"
        )


def inside(path: str, folder: str, *, what: str, recover: str) -> str:
    """``path`` checked to lie strictly inside ``folder``; returns the path to read (a local one resolved).

    Refused (ArtifactPathError): a path holding a ``..`` segment; a local path that, with every symbolic link
    resolved, is not under ``folder`` (resolved too); a URI of another scheme or host, or not under ``folder``.

    Example:
        >>> inside("/lake/models/../etc", "/lake/models", what="a model", recover="retrain it")
        Traceback (most recent call last):
        ...
        ecomlake.artifacts.ArtifactPathError: a model: the recorded path /lake/models/../etc holds '..'; refusing to read it. retrain it
    """
    if ".." in re.split(r"[/\\]", path):
        raise ArtifactPathError(f"{what}: the recorded path {path} holds '..'; refusing to read it. {recover}")
    if is_remote(path) or is_remote(folder):
        p, f = urlsplit(path), urlsplit(folder)
        base = posixpath.normpath(f.path or "/").rstrip("/") + "/"
        ok = is_remote(path) and is_remote(folder) and (p.scheme, p.netloc) == (f.scheme, f.netloc) and posixpath.normpath(p.path).startswith(base)
        resolved = path
    else:
        resolved, base = os.path.realpath(local(path)), os.path.realpath(local(folder)).rstrip(os.sep) + os.sep
        ok = resolved.startswith(base)
    if not ok:
        raise ArtifactPathError(f"{what}: the recorded path {path} is not inside {folder}; refusing to read it. {recover}")
    return resolved


@dataclass(frozen=True)
class Verified:
    """An artifact's files as one process checked them (:func:`verify`), for other processes to check cheaply again.

    JSON-able (:meth:`as_dict`), so it travels to training workers in their spec; :meth:`check` is
    :func:`check_unchanged` on the whole artifact or one folder of it. ``what`` and ``recover`` are for the messages.
    """

    root: str
    files: tuple[FileStat, ...]
    what: str
    recover: str

    @classmethod
    def snapshot(cls, root: str, *, what: str, recover: str) -> Verified:
        """The files under ``root`` as they are now (sizes and times, nothing read): for a folder no record exists for."""
        listing = _listing(root, None, what, recover)
        return cls(root, tuple(sorted(listing.values(), key=lambda s: s.path)), what, recover)

    def check(self, part: str | os.PathLike[str] | None = None) -> None:
        """Refuse (TamperedArtifactError) when a file under ``part`` (a folder inside ``root``; default all of it) was added, removed or changed."""
        only = None
        if part is not None:
            rel = Path(os.path.relpath(local(str(part)), local(self.root))).as_posix()
            if rel == ".." or rel.startswith("../"):
                raise ValueError(f"{part} is not inside {self.root}")
            only = None if rel == "." else (rel.rstrip("/") + "/",)
        check_unchanged(self.root, self.files, what=self.what, recover=self.recover, only=only)

    def as_dict(self) -> dict[str, Any]:
        return {"root": self.root, "files": [f.as_dict() for f in self.files], "what": self.what, "recover": self.recover}

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> Verified:
        return cls(str(raw["root"]), tuple(FileStat.from_mapping(f) for f in raw["files"]), str(raw["what"]), str(raw["recover"]))


def record(root: str, path: str) -> FileRecord:
    """One file of an artifact (``path`` relative to ``root``) hashed: to record a file the run wrote."""
    listing = _listing(root, (path,), f"the artifact at {root}", "it was just written: check the folder")
    if path not in listing:
        raise InputMissingError(f"no {path} in {root}: it was just written; check the folder")
    return FileRecord(path, listing[path].bytes, _hash(root, path))
