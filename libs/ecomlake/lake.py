"""The one IO module: reading and writing the catalog's Delta tables.

Every table is an entry of :mod:`ecomlake.catalog`; this module is the only code that turns one into
a path, a read or a commit:

- :func:`read` gives a table (or a slice of it). A table that does not exist, or a slice without rows,
  is an :class:`~ecomlake.errors.InputMissingError` naming the table, the slice and the command that
  writes it; ``missing="empty"`` reads an absent table as no rows instead (for optional inputs).
- :func:`write` replaces a table, or one slice of it, in one Delta commit, conformed to the table's
  documented schema; it returns the rows written, from that commit's own metrics.
- :func:`append` adds records (mappings by column name) to a table, e.g. a run record.

Slices are mappings from a column to a value or a list of values (``{"run_date": day}``,
``{"as_of_date": [d1, d2]}``), never SQL text: the values are typed, and the predicate Delta needs for
``replaceWhere`` is rendered here, with each literal quoted for its type.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Mapping, Sequence
from functools import reduce
from typing import Any, Literal

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ecomlake.catalog import ALL_TABLES, Table
from ecomlake.config import Config, LakeConfig
from ecomlake.errors import InputMissingError
from ecomlake.schema import TableSchema

log = logging.getLogger(__name__)

Value = dt.date | str | int | bool
Where = Mapping[str, Value | Sequence[Value]]  # column -> a value, or the values it may take (IN); the columns ANDed


def exists(spark: SparkSession, lake: LakeConfig, table: Table) -> bool:
    from delta.tables import DeltaTable

    return bool(DeltaTable.isDeltaTable(spark, table.path(lake)))


def schema_of(config: Config, table: Table) -> TableSchema:
    """The table's documented schema under this config (the windowed feature tables follow featurize.windows_days)."""
    return table.schema(config.featurize.windows_days)


def read(
    spark: SparkSession,
    config: Config,
    table: Table,
    where: Where | None = None,
    *,
    missing: Literal["raise", "empty"] = "raise",
) -> DataFrame:
    """The table's current version, or its slice ``where``.

    With ``missing="raise"`` an absent table, or a slice with no rows, raises InputMissingError naming
    the producing job's command. With
    ``missing="empty"`` an absent table reads as no rows of its documented schema, and slices are not checked.
    """
    schema = schema_of(config, table)
    _check_columns(schema, where)
    if not exists(spark, config.lake, table):
        if missing == "empty":
            return spark.createDataFrame([], schema.struct())
        raise InputMissingError(f"{table.qualified_name(config.lake)} does not exist at {table.path(config.lake)}; {_advice(table, where)}")
    df = spark.read.format("delta").load(table.path(config.lake))
    if where is None:
        return df
    df = df.where(_condition(where))
    if missing == "raise" and df.limit(1).count() == 0:
        raise InputMissingError(f"{table.qualified_name(config.lake)} has no rows with {describe(where)}; {_advice(table, where)}")
    return df


def write(df: DataFrame, config: Config, table: Table, where: Where | None = None, *, rebuild: bool = False) -> int:
    """Write ``df`` to the table as one Delta commit; returns the rows that commit wrote.

    An append-only table gets the rows added (unless ``rebuild``). Otherwise ``where`` names the slice the rows replace
    (every row must fall in it, or Delta refuses the commit), and without it the whole table is
    replaced; ``rebuild`` lets a whole-table write change the columns (a full rebuild with new windows).
    A failed write commits nothing, so readers keep seeing the previous version.
    """
    return _commit(df, config, table, where, rebuild, count_rows=True)


def append(spark: SparkSession, config: Config, table: Table, records: Sequence[Mapping[str, Any]], where: Where | None = None) -> int:
    """Write ``records`` (one mapping per row, by column name) to the table; returns the rows written.

    A column a record leaves out is NULL; a key that is not a column is a bug (ValueError). Nested
    struct values may be mappings or dataclass-like tuples in the schema's field order. For a table
    that is not append-only, ``where`` is the slice the records replace (see :func:`write`).
    """
    schema = schema_of(config, table)
    names = set(schema.names)
    for record in records:
        unknown = set(record) - names
        if unknown:
            raise ValueError(f"{table.key}: no column {', '.join(sorted(unknown))}; columns are {', '.join(schema.names)}")
    struct = schema.struct()
    rows = [tuple(_to_spark_value(record.get(f.name), f.dataType) for f in struct.fields) for record in records]
    _commit(spark.createDataFrame(rows, struct), config, table, where, rebuild=False, count_rows=False)
    return len(rows)


def insert_new(df: DataFrame, config: Config, table: Table, keys: Sequence[str]) -> None:
    """Add the rows of ``df`` whose ``keys`` the table does not hold yet, as one Delta MERGE commit (the table is created first if absent).

    Unlike an append, a MERGE reads the table: of two runs inserting at once, the second fails (Delta's
    ConcurrentAppendException) instead of both committing, so keys, and numbers derived from the table's rows, stay unique.
    """
    from delta.tables import DeltaTable

    spark = df.sparkSession
    if not exists(spark, config.lake, table):
        _commit(df.limit(0), config, table, None, rebuild=False, count_rows=False)
    target = DeltaTable.forPath(spark, table.path(config.lake)).alias("t")
    matches = " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys)
    target.merge(schema_of(config, table).conform(df).alias("s"), matches).whenNotMatchedInsertAll().execute()


def _commit(df: DataFrame, config: Config, table: Table, where: Where | None, rebuild: bool, *, count_rows: bool) -> int:
    """The commit of :func:`write`, then the table's name in the catalog and its description.

    With ``count_rows``, returns the rows the data commit wrote (read before the description, its own commit, is set); else 0.
    """
    schema = schema_of(config, table)
    _check_columns(schema, where)
    spark = df.sparkSession
    created = not exists(spark, config.lake, table)
    # The description and the columns are compared once per process, before the write: the snapshot that loads is the
    # one the write then uses (after the commit, a check would load a new one: about a second a table).
    key = (spark.sparkContext.applicationId, table.path(config.lake))
    checked = created or key in _described
    stale = created or (not checked and _description(spark, config.lake, table) != schema.description)
    added = [] if checked or rebuild else _added_columns(spark, config.lake, table, schema)
    writer = schema.conform(df).write.format("delta").mode("append" if table.append_only and not rebuild else "overwrite")
    if added:  # a table an earlier version wrote: Delta adds the new columns (NULL in its rows) in the write's commit
        log.info("%s: adding the columns %s (the table was written by an earlier version)", table.qualified_name(config.lake), ", ".join(added))
        writer = writer.option("mergeSchema", "true")
    if table.partition_by:
        writer = writer.partitionBy(*table.partition_by)
    if where is not None:
        writer = writer.option("replaceWhere", predicate(where))
    if rebuild:
        writer = writer.option("overwriteSchema", "true")
    writer.save(table.path(config.lake))
    rows = _rows_committed(spark, config.lake, table) if count_rows else 0
    register_table(spark, config.lake, table)
    if stale or (rebuild and _description(spark, config.lake, table) != schema.description):
        _set_table_comment(spark, config.lake, table, schema.description)
    _described.add(key)
    return rows


def predicate(where: Where) -> str:
    """The SQL predicate of a slice, for Delta's ``replaceWhere``: each literal rendered for its type.

    Example:
        >>> predicate({"run_date": dt.date(2019, 10, 1), "target": ["churned", "purchased"]})
        "`run_date` = DATE'2019-10-01' AND `target` IN ('churned', 'purchased')"
    """
    parts = []
    for column, value in where.items():
        if isinstance(value, Value):
            parts.append(f"`{column}` = {_literal(value)}")
        elif value:
            parts.append(f"`{column}` IN ({', '.join(_literal(v) for v in value)})")
        else:
            parts.append("false")  # no values: an empty slice
    return " AND ".join(parts)


def describe(where: Where) -> str:
    """A slice in words for messages: ``as_of_date = 2019-10-01 and target in (churned, purchased)``."""
    return " and ".join(f"{c} = {v}" if isinstance(v, Value) else f"{c} in ({', '.join(str(x) for x in v)})" for c, v in where.items())


def _literal(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.datetime):
        raise TypeError(f"a slice takes dates, not times: {value!r}")
    if isinstance(value, dt.date):
        return f"DATE'{value.isoformat()}'"
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _condition(where: Where) -> Column:
    conditions = [F.col(c) == F.lit(v) if isinstance(v, Value) else F.col(c).isin(list(v)) for c, v in where.items()]
    return reduce(lambda a, b: a & b, conditions, F.lit(True))


def _check_columns(schema: TableSchema, where: Where | None) -> None:
    unknown = set(where or ()) - set(schema.names)
    if unknown:
        raise ValueError(f"{schema.name}: a slice names {', '.join(sorted(unknown))}, which are not columns")


def _advice(table: Table, where: Where | None) -> str:
    """What to run to get the rows: the producing job, for the slice's date when it has one."""
    dates = [v for v in (where or {}).values() if isinstance(v, dt.date)]
    flag = f" --date {dates[0]}" if len(dates) == 1 else ""
    jobs = [job for job in table.produced_by if job != "every job"]  # the run ledger: any job's run writes it
    return " or ".join(f"run `ecomlake {job}{flag}`" for job in jobs) + " first" if jobs else "run a job first"


def _to_spark_value(value: Any, data_type: T.DataType) -> Any:
    """A record's value as createDataFrame takes it: mappings for structs become tuples in field order."""
    if value is None:
        return None
    if isinstance(data_type, T.StructType):
        if isinstance(value, Mapping):
            return tuple(_to_spark_value(value.get(f.name), f.dataType) for f in data_type.fields)
        return tuple(value)
    if isinstance(data_type, T.ArrayType):
        return [_to_spark_value(v, data_type.elementType) for v in value]
    if isinstance(data_type, T.MapType):
        return {k: _to_spark_value(v, data_type.valueType) for k, v in value.items()}
    return value


def _rows_committed(spark: SparkSession, lake: LakeConfig, table: Table) -> int:
    """Rows the table's latest commit wrote (Delta's operation metrics: no scan)."""
    from delta.tables import DeltaTable

    latest = DeltaTable.forPath(spark, table.path(lake)).history(1).select("operationMetrics").first()
    return int(((latest[0] if latest else None) or {}).get("numOutputRows", 0))


# Per Spark application (the catalog lives in it): table names this process registered, and their folders;
# Delta folders whose description this process has set or checked.
_registered: dict[tuple[str, str], str] = {}
_described: set[tuple[str, str]] = set()


def register_table(spark: SparkSession, lake: LakeConfig, table: Table) -> None:
    """Name the table in the session catalog (an external table over its Delta folder).

    A name already pointing at another lake's folder (one session, two lakes with the same database name)
    is moved to this one: dropping an external table drops only its name.
    """
    name, path = table.qualified_name(lake), _local_path(table.path(lake))
    key = (spark.sparkContext.applicationId, name)
    # DESCRIBE DETAIL loads the table's snapshot (about 0.8 s after a commit): not again for a name this process pointed here.
    if _registered.get(key) == path and spark.catalog.tableExists(name):
        return
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {lake.database}")
    if spark.catalog.tableExists(name):
        if _local_path(spark.sql(f"DESCRIBE DETAIL {name}").collect()[0]["location"]) == path:
            _registered[key] = path
            return
        spark.sql(f"DROP TABLE {name}")
    spark.sql(f"CREATE TABLE {name} USING DELTA LOCATION '{table.path(lake)}'")
    _registered[key] = path


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
    present = [t for t in ALL_TABLES if exists(spark, lake, t)]
    for table in present:
        register_table(spark, lake, table)
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {lake.database}")
    spark.catalog.setCurrentDatabase(lake.database)
    return present


def _added_columns(spark: SparkSession, lake: LakeConfig, table: Table, schema: TableSchema) -> list[str]:
    """The documented columns an existing table lacks: what an upgrade added since the table was written.

    Only a pure addition qualifies: a table with a column the schema no longer documents (renamed or dropped)
    returns none, so the write fails on the mismatch and the table's own migration (or a rebuild) handles it.
    """
    stored = set(spark.read.format("delta").load(table.path(lake)).columns)
    if stored - set(schema.names):
        return []
    return [name for name in schema.names if name not in stored]


def _description(spark: SparkSession, lake: LakeConfig, table: Table) -> str | None:
    from delta.tables import DeltaTable

    return DeltaTable.forPath(spark, table.path(lake)).detail().collect()[0]["description"]


def _set_table_comment(spark: SparkSession, lake: LakeConfig, table: Table, comment: str) -> None:
    """Set the Delta table's description (a commit of its own)."""
    escaped = comment.replace("\\", "\\\\").replace("'", "\\'")
    spark.sql(f"COMMENT ON TABLE {table.qualified_name(lake)} IS '{escaped}'")


def table_summary(spark: SparkSession, config: Config) -> list[tuple[str, int, int, str]]:
    """(qualified name, rows, Delta version, path) for every table of the lake that exists."""
    from delta.tables import DeltaTable

    summary = []
    for table in ALL_TABLES:
        if exists(spark, config.lake, table):
            version = DeltaTable.forPath(spark, table.path(config.lake)).history(1).select("version").collect()[0][0]
            summary.append((table.qualified_name(config.lake), read(spark, config, table).count(), version, table.path(config.lake)))
    return summary
