"""The one IO module: where every table lives, and reading and writing Delta tables.

Each table is at ``<lake.root>/<layer>/<name>`` and registered in the session catalog as
``<database>.<layer>_<name>`` so that SQL can name it. Jobs name tables by the constants of
ecomlake.tables, re-exported here; nothing else in the code knows a path.
"""

from __future__ import annotations

import os

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ecomlake.config import LakeConfig
from ecomlake.errors import InputMissingError
from ecomlake.schema import TableSchema
from ecomlake.tables import (  # noqa: F401  (re-exported: jobs name tables as lake.SESSIONS)
    ALL_TABLES,
    ALS_METRICS,
    BRONZE_EVENTS,
    DAILY_KPIS,
    GENERATOR_RUNS,
    INTERACTIONS,
    ITEM_FEATURES,
    LABELS,
    LSTM_METRICS,
    LSTM_SCORES,
    MODEL_RUNS,
    PROPENSITY_METRICS,
    PROPENSITY_SCORES,
    QUARANTINE,
    RECOMMENDATIONS,
    RUN_AUDIT,
    RUN_LEDGER,
    SEGMENT_TRANSITIONS,
    SEGMENTS,
    SESSIONS,
    SILVER_EVENTS,
    SIMILAR_ITEMS,
    USER_FEATURES,
    USER_ITEM_DAILY,
    USER_SEGMENTS,
    Table,
)


def table_exists(spark: SparkSession, lake: LakeConfig, table: Table) -> bool:
    from delta.tables import DeltaTable

    return DeltaTable.isDeltaTable(spark, table.path(lake))


def read_table(spark: SparkSession, lake: LakeConfig, table: Table) -> DataFrame:
    """Read the table's current version; a missing table is an InputMissingError naming the job to run."""
    if not table_exists(spark, lake, table):
        raise InputMissingError(f"table {table.qualified_name(lake)} does not exist at {table.path(lake)}; run the job that writes it first")
    return spark.read.format("delta").load(table.path(lake))


def write_table(
    df: DataFrame,
    lake: LakeConfig,
    table: Table,
    mode: str = "overwrite",
    replace_where: str | None = None,
    schema: TableSchema | None = None,
    overwrite_schema: bool = False,
) -> None:
    """Write ``df`` to the table as one Delta commit: all of it or, with ``replace_where``, one slice.

    A failed write commits nothing, so readers keep seeing the previous version. With ``schema``,
    the rows are conformed to it and its column and table comments are written into Delta.
    ``overwrite_schema`` lets a whole-table overwrite change the columns (a full rebuild).
    """
    if schema is not None:
        df = schema.conform(df)
    writer = df.write.format("delta").mode(mode)
    if table.partition_by:
        writer = writer.partitionBy(*table.partition_by)
    if replace_where is not None:
        writer = writer.option("replaceWhere", replace_where)
    if overwrite_schema:
        writer = writer.option("overwriteSchema", "true")
    writer.save(table.path(lake))
    register_table(df.sparkSession, lake, table)
    if schema is not None:
        _set_table_comment(df.sparkSession, lake, table, schema.description)


def register_table(spark: SparkSession, lake: LakeConfig, table: Table) -> None:
    """Name the table in the session catalog (an external table over its Delta folder).

    A name already pointing at another lake's folder (one session, two lakes with the same database name)
    is moved to this one: dropping an external table drops only its name.
    """
    name = table.qualified_name(lake)
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {lake.database}")
    if spark.catalog.tableExists(name):
        if _local_path(spark.sql(f"DESCRIBE DETAIL {name}").first()["location"]) == _local_path(table.path(lake)):
            return
        spark.sql(f"DROP TABLE {name}")
    spark.sql(f"CREATE TABLE {name} USING DELTA LOCATION '{table.path(lake)}'")


def _local_path(location: str) -> str:
    """A location comparable between the catalog (file:/x) and the config (/x, or relative); remote URIs as they are."""
    if location.startswith("file:"):
        location = "/" + location.removeprefix("file:").lstrip("/")
    return location.rstrip("/") if "://" in location else os.path.abspath(location)


def register_all(spark: SparkSession, lake: LakeConfig) -> list[Table]:
    """Name every table that exists in the session catalog and make the lake's database current; returns them.

    Spark's default catalog lives in the session, so a new session (``ecomlake sql``, a notebook) registers
    the tables again: seconds, it reads only each table's log.
    """
    present = [t for t in ALL_TABLES if table_exists(spark, lake, t)]
    for table in present:
        register_table(spark, lake, table)
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {lake.database}")
    spark.catalog.setCurrentDatabase(lake.database)
    return present


def _set_table_comment(spark: SparkSession, lake: LakeConfig, table: Table, comment: str) -> None:
    """Set the Delta table's description, only when it differs (each change is a commit)."""
    from delta.tables import DeltaTable

    if DeltaTable.forPath(spark, table.path(lake)).detail().first()["description"] != comment:
        escaped = comment.replace("\\", "\\\\").replace("'", "\\'")
        spark.sql(f"COMMENT ON TABLE {table.qualified_name(lake)} IS '{escaped}'")


def last_commit_rows(spark: SparkSession, lake: LakeConfig, table: Table) -> int:
    """Rows the table's latest write wrote (from the Delta log: no scan; comment changes are skipped)."""
    from delta.tables import DeltaTable

    writes = DeltaTable.forPath(spark, table.path(lake)).history(5).where("operation = 'WRITE'").orderBy(F.col("version").desc())
    latest = writes.select("operationMetrics").first()
    return int((latest[0] or {}).get("numOutputRows", 0)) if latest else 0


def table_summary(spark: SparkSession, lake: LakeConfig) -> list[tuple[str, int, int, str]]:
    """(qualified name, rows, Delta version, path) for every table of the lake that exists."""
    from delta.tables import DeltaTable

    summary = []
    for table in ALL_TABLES:
        if table_exists(spark, lake, table):
            version = DeltaTable.forPath(spark, table.path(lake)).history(1).select("version").first()[0]
            summary.append((table.qualified_name(lake), read_table(spark, lake, table).count(), version, table.path(lake)))
    return summary
