"""The one IO module: where every table lives, and reading and writing Delta tables.

Each table is at ``<lake.root>/<layer>/<name>`` and registered in the session catalog as
``<database>.<layer>_<name>`` so that SQL can name it. Jobs name tables by the constants below;
nothing else in the code knows a path.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession

from ecomlake.config import LakeConfig
from ecomlake.errors import InputMissingError


@dataclass(frozen=True)
class Table:
    """A Delta table of the lake: its layer (bronze, silver, gold, ml, ops) and name."""

    layer: str
    name: str
    partition_by: tuple[str, ...] = ()

    def path(self, lake: LakeConfig) -> str:
        return f"{lake.root}/{self.layer}/{self.name}"

    def qualified_name(self, lake: LakeConfig) -> str:
        return f"{lake.database}.{self.layer}_{self.name}"


# The table map (see the README's table list).
GENERATOR_RUNS = Table("ops", "generator_runs")
BRONZE_EVENTS = Table("bronze", "events", partition_by=("ingest_date",))  # raw events as strings (ecomlake.ingest)

SILVER_EVENTS = Table("silver", "events", partition_by=("event_date",))  # typed, deduplicated, filled (ecomlake.clean)
QUARANTINE = Table("silver", "quarantine", partition_by=("ingest_date",))  # rejected rows with a reason (ecomlake.clean)
RUN_AUDIT = Table("ops", "run_audit")  # row conservation of every clean run

ALL_TABLES: tuple[Table, ...] = (GENERATOR_RUNS, BRONZE_EVENTS, SILVER_EVENTS, QUARANTINE, RUN_AUDIT)


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
) -> None:
    """Write ``df`` to the table as one Delta commit: all of it or, with ``replace_where``, one slice.

    A failed write commits nothing, so readers keep seeing the previous version.
    """
    writer = df.write.format("delta").mode(mode)
    if table.partition_by:
        writer = writer.partitionBy(*table.partition_by)
    if replace_where is not None:
        writer = writer.option("replaceWhere", replace_where)
    writer.save(table.path(lake))
    register_table(df.sparkSession, lake, table)


def register_table(spark: SparkSession, lake: LakeConfig, table: Table) -> None:
    """Name the table in the session catalog (an external table over its Delta folder)."""
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {lake.database}")
    spark.sql(f"CREATE TABLE IF NOT EXISTS {table.qualified_name(lake)} USING DELTA LOCATION '{table.path(lake)}'")


def table_summary(spark: SparkSession, lake: LakeConfig) -> list[tuple[str, int, int, str]]:
    """(qualified name, rows, Delta version, path) for every table of the lake that exists."""
    from delta.tables import DeltaTable

    summary = []
    for table in ALL_TABLES:
        if table_exists(spark, lake, table):
            version = DeltaTable.forPath(spark, table.path(lake)).history(1).select("version").first()[0]
            summary.append((table.qualified_name(lake), read_table(spark, lake, table).count(), version, table.path(lake)))
    return summary
