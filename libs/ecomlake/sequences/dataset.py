"""The sequences dataset on storage: Petastorm-readable Parquet per split, vocabularies and a manifest.

Layout of a dataset version (``<lake.root>/models/sequences/<version>/``, see ``ecomlake.ml.registry``)::

    train/ validation/ test/     plain Parquet, ``sequences.files_per_split`` files (row groups) each
    vocab/items/ vocab/categories/   (id, index, events): the id -> index maps the model was fed
    manifest.json                sequence length, classes, vocabulary sizes, exact rows per split

Not a Delta table: Petastorm and pyarrow read the folders directly, and a Delta log would let them
see removed files. Instead the whole version is written under a temporary name and renamed into
place at the end (Hadoop FileSystem rename, atomic on HDFS and local disks), so readers never see a
half-written dataset and a re-run replaces it whole. Sharding is per row group: each training
process reads whole row groups, so every split needs at least as many as there are processes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ecomlake.errors import InputMissingError
from ecomlake.sequences.build import NEXT_EVENT_CLASSES, SPLITS

MANIFEST = "manifest.json"
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
    manifest: dict[str, Any],
    run_id: str,
    check: Callable[[dict[str, Any]], None] = lambda manifest: None,
) -> dict[str, Any]:
    """Write ``samples`` (with ``split``) and ``vocabularies`` to ``path`` atomically; return the manifest written.

    ``manifest`` gets ``splits`` (exact rows, files, first/last anchor day and next-event class counts per split) and
    ``vocab`` sizes added. Rows are hash-partitioned (evenly, by user and anchor time) and sorted within
    files, so a re-run writes the same files. ``check`` sees the manifest before the rename; if it raises (or anything
    fails), the temporary folder is deleted and an existing version stays as it was.
    """
    tmp = f"{path}.tmp-{run_id}"
    try:
        manifest = _write(spark, samples, vocabularies, tmp, files_per_split, manifest)
        check(manifest)
    except BaseException:
        fs, p = _fs(spark, tmp)
        fs.delete(p, True)
        raise
    _replace(spark, tmp, path)
    return manifest


def _write(
    spark: SparkSession, samples: DataFrame, vocabularies: dict[str, DataFrame], tmp: str, files_per_split: int, manifest: dict[str, Any]
) -> dict[str, Any]:
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
                *[F.count(F.when(F.col("next_event") == i, True)).alias(f"next_{i}") for i in range(len(NEXT_EVENT_CLASSES))],
            ).first()
            splits[split] = {
                "rows": int(stats["rows"]),
                "files": len(written.inputFiles()),
                "first_date": str(stats["first"]) if stats["first"] else None,
                "last_date": str(stats["last"]) if stats["last"] else None,
                "next_event_counts": [int(stats[f"next_{i}"]) for i in range(len(NEXT_EVENT_CLASSES))],
            }
    finally:
        samples.unpersist()
    sizes = {}
    for name, vocab in vocabularies.items():
        vocab.coalesce(1).write.mode("overwrite").parquet(f"{tmp}/vocab/{name}")
        sizes[name] = int(spark.read.parquet(f"{tmp}/vocab/{name}").agg(F.max("index")).first()[0] or 1) + 1
    manifest = {**manifest, "splits": splits, "vocab": {"event_types": 5, **sizes}}
    _write_text(spark, f"{tmp}/{MANIFEST}", json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def read_manifest(spark: SparkSession, path: str) -> dict[str, Any]:
    """The manifest of the dataset at ``path``; InputMissingError naming the job when there is none."""
    fs, p = _fs(spark, f"{path}/{MANIFEST}")
    if not fs.exists(p):
        raise InputMissingError(f"no sequences dataset at {path} ({MANIFEST} missing); run `ecomlake sequences --date D` first")
    stream = fs.open(p)
    try:
        reader = spark._jvm.java.io.BufferedReader(spark._jvm.java.io.InputStreamReader(stream, "UTF-8"))
        return json.loads("\n".join(iter(reader.readLine, None)))
    finally:
        stream.close()


def local_path(path: str) -> str:
    """A local filesystem path for Petastorm/pyarrow readers (``file:`` URIs stripped)."""
    return path.removeprefix("file://").removeprefix("file:")


def _fs(spark: SparkSession, path: str) -> tuple[Any, Any]:
    jvm = spark._jvm
    p = jvm.org.apache.hadoop.fs.Path(path)
    return p.getFileSystem(spark._jsc.hadoopConfiguration()), p


def _write_text(spark: SparkSession, path: str, text: str) -> None:
    fs, p = _fs(spark, path)
    out = fs.create(p, True)
    try:
        out.write(bytearray(text.encode("utf-8")))
    finally:
        out.close()


def _replace(spark: SparkSession, tmp: str, path: str) -> None:
    """Move ``tmp`` to ``path``, replacing an older version of the dataset."""
    fs, target = _fs(spark, path)
    _, source = _fs(spark, tmp)
    if fs.exists(target):
        fs.delete(target, True)
    fs.mkdirs(target.getParent())
    if not fs.rename(source, target):
        raise OSError(f"could not rename {tmp} to {path}")
