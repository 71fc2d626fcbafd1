"""The sequences dataset on storage: Petastorm-readable Parquet per split, vocabularies and a manifest.

Layout of a dataset version (``<lake.root>/models/sequences/<version>/``, see ``ecomlake.ml.registry``)::

    train/ validation/ test/     plain Parquet, ``sequences.files_per_split`` files (row groups) each
    vocab/items/ vocab/categories/   (id, index, events): the id -> index maps the model was fed
    _manifest/                   sequence length, event types and classes, vocabulary sizes, exact rows per split (ecomlake.manifest)

Every file of the version (relative path, size, sha256; Spark's ``_SUCCESS`` and ``.crc`` files too) is hashed
before the rename and recorded in the dataset's ml.model_runs row (``artifact_files``): the lake's record, which
whoever can write the folder cannot rewrite with it. Readers check the folder against it before anything opens
it (``ecomlake.ml.registry.checked_artifact``): petastorm unpickles a split's ``_common_metadata`` when there is
one, so a file the job did not write must never be read. Whatever reads a split checks its names too
(``ecomlake.lstm.readers.check_split_folder``): only what Spark writes.

Not a Delta table: Petastorm and pyarrow read the folders directly, and a Delta log would let them
see removed files. Instead the whole version is written under a temporary name and renamed into
place at the end (atomic on local disks and HDFS), so readers never see a half-written dataset and a
re-run replaces it whole. The rename goes through pyarrow's file systems, the layer the training
readers read the dataset through: the dataset lives where the training processes read files (a local
or mounted disk, or HDFS). Sharding is per row group: each training process reads whole row groups, so
every split needs at least as many as there are processes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypedDict

import pyarrow.fs as pafs
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ecomlake import artifacts
from ecomlake.artifacts import FileRecord
from ecomlake.manifest import write_manifest
from ecomlake.vocabulary import SPLITS


class SplitSummary(TypedDict):
    """What one split of a dataset holds (a manifest's ``splits[<split>]``)."""

    rows: int
    files: int
    first_date: str | None
    last_date: str | None
    next_event_counts: list[int]  # per next-event class, in the manifest's next_event_classes order


class Manifest(TypedDict):
    """A sequences dataset's manifest: what the training readers check what they deliver against."""

    dataset_version: str
    run_date: str
    sequence_length: int
    unit: str
    event_types: list[str]  # the event vocabulary in id order (id = position + 1; 0 is padding)
    next_event_classes: list[str]  # event_types, then exit: next_event is an index into it
    split_days: dict[str, str]
    label_horizon_days: int
    config: dict[str, Any]
    splits: dict[str, SplitSummary]
    vocab: dict[str, int]  # sizes (ids 0..size-1): event_types (len(event_types) + 1), items, categories


DATASET = "sequences"  # the datasets' name in ml.model_runs and under <lake.root>/models/

# The columns of a split's Parquet files, in order (see ecomlake.lstm for what reads them).
COLUMNS = (
    "user_id", "anchor_time", "anchor_date", "session_id", "length",
    "event_types", "items", "categories", "prices", "gaps",
    "next_event", "purchase_label", "churn_label",
)  # fmt: skip


def write_dataset(
    spark: SparkSession,
    samples: DataFrame,
    vocabularies: dict[str, DataFrame],
    path: str,
    files_per_split: int,
    header: dict[str, Any],
    run_id: str,
    check: Callable[[Manifest], None] = lambda manifest: None,
) -> tuple[Manifest, list[FileRecord]]:
    """Write ``samples`` (with ``split``) and ``vocabularies`` to ``path`` atomically; return the manifest and the files written.

    The manifest is ``header`` (with ``event_types`` and ``next_event_classes``) with ``splits`` (exact rows, files, first/last
    anchor day and next-event class counts per split) and ``vocab`` sizes added. Rows are hash-partitioned (evenly, by user
    and anchor time) and sorted within files, so a re-run writes the same files. ``check`` sees the manifest before the
    rename; if it raises (or anything fails), the temporary folder is deleted and an existing version stays as it was.
    The files (every one, relative to ``path``, with its size and sha256) are what to record in ml.model_runs.
    """
    tmp = f"{path}.tmp-{run_id}"
    try:
        manifest = _write(spark, samples, vocabularies, tmp, files_per_split, header)
        check(manifest)
        files = artifacts.scan(tmp)  # before the rename: a file that appears in the folder after it is not recorded
    except BaseException:
        fs, p = pafs.FileSystem.from_uri(tmp)
        fs.delete_dir(p)
        raise
    _replace(tmp, path)
    return manifest, files


def _write(
    spark: SparkSession, samples: DataFrame, vocabularies: dict[str, DataFrame], tmp: str, files_per_split: int, header: dict[str, Any]
) -> Manifest:
    classes = len(header["next_event_classes"])
    samples = samples.persist(StorageLevel.MEMORY_AND_DISK)  # read once per split
    try:
        splits = {}
        for split in SPLITS:
            rows = samples.where(F.col("split") == split).select(*COLUMNS)
            (
                rows.repartition(files_per_split, "user_id", "anchor_time")  # even files: a shard's steps are bounded by the smallest
                .sortWithinPartitions("user_id", "anchor_time", "session_id")
                .write.mode("overwrite")
                .parquet(f"{tmp}/{split}")
            )
            written = spark.read.parquet(f"{tmp}/{split}")
            stats = written.agg(
                F.count(F.lit(1)).alias("rows"),
                F.min("anchor_date").alias("first"),
                F.max("anchor_date").alias("last"),
                *[F.count(F.when(F.col("next_event") == i, True)).alias(f"next_{i}") for i in range(classes)],
            ).collect()[0]  # an aggregate: one row
            splits[split] = {
                "rows": int(stats["rows"]),
                "files": len(written.inputFiles()),
                "first_date": str(stats["first"]) if stats["first"] else None,
                "last_date": str(stats["last"]) if stats["last"] else None,
                "next_event_counts": [int(stats[f"next_{i}"]) for i in range(classes)],
            }
    finally:
        samples.unpersist()
    sizes = {}
    for name, vocab in vocabularies.items():
        vocab.coalesce(1).write.mode("overwrite").parquet(f"{tmp}/vocab/{name}")
        sizes[name] = int(spark.read.parquet(f"{tmp}/vocab/{name}").agg(F.max("index")).collect()[0][0] or 1) + 1
    sizes = {"event_types": len(header["event_types"]) + 1, **sizes}  # ids 1..N of the event vocabulary, 0 padding
    # The header's keys are the rest of Manifest's (sequences.job builds it); mypy cannot see through the ** of a dict.
    result: Manifest = {**header, "splits": splits, "vocab": sizes}  # type: ignore[typeddict-item]
    write_manifest(tmp, result, spark)
    return result


def local_path(path: str) -> str:
    """A local filesystem path for Petastorm/pyarrow readers (``file:`` URIs stripped)."""
    return path.removeprefix("file://").removeprefix("file:")


def _replace(tmp: str, path: str) -> None:
    """Move ``tmp`` to ``path``, replacing an older version of the dataset."""
    fs, target = pafs.FileSystem.from_uri(path)
    _, source = pafs.FileSystem.from_uri(tmp)
    if fs.get_file_info(target).type != pafs.FileType.NotFound:
        fs.delete_dir(target)
    fs.create_dir(target.rsplit("/", 1)[0], recursive=True)
    fs.move(source, target)
