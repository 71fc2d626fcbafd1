"""Manifests: the JSON document written beside a generated data set or a sequences dataset, saying exactly what it holds.

One format and one reader. A manifest is the folder ``<data folder>/_manifest/`` holding one JSON text
file, written with Spark's public text writer so it lands on any file system Spark writes to (local,
HDFS, S3); Spark's file readers skip folders starting with ``_``, so it never mixes with the data.
:func:`read_manifest` reads it back through Spark when given a session, and as a local folder without
one (the LSTM's training processes, which read their dataset from a local or mounted path).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ecomlake.errors import InputMissingError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

MANIFEST_DIR = "_manifest"


def write_manifest(folder: str, manifest: Mapping[str, Any], spark: SparkSession | None = None) -> None:
    """Write ``manifest`` as ``<folder>/_manifest/`` (one JSON document), replacing an older one.

    With ``spark``, through Spark's text writer (any file system); without, into a local folder, in the same form.
    """
    doc = json.dumps(manifest, sort_keys=True, default=str)
    if spark is not None:
        spark.createDataFrame([(doc,)], "value string").coalesce(1).write.mode("overwrite").text(f"{folder}/{MANIFEST_DIR}")
        return
    local = _local(folder)
    local.mkdir(parents=True, exist_ok=True)
    for old in local.glob("part-*"):
        old.unlink()
    (local / "part-00000.txt").write_text(doc + "\n")


def read_manifest(folder: str, spark: SparkSession | None = None, written_by: str | None = None) -> dict[str, Any]:
    """The manifest of the data at ``folder``; InputMissingError naming the folder (and the job ``written_by``) when there is none.

    With ``spark``, any file system Spark reads; without, ``folder`` is a local path (``file:`` URIs too).
    """
    advice = f"run `ecomlake {written_by}` to write it" if written_by else "the job that writes the data writes it last"
    if spark is None:
        local = _local(folder)
        parts = sorted(local.glob("part-*")) if local.is_dir() else []
        if not parts:
            raise InputMissingError(f"no manifest at {local}: the data there is incomplete or missing; {advice}")
        return _parse("".join(p.read_text() for p in parts), local)
    from pyspark.errors import AnalysisException

    try:
        rows = spark.read.text(f"{folder}/{MANIFEST_DIR}", wholetext=True).collect()  # one small JSON document
    except AnalysisException as exc:
        raise InputMissingError(f"no manifest at {folder}/{MANIFEST_DIR}: the data there is incomplete or missing; {advice}") from exc
    return _parse("".join(r.value for r in rows), f"{folder}/{MANIFEST_DIR}")


def _local(folder: str) -> Path:
    return Path(folder.removeprefix("file://").removeprefix("file:")) / MANIFEST_DIR


def _parse(text: str, where: object) -> dict[str, Any]:
    manifest = json.loads(text)
    if not isinstance(manifest, dict):
        raise InputMissingError(f"{where}: not a manifest (expected a JSON object)")
    return manifest
