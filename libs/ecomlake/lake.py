"""The one IO module: where every table lives, and reading and writing Delta tables.

Each table is at ``<lake.root>/<layer>/<name>`` and registered in the session catalog as
``<database>.<layer>_<name>`` so that SQL can name it. Jobs name tables by the constants below;
nothing else in the code knows a path.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ecomlake.config import LakeConfig
from ecomlake.errors import InputMissingError
from ecomlake.schema import TableSchema


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
RUN_LEDGER = Table("ops", "run_ledger")  # every pipeline step attempt (ecomlake.pipeline)

# Gold (ecomlake.featurize; columns documented in ecomlake.featurize.schemas). Daily tables hold one
# slice per event day; snapshot tables one slice per as-of date, computed from the daily tables.
SESSIONS = Table("gold", "sessions", partition_by=("session_date",))
USER_ITEM_DAILY = Table("gold", "user_item_daily", partition_by=("event_date",))
DAILY_KPIS = Table("gold", "daily_kpis")
USER_FEATURES = Table("gold", "user_features", partition_by=("as_of_date",))
ITEM_FEATURES = Table("gold", "item_features", partition_by=("as_of_date",))
INTERACTIONS = Table("gold", "interactions", partition_by=("as_of_date",))
LABELS = Table("gold", "labels", partition_by=("cutoff_date",))

# Models (ecomlake.recommend, ecomlake.profile, ecomlake.propensity, ecomlake.lstm; columns in each package's schemas).
# Scores and assignments hold one slice per run date; metrics and the run records one row per run.
RECOMMENDATIONS = Table("gold", "recommendations", partition_by=("run_date",))
SIMILAR_ITEMS = Table("gold", "similar_items", partition_by=("run_date",))
ALS_METRICS = Table("ml", "als_metrics")
USER_SEGMENTS = Table("gold", "user_segments", partition_by=("run_date",))
SEGMENTS = Table("ml", "segments")
SEGMENT_TRANSITIONS = Table("gold", "segment_transitions")
PROPENSITY_SCORES = Table("gold", "propensity_scores", partition_by=("run_date",))
PROPENSITY_METRICS = Table("ml", "propensity_metrics")
LSTM_SCORES = Table("gold", "lstm_scores", partition_by=("run_date",))  # ecomlake.lstm
LSTM_METRICS = Table("ml", "lstm_metrics")
MODEL_RUNS = Table("ml", "model_runs")  # every trained model: version, params, metrics, config, artifact (ecomlake.ml.registry)

ALL_TABLES: tuple[Table, ...] = (
    GENERATOR_RUNS, BRONZE_EVENTS, SILVER_EVENTS, QUARANTINE, RUN_AUDIT, RUN_LEDGER,
    SESSIONS, USER_ITEM_DAILY, DAILY_KPIS, USER_FEATURES, ITEM_FEATURES, INTERACTIONS, LABELS,
    RECOMMENDATIONS, SIMILAR_ITEMS, ALS_METRICS, USER_SEGMENTS, SEGMENTS, SEGMENT_TRANSITIONS,
    PROPENSITY_SCORES, PROPENSITY_METRICS, LSTM_SCORES, LSTM_METRICS, MODEL_RUNS,
)  # fmt: skip


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
    """Name the table in the session catalog (an external table over its Delta folder)."""
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {lake.database}")
    spark.sql(f"CREATE TABLE IF NOT EXISTS {table.qualified_name(lake)} USING DELTA LOCATION '{table.path(lake)}'")


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
