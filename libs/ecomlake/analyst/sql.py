"""``ecomlake sql "SELECT ..."``: a query on the lake's tables by name, printed as a table or written as CSV, JSON or Parquet.

Every existing table is registered as ``<lake.database>.<layer>_<name>`` (``ecomlake.gold_user_features``)
and the database is made current, so ``SELECT * FROM gold_daily_kpis`` works too. Column and table
comments come from the documented schemas (``DESCRIBE TABLE gold_sessions``).
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import pandas as pd
from pyspark.errors import AnalysisException, ParseException
from pyspark.sql import DataFrame, SparkSession

from ecomlake import lake
from ecomlake.config import Config
from ecomlake.errors import ConfigError
from ecomlake.job import Job

FORMATS = ("table", "csv", "json", "parquet")


def query(spark: SparkSession, config: Config, statement: str) -> DataFrame:
    """One SQL statement on the lake's tables (analysed, not yet run); an invalid query is a ConfigError with Spark's reason."""
    lake.register_all(spark, config.lake)
    # PySpark logs a failed query's whole JVM stack trace as JSON before raising; the ConfigError below says it in one line.
    logging.getLogger("SQLQueryContextLogger").setLevel(logging.CRITICAL)
    try:
        return spark.sql(statement)
    except (AnalysisException, ParseException) as exc:
        reason = str(exc).splitlines()[0]
        raise ConfigError(f"the query failed: {reason} (tables: SHOW TABLES IN {config.lake.database})") from exc


def write_result(result: pd.DataFrame, fmt: str, out: str) -> Path:
    """One file, whatever the format: an analyst's result is meant to be opened, not read by Spark."""
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        result.to_csv(path, index=False)
    elif fmt == "json":
        result.to_json(path, orient="records", lines=True, date_format="iso")
    else:
        result.to_parquet(path, index=False)
    return path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("statement", metavar="SQL", help='the query, e.g. "SELECT * FROM gold_daily_kpis ORDER BY event_date"')
    parser.add_argument("--format", choices=FORMATS, default="table", help="table (printed; default), or csv, json (lines), parquet with --out")
    parser.add_argument("--out", metavar="PATH", help="write the result to this file (needs --format csv, json or parquet)")
    parser.add_argument("--max-rows", type=int, default=100, help="rows printed with --format table (default 100)")


def run(spark: SparkSession | None, config: Config, args: argparse.Namespace) -> pd.DataFrame:
    assert spark is not None
    if (args.format == "table") != (args.out is None):
        raise ConfigError("--out PATH goes with --format csv, json or parquet (and --format table prints, with no --out)")
    t0 = time.perf_counter()
    df = query(spark, config, args.statement)
    if args.out is not None:
        result = df.toPandas()
        path = write_result(result, args.format, args.out)
        print(f"sql: {len(result):,} rows written to {path} ({args.format}) in {time.perf_counter() - t0:.1f} s")
        return result
    result = df.limit(args.max_rows + 1).toPandas()  # printing needs only what is shown
    with pd.option_context("display.max_columns", None, "display.width", 200, "display.max_colwidth", 60):
        print(result.head(args.max_rows).to_string(index=False))
    shown = f"first {args.max_rows} rows" if len(result) > args.max_rows else f"{len(result):,} rows"
    print(f"({shown}, {time.perf_counter() - t0:.1f} s)")
    return result


JOB = Job("sql", "Run a SQL query on the lake's tables by name (Spark) and print it, or write it as CSV, JSON or Parquet", add_arguments, run)
