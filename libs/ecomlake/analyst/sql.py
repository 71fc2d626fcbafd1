"""``ecomlake sql "SELECT ..."``: the one SQL command line on the lake's tables, printed or written as CSV, JSON or Parquet.

Two engines, the same table names (``gold_daily_kpis``, ``ecomlake.gold_user_features``), read-only:

- ``--engine duckdb``: DuckDB on each table's Delta log (:mod:`ecomlake.analyst.duck`), no Spark and no
  JVM: the analysts' environment (``scripts/setup_analyst.sh``), where this module is imported without
  pyspark. ``--version TABLE=N`` reads a table as of a Delta version.
- ``--engine spark``: every existing table registered in a Spark session (column and table comments
  from the catalog: ``DESCRIBE TABLE gold_sessions``); the session is the shared helper's
  (:mod:`ecomlake.session`), started for the query and stopped after it unless one was running.

``--engine auto`` (the default) takes DuckDB where it is installed with deltalake, else Spark.

``--format csv`` writes through :func:`ecomlake.analyst.exports.write_csv`: a text cell starting with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return gets a leading ``'``, so a spreadsheet shows it instead of running it as a
formula (numbers stay numbers). JSON and Parquet keep the values as they are.

Read-only on both engines, checked on the parsed statement before anything runs: Spark's plan must be
a query (or SHOW, DESCRIBE, EXPLAIN of a query), :func:`require_read_only`; DuckDB's statements must
be SELECTs (or EXPLAIN of one), :func:`ecomlake.analyst.duck.require_read_only`. Anything else is a
ConfigError (exit 2).
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from ecomlake.analyst.exports import write_csv
from ecomlake.config import Config
from ecomlake.errors import ConfigError
from ecomlake.job import LocalJob

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

FORMATS = ("table", "csv", "json", "parquet")
Engine = Literal["auto", "duckdb", "spark"]


@dataclass(frozen=True)
class SqlParams:
    statement: str
    engine: Engine = "auto"
    format: str = "table"  # table (printed), csv, json (lines) or parquet
    out: str | None = None  # the file to write, with csv, json or parquet
    max_rows: int = 100  # rows printed with --format table
    versions: tuple[str, ...] = ()  # TABLE=N: read TABLE as of Delta version N (DuckDB)

    def __post_init__(self) -> None:
        if (self.format == "table") != (self.out is None):
            raise ConfigError("--out PATH goes with --format csv, json or parquet (and --format table prints, with no --out)")


# What a read-only statement's parsed (unresolved) plan may hold, by the nodes' simple class names. An allow-list,
# deny by default: spark.sql runs any command eagerly, and a new Spark or Delta release brings new commands (Delta's
# OPTIMIZE, VACUUM, RESTORE came that way); one not named here is refused, not run. A keyword deny-list would also miss
# spellings: a CTE before an INSERT, Hive's FROM t INSERT INTO u SELECT ..., a command behind IDENTIFIER('t').
QUERY_NODES = frozenset(
    {
        *("Project", "Filter", "Aggregate", "Join", "LateralJoin", "Sort", "GlobalLimit", "LocalLimit", "Offset", "Tail"),
        *("Union", "Except", "Intersect", "Distinct", "Deduplicate", "Window", "WithWindowDefinition", "Generate", "Expand"),
        *("Pivot", "Unpivot", "Sample", "Repartition", "RepartitionByExpression", "RebalancePartitions", "UnresolvedHint"),
        *("SubqueryAlias", "UnresolvedSubqueryColumnAliases", "UnresolvedWith", "WithCTE", "CTERelationDef", "CTERelationRef"),
        *("UnresolvedRelation", "RelationTimeTravel", "UnresolvedTableValuedFunction", "UnresolvedTVFAliases", "Range"),
        *("UnresolvedInlineTable", "LocalRelation", "OneRowRelation", "PipeOperator"),
    }
)
# The metadata commands analysts use, all reads (EXPLAIN and DESCRIBE QUERY: their query is checked too) ...
METADATA_NODES = frozenset(
    {
        *("ShowTables", "ShowTablesExtended", "ShowViews", "ShowColumns", "ShowNamespaces", "ShowFunctions", "ShowTableProperties"),
        *("ShowCreateTable", "ShowPartitions", "ShowCatalogsCommand", "ShowCurrentNamespaceCommand"),
        *("DescribeRelation", "DescribeColumn", "DescribeFunction", "DescribeNamespace", "DescribeQueryCommand", "ExplainCommand"),
        *("DescribeDeltaHistory", "DescribeDeltaDetailCommand"),  # Delta's DESCRIBE HISTORY, DESCRIBE DETAIL
    }
)
# ... and the names they take as children. Not PlanWithUnresolvedIdentifier: IDENTIFIER('t') builds its plan only when
# analysed, and INSERT INTO IDENTIFIER('t') parses to one with the INSERT inside.
NAME_NODES = frozenset(
    {
        *("UnresolvedTable", "UnresolvedTableOrView", "UnresolvedNamespace", "CurrentNamespace", "UnresolvedFunctionName"),
        *("UnresolvedPathBasedTable", "UnresolvedPathBasedDeltaTable"),
    }
)
READ_NODES = QUERY_NODES | METADATA_NODES | NAME_NODES
# Functions a query may not call: they run arbitrary static Java methods (reflect('java.lang.System', 'exit', 0)).
DENIED_FUNCTIONS = frozenset({"reflect", "java_method", "try_reflect"})


def _first_line(text: str) -> str:
    """The first non-blank line: a ParseException's message starts with an empty one."""
    return next((line.strip() for line in text.splitlines() if line.strip()), text)


def _scala_seq(seq: Any) -> list[Any]:
    items, it = [], seq.iterator()
    while it.hasNext():
        items.append(it.next())
    return items


def require_read_only(spark: SparkSession, statement: str) -> None:
    """Refuse (ConfigError) a statement that is not one read, on the plan Spark's own parser makes of it; nothing runs.

    Every node of the parsed plan must be on the allow-list: the operators' children, the CTE definitions and the
    subqueries of expressions (innerChildren, subqueries), and the query of an EXPLAIN or DESCRIBE QUERY. More than one
    statement (``SELECT 1; DROP TABLE t``) does not parse: a ConfigError with Spark's reason.
    """
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException

    # The session's parser: with Delta's SQL extension, Delta's, which parses OPTIMIZE, VACUUM, DESCRIBE HISTORY too.
    parser = spark._jsparkSession.sessionState().sqlParser()
    try:
        plan = parser.parsePlan(statement)
    except PySparkException as exc:
        raise ConfigError(f"the query failed: {_first_line(str(exc))}") from exc
    except Py4JJavaError as exc:  # one PySpark does not convert, e.g. SqlScriptingException for BEGIN ... END
        raise ConfigError(f"the query failed: {_first_line(str(exc.java_exception.getMessage()))}") from exc
    pending = [plan]
    while pending:
        node = pending.pop()
        kind = str(node.getClass().getSimpleName()).rstrip("$")  # a Scala object's class: CurrentNamespace$
        if kind not in READ_NODES:
            raise ConfigError(
                f"ecomlake sql is read-only: {kind} is not a query; it runs SELECT (WITH, VALUES), SHOW, DESCRIBE and EXPLAIN of a query, "
                "and ran nothing"
            )
        _refuse_denied_functions(_scala_seq(node.expressions()))
        pending += _scala_seq(node.children()) + _scala_seq(node.innerChildren()) + _scala_seq(node.subqueries())
        if kind == "ExplainCommand":
            pending.append(node.logicalPlan())
        elif kind == "DescribeQueryCommand":
            pending.append(node.plan())


def _refuse_denied_functions(expressions: list[Any]) -> None:
    """Refuse a call of a DENIED_FUNCTIONS function anywhere in these (parsed, unresolved) expressions."""
    pending = list(expressions)
    while pending:
        expression = pending.pop()
        if str(expression.getClass().getSimpleName()) == "UnresolvedFunction":
            name = str(_scala_seq(expression.nameParts())[-1]).lower()
            if name in DENIED_FUNCTIONS:
                raise ConfigError(f"ecomlake sql is read-only: {name}() calls Java methods; it ran nothing")
        pending += _scala_seq(expression.children())


def query(spark: SparkSession, config: Config, statement: str) -> DataFrame:
    """One read-only SQL statement on the lake's tables through Spark (analysed, not yet run); an invalid or writing one is a ConfigError."""
    from pyspark.errors import AnalysisException, ParseException

    from ecomlake import lake

    # PySpark logs a failed query's whole JVM stack trace as JSON before raising; the ConfigError below says it in one line.
    logging.getLogger("SQLQueryContextLogger").setLevel(logging.CRITICAL)
    # Before spark.sql, which runs a command (DELETE, DROP, ...) at once; before register_all, so a refusal costs no table.
    require_read_only(spark, statement)
    lake.register_all(spark, config.lake)
    try:
        return spark.sql(statement)
    except (AnalysisException, ParseException) as exc:
        raise ConfigError(f"the query failed: {_first_line(str(exc))} (tables: SHOW TABLES IN {config.lake.database})") from exc


def versions(items: tuple[str, ...]) -> dict[str, int]:
    """``TABLE=N`` flags as {table: version}."""
    parsed = {}
    for item in items:
        name, _, number = item.partition("=")
        if not number.isdigit():
            raise ConfigError(f"--version {item!r}: expected TABLE=N, e.g. gold_sessions=3")
        parsed[name] = int(number)
    return parsed


def resolve_engine(engine: Engine) -> Literal["duckdb", "spark"]:
    if engine != "auto":
        return engine
    has_duck = importlib.util.find_spec("duckdb") is not None and importlib.util.find_spec("deltalake") is not None
    return "duckdb" if has_duck else "spark"


def result_frame(config: Config, params: SqlParams, limit: int | None) -> pd.DataFrame:
    """The query's rows as pandas (at most ``limit``), through the chosen engine."""
    if resolve_engine(params.engine) == "duckdb":
        from ecomlake.analyst.duck import DuckLake

        relation = DuckLake(config.lake.root, config.lake.database, versions(params.versions)).sql(params.statement)
        result = (relation.limit(limit) if limit is not None else relation).df()
        # DuckDB's pandas conversion turns DATE into datetime64: back to dates, as Spark's toPandas gives them (and Parquet keeps them).
        for column, kind in zip(relation.columns, relation.types, strict=True):
            if str(kind) == "DATE":
                result[column] = result[column].dt.date
        return result
    if params.versions:
        raise ConfigError("--version TABLE=N reads a past Delta version with --engine duckdb")
    from pyspark.sql import SparkSession

    from ecomlake.session import start_session

    own_session = SparkSession.getActiveSession() is None  # a running session (a notebook's, a test run's) is the caller's
    spark = start_session(config.spark, "ecomlake-sql")
    try:
        df = query(spark, config, params.statement)
        return (df.limit(limit) if limit is not None else df).toPandas()
    finally:
        if own_session:
            spark.stop()


def write_result(result: pd.DataFrame, fmt: str, out: str) -> Path:
    """One file, whatever the format: an analyst's result is meant to be opened, not read by Spark."""
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        write_csv(result, path)  # text cells a spreadsheet would run as formulas are escaped
    elif fmt == "json":
        result.to_json(path, orient="records", lines=True, date_format="iso")
    else:
        result.to_parquet(path, index=False)
    return path


def run(config: Config, params: SqlParams) -> None:
    t0 = time.perf_counter()
    if params.out is not None:
        result = result_frame(config, params, None)
        path = write_result(result, params.format, params.out)
        print(f"sql: {len(result):,} rows written to {path} ({params.format}) in {time.perf_counter() - t0:.1f} s")
        return
    result = result_frame(config, params, params.max_rows + 1)  # printing needs only what is shown
    with pd.option_context("display.max_columns", None, "display.width", 200, "display.max_colwidth", 60):
        print(result.head(params.max_rows).to_string(index=False))
    shown = f"first {params.max_rows} rows" if len(result) > params.max_rows else f"{len(result):,} rows"
    print(f"({shown}, {time.perf_counter() - t0:.1f} s)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("statement", metavar="SQL", help='the query, e.g. "SELECT * FROM gold_daily_kpis ORDER BY kpi_date"')
    parser.add_argument(
        "--engine",
        choices=("auto", "duckdb", "spark"),
        default="auto",
        help="DuckDB on the Delta logs (no Spark) or Spark; auto: DuckDB where installed",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="table",
        help="table (printed; default), or csv, json (lines), parquet with --out; csv prefixes a text cell that starts with "
        "= + - @ tab or CR with ' so a spreadsheet shows it instead of running it as a formula (numbers stay numbers)",
    )
    parser.add_argument("--out", metavar="PATH", help="write the result to this file (needs --format csv, json or parquet)")
    parser.add_argument("--max-rows", type=int, default=100, help="rows printed with --format table (default 100)")
    parser.add_argument(
        "--version", dest="versions", action="append", default=[], metavar="TABLE=N", help="read TABLE as of Delta version N (DuckDB; repeatable)"
    )
    parser.add_argument("--lake", dest="lake.root", help="the lake root (default: lake.root of the config)")


JOB = LocalJob(
    "sql",
    "Run a read-only SQL query on the lake's tables by name (DuckDB or Spark); print it, or write CSV, JSON or Parquet",
    SqlParams,
    run,
    add_arguments,
)
