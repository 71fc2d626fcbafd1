"""Where the generator writes, ``generator.output``: a folder it replaces whole, so one holding anything needs ``--force``.

By default the output is the ingest landing folder (``<lake.root>/landing/events``), which holds every day's raw
files, and Spark's overwrite empties the whole folder before writing. So ``ecomlake generate`` refuses a folder that
is not empty (ConfigError, exit 2, nothing deleted) unless ``--force`` is given, and then logs what it replaces.
The demo regenerates its own sample: it forces only over a folder the generator wrote (:func:`holds_generated_data`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from ecomlake.errors import ConfigError, InputMissingError
from ecomlake.manifest import read_manifest

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

SHOWN = 5  # entries named in a message


def local_path(output: str) -> Path | None:
    """The local folder ``output`` names (a path or a ``file:`` URI); None for another file system (s3a:, hdfs:, ...)."""
    scheme = urlparse(output).scheme
    if scheme == "file":
        return Path(output.removeprefix("file://").removeprefix("file:"))
    return Path(output) if scheme == "" else None


def existing_entries(output: str, spark: SparkSession | None = None) -> list[str]:
    """What ``output`` holds, sorted; empty when it is missing or empty.

    A local folder: the names in it, hidden ones too. Another file system (needs ``spark``): the paths of up to
    SHOWN + 1 files under it, as Spark's file listing finds them (it skips names starting with ``_`` or ``.``).
    """
    local = local_path(output)
    if local is not None:
        if not local.exists():
            return []
        if not local.is_dir():
            return [local.name]  # a file where the folder would go: refused like a folder holding it
        return sorted(p.name for p in local.iterdir())
    assert spark is not None, f"listing {output} needs a Spark session"
    from pyspark.errors import AnalysisException

    try:
        # binaryFile lists files; selecting only their paths reads none of them.
        files = spark.read.format("binaryFile").option("recursiveFileLookup", "true").load(output).select("path").limit(SHOWN + 1).collect()
    except AnalysisException:  # the path does not exist
        return []
    return sorted(row.path for row in files)


def holds_generated_data(output: str, spark: SparkSession | None = None) -> bool:
    """Whether ``output`` holds a data set the generator wrote: its manifest is there and is a generator's."""
    try:
        manifest = read_manifest(output, None if local_path(output) is not None else spark)
    except (InputMissingError, ValueError):
        return False
    return "generator" in manifest


def require_replaceable(output: str, force: bool, spark: SparkSession | None = None) -> list[str]:
    """What a run writing to ``output`` replaces; ConfigError when that is anything and ``force`` is off (nothing deleted)."""
    entries = existing_entries(output, spark)
    if entries and not force:
        raise ConfigError(
            f"generator.output {output}: refused, it is not empty ({describe(entries, output)}), and generate replaces the whole folder "
            "(by default the ingest landing folder, which holds every day's raw files); nothing was deleted; choose a new or "
            "empty folder with --output DIR, or pass --force to replace what is there"
        )
    return entries


def describe(entries: list[str], output: str) -> str:
    """The entries of ``output`` (as :func:`existing_entries` found them) for a message: how many, the first few by name."""
    if local_path(output) is None:  # Spark's listing stops after SHOWN + 1 files
        count = f"more than {SHOWN} files" if len(entries) > SHOWN else f"{len(entries)} file{'s' * (len(entries) != 1)}"
    else:
        count = f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}"
    more = ", ..." if len(entries) > SHOWN else ""
    return f"{count}: {', '.join(entries[:SHOWN])}{more}"
