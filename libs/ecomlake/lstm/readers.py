"""Batches of a sequences split for one training process: petastorm, plain pyarrow or preloaded tensors.

One interface, ``open_batches(kind, split_dir, columns, batch_size, cur_shard, shard_count, seed, epoch)``,
yields dicts of numpy arrays (``n x L`` for the sequence columns, ``n`` for the scalars) of ``batch_size`` rows
(the last one shorter). Every kind shards the same way, by Parquet row group, as petastorm 0.12.1 does:
the split's row groups are listed file by file (files sorted by path, Spark's ``_``/``.`` files skipped, row
groups in file order) and row group ``i`` goes to shard ``i % shard_count``. (petastorm shuffles that list
with ``seed`` before filtering, but it filters on the row group's index, not its position, so the seed
changes the reading order, never the membership; every epoch a shard reads the same rows.)

- ``petastorm``: ``make_batch_reader`` over the split's folder, row groups shuffled per epoch
  (``seed + epoch``), rows shuffled within a row group, re-batched to ``batch_size``.
- ``pyarrow``: the same row groups read with ``pyarrow.parquet``, the same shuffles (its own generator); the
  fallback should petastorm misbehave (it is no longer maintained).
- ``memory``: the shard's rows loaded once as tensors (the benchmark's upper bound for feeding the model).

petastorm is unmaintained and has lost rows before (0.13.1, see docs/stack.md), so nothing trusts it: the
expected rows of a shard come from the Parquet footers (``expected_rows``, no data read) and the training
loop compares each epoch's delivered rows with them, raising ``RowShortfallError``.

Nor does anything let it read a file the dataset's job did not write: petastorm 0.12.1 unpickles a split's
``_common_metadata`` when one is there, and its restricted unpickler still allows ``builtins.eval``. Before every
reader is opened, ``open_batches`` refuses a split folder holding anything but Spark's Parquet files, ``_SUCCESS``
and ``.crc`` (``check_split_folder``) and, given ``files`` (the dataset as the driver verified it against
ml.model_runs, ``ecomlake.artifacts.Verified``), any file added, removed or changed since (one stat per file).

Example:
    >>> for batch in open_batches("pyarrow", "/data/seq/train", COLUMNS, 256, cur_shard=0, shard_count=2, seed=42, epoch=1):  # doctest: +SKIP
    ...     batch["items"].shape
    (256, 20)
"""

from __future__ import annotations

import contextlib
import random
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from numpy.typing import NDArray

from ecomlake.artifacts import TamperedArtifactError, Verified
from ecomlake.errors import ConfigError, DataQualityError, InputMissingError

Batch = dict[str, NDArray[Any]]
READER_KINDS = ("petastorm", "pyarrow", "memory")
PETASTORM_WORKERS = 1  # reader threads per process: 1 keeps the order reproducible, and the machine has 2 cores for 2 trainers


class RowShortfallError(DataQualityError):
    """A reader delivered a different number of rows than the shard's Parquet footers hold."""

    def __init__(self, split_dir: str, cur_shard: int, shard_count: int, expected: int, delivered: int, kind: str = "") -> None:
        self.split_dir, self.cur_shard, self.shard_count = str(split_dir), cur_shard, shard_count
        self.expected, self.delivered, self.kind = expected, delivered, kind
        reader = f"the {kind} reader" if kind else "the reader"
        super().__init__(
            f"{split_dir}: shard {cur_shard} of {shard_count} should hold {expected} rows (Parquet footers) but {reader} "
            f"delivered {delivered}; the model would train on the wrong data. Re-run; if it persists, set lstm.reader=pyarrow "
            "and check the split's files."
        )

    def __reduce__(self) -> tuple[type[RowShortfallError], tuple[Any, ...]]:  # keeps the fields when pickled across processes
        return (type(self), (self.split_dir, self.cur_shard, self.shard_count, self.expected, self.delivered, self.kind))


class EmptyShardError(ConfigError):
    """A split has fewer row groups than training processes: some process would get no rows."""


@dataclass(frozen=True)
class RowGroup:
    """One Parquet row group of a split: its file, index in the file and row count."""

    path: str
    index: int
    rows: int


def _is_data_file(path: Path) -> bool:
    """What petastorm's (legacy pyarrow) dataset listing keeps: no hidden/underscore files, checksums or S3 folder markers."""
    name = path.name
    return path.is_file() and not (name.startswith(("_", ".")) or name.endswith((".crc", "_$folder$")))


def check_split_folder(split_dir: str | Path) -> None:
    """Refuse (TamperedArtifactError) a split folder holding anything but Parquet data files, ``_SUCCESS`` and ``.crc`` checksums.

    Names only (one listing, nothing read): what ``ecomlake sequences`` (Spark) writes. Anything else, a
    ``_common_metadata`` or ``_metadata`` file above all (petastorm reads them as metadata, unpickling what they hold),
    a sub-folder or a symbolic link, is not the job's.
    """
    folder = Path(split_dir)
    if not folder.is_dir():
        return  # split_files says a split is missing
    odd = sorted(p.name for p in folder.iterdir() if p.is_symlink() or not p.is_file() or not _written_by_spark(p.name))
    if odd:
        raise TamperedArtifactError(
            f"sequences split {folder}: {', '.join(odd)} {'is' if len(odd) == 1 else 'are'} not a file `ecomlake sequences` writes (Parquet "
            "data, _SUCCESS, .crc); refusing to read the split (petastorm would unpickle a _common_metadata file). Delete the dataset "
            "folder and re-run `ecomlake sequences --date D` for its date."
        )


def _written_by_spark(name: str) -> bool:
    return name == "_SUCCESS" or (name.startswith(".") and name.endswith(".crc")) or (name.endswith(".parquet") and not name.startswith(("_", ".")))


def split_files(split_dir: str | Path) -> list[Path]:
    """The split's Parquet files, sorted by path (the order petastorm numbers row groups in)."""
    folder = Path(split_dir)
    if not folder.is_dir():
        raise InputMissingError(f"no split folder {folder}; build the sequences dataset first (ecomlake sequences)")
    return sorted((p for p in folder.iterdir() if _is_data_file(p)), key=str)


def row_groups(split_dir: str | Path) -> list[RowGroup]:
    """Every row group of the split in petastorm's order, read from the footers only."""
    groups: list[RowGroup] = []
    for path in split_files(split_dir):
        meta = pq.read_metadata(path)
        groups.extend(RowGroup(str(path), i, meta.row_group(i).num_rows) for i in range(meta.num_row_groups))
    return groups


def shard_row_groups(split_dir: str | Path, cur_shard: int, shard_count: int) -> list[RowGroup]:
    """The row groups shard ``cur_shard`` of ``shard_count`` reads: those at positions ``i % shard_count == cur_shard``."""
    _check_shard(cur_shard, shard_count)
    return [g for i, g in enumerate(row_groups(split_dir)) if i % shard_count == cur_shard]


def expected_rows(split_dir: str | Path, cur_shard: int, shard_count: int) -> int:
    """Rows in the shard, from the Parquet footers (no data read)."""
    return sum(g.rows for g in shard_row_groups(split_dir, cur_shard, shard_count))


def rows_per_shard(split_dir: str | Path, shard_count: int) -> list[int]:
    """Expected rows of every shard (one pass over the footers); raises EmptyShardError if any shard has none."""
    groups = row_groups(split_dir)
    rows = [sum(g.rows for g in groups[s::shard_count]) for s in range(shard_count)]
    if any(r == 0 for r in rows):
        raise EmptyShardError(
            f"{split_dir} has {len(groups)} row groups ({sum(rows)} rows) for {shard_count} training processes, so shard(s) "
            f"{[s for s, r in enumerate(rows) if r == 0]} would read nothing: each process reads whole row groups. Rebuild the "
            f"dataset with sequences.files_per_split >= {shard_count} (a multiple of it balances the processes), or lower lstm.num_proc."
        )
    return rows


def check_delivered(split_dir: str | Path, cur_shard: int, shard_count: int, expected: int, delivered: int, kind: str = "") -> None:
    """Raise RowShortfallError unless ``delivered == expected``."""
    if delivered != expected:
        raise RowShortfallError(str(split_dir), cur_shard, shard_count, expected, delivered, kind)


def _check_shard(cur_shard: int, shard_count: int) -> None:
    if shard_count < 1 or not 0 <= cur_shard < shard_count:
        raise ValueError(f"cur_shard must be in [0, shard_count), got {cur_shard} of {shard_count}")


def _column_to_numpy(column: pa.ChunkedArray, name: str) -> NDArray[Any]:
    """A column as numpy: lists of equal length become an n x L matrix (a ragged list is a data error)."""
    if not pa.types.is_list(column.type) and not pa.types.is_large_list(column.type):
        return column.to_numpy()
    array = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    n = len(array)
    if n == 0:
        return np.zeros((0, 0), dtype=array.type.value_type.to_pandas_dtype())
    lengths = pc.list_value_length(array)
    width = pc.min_max(lengths)
    lo, hi = width["min"].as_py(), width["max"].as_py()
    if lo != hi or array.null_count:
        raise DataQualityError(f"column {name} holds lists of {lo}..{hi} values (or nulls); every sequence must be padded to the same length")
    return array.flatten().to_numpy(zero_copy_only=False).reshape(n, hi)


def _table_batch(table: pa.Table, columns: Sequence[str]) -> Batch:
    return {c: _column_to_numpy(table.column(c), c) for c in columns}


def _rebatch(chunks: Iterable[Batch], batch_size: int) -> Iterator[Batch]:
    """Re-cut chunks (one per row group) into batches of exactly ``batch_size`` rows, the last one shorter."""
    pending: list[Batch] = []
    pending_rows = 0
    for chunk in chunks:
        n = len(next(iter(chunk.values())))
        if n == 0:
            continue
        pending.append(chunk)
        pending_rows += n
        if pending_rows < batch_size:
            continue
        merged = pending[0] if len(pending) == 1 else {k: np.concatenate([p[k] for p in pending]) for k in chunk}
        start = 0
        while pending_rows - start >= batch_size:
            yield {k: v[start : start + batch_size] for k, v in merged.items()}
            start += batch_size
        pending_rows -= start
        pending = [{k: v[start:] for k, v in merged.items()}] if pending_rows else []
    if pending_rows:
        yield pending[0] if len(pending) == 1 else {k: np.concatenate([p[k] for p in pending]) for k in pending[0]}


@contextlib.contextmanager
def _quiet_petastorm() -> Iterator[None]:
    """Silence what petastorm 0.12.1 + pyarrow 14 warn on every reader (legacy dataset API, unclosed files), here only."""
    with warnings.catch_warnings():
        for category in (FutureWarning, DeprecationWarning, ResourceWarning):
            warnings.simplefilter("ignore", category)
        yield


def _petastorm_chunks(split_dir: str, columns: Sequence[str], cur_shard: int, shard_count: int, seed: int, shuffle: bool) -> Iterator[Batch]:
    check_split_folder(split_dir)  # again, right before petastorm lists the folder: nothing of it is unpickled unchecked
    from petastorm import make_batch_reader

    # Its worker threads warn too, sometimes while the consumer is outside _quiet_petastorm: ignore the
    # warnings raised from petastorm's own lines (and only those) for the rest of the process.
    for category in (FutureWarning, DeprecationWarning, ResourceWarning):  # ResourceWarning: its workers leave files open
        warnings.filterwarnings("ignore", category=category, module=r"petastorm\.")
    with _quiet_petastorm():
        reader = make_batch_reader(
            "file://" + str(Path(split_dir).resolve()),
            schema_fields=list(columns),
            cur_shard=cur_shard,
            shard_count=shard_count,
            num_epochs=1,
            shuffle_row_groups=shuffle,
            shuffle_rows=shuffle,
            seed=seed,
            workers_count=PETASTORM_WORKERS,
        )
    try:
        while True:
            with _quiet_petastorm():
                try:
                    chunk = next(reader)
                except StopIteration:
                    return
            yield {c: getattr(chunk, c) for c in columns}
    finally:
        with _quiet_petastorm():
            reader.stop()
            reader.join()


def _pyarrow_chunks(split_dir: str, columns: Sequence[str], cur_shard: int, shard_count: int, seed: int, shuffle: bool) -> Iterator[Batch]:
    groups = shard_row_groups(split_dir, cur_shard, shard_count)
    if shuffle:
        random.Random(seed).shuffle(groups)
    rng = np.random.RandomState(seed)
    files: dict[str, pq.ParquetFile] = {}
    try:
        for g in groups:
            if g.path not in files:
                files[g.path] = pq.ParquetFile(g.path)
            table = files[g.path].read_row_group(g.index, columns=list(columns))
            if shuffle:
                table = table.take(pa.array(rng.permutation(table.num_rows)))
            yield _table_batch(table, columns)
    finally:
        for f in files.values():
            f.close()


class MemoryShard:
    """A shard's rows held as tensors (ids int64, numbers float32), loaded once with the pyarrow reader."""

    def __init__(self, split_dir: str | Path, columns: Sequence[str], cur_shard: int, shard_count: int) -> None:
        import torch

        from ecomlake.lstm.model import to_tensors

        chunks = list(_pyarrow_chunks(str(split_dir), columns, cur_shard, shard_count, seed=0, shuffle=False))
        merged = {c: np.concatenate([ch[c] for ch in chunks]) for c in columns} if chunks else {}
        self.columns = tuple(columns)
        self.tensors = to_tensors(merged) if merged else {c: torch.zeros(0) for c in columns}
        self.rows = int(len(self.tensors[self.columns[0]]))

    def batches(self, batch_size: int, seed: int, shuffle: bool = True) -> Iterator[dict[str, Any]]:
        """Batches of tensors (a fresh permutation per ``seed``)."""
        import torch

        order = torch.randperm(self.rows, generator=torch.Generator().manual_seed(seed)) if shuffle else torch.arange(self.rows)
        for start in range(0, self.rows, batch_size):
            idx = order[start : start + batch_size]
            yield {c: t[idx] for c, t in self.tensors.items()}


def open_batches(
    kind: str,
    split_dir: str | Path,
    columns: Sequence[str],
    batch_size: int,
    cur_shard: int,
    shard_count: int,
    seed: int,
    epoch: int,
    *,
    shuffle: bool = True,
    files: Verified | None = None,
) -> Iterator[Batch]:
    """Batches of ``batch_size`` rows (the last one shorter) of shard ``cur_shard`` of ``shard_count``, read by ``kind``.

    The reading order depends on ``seed + epoch`` (row groups and rows within them are shuffled when ``shuffle``);
    the set of rows does not. Only ``columns`` are read. The ``memory`` kind yields torch tensors.
    Before anything is opened, the split folder is checked (TamperedArtifactError): its names (``check_split_folder``)
    and, with ``files`` (the dataset's files as verified against ml.model_runs), every file's size and time.
    """
    if kind not in READER_KINDS:
        raise ValueError(f"reader kind must be one of {READER_KINDS}, got {kind!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    _check_shard(cur_shard, shard_count)
    if files is not None:
        files.check(split_dir)
    check_split_folder(split_dir)
    split_dir = str(split_dir)
    if kind == "memory":
        return MemoryShard(split_dir, columns, cur_shard, shard_count).batches(batch_size, seed + epoch, shuffle)
    chunks = _petastorm_chunks if kind == "petastorm" else _pyarrow_chunks
    return _rebatch(chunks(split_dir, columns, cur_shard, shard_count, seed + epoch, shuffle), batch_size)
