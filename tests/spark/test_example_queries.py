"""Every query of docs/example_queries.md runs unchanged through Spark SQL and through DuckDB, with the same rows.

The DuckDB side runs in the analysts' own environment (scripts/setup_analyst.sh), in a subprocess, as in
test_analyst.py, but writes Parquet rather than JSON lines: pandas' JSON keeps 10 decimals, too few to
compare small rates to 1e-9. The lake is model_lake (every table a day of the default pipeline writes) for
the queries on every table but the LSTM's; those on the LSTM's tables run on lstm_lake (``dl``).
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import re
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import SparkSession

from ecomlake.analyst.sql import query
from ecomlake.catalog import LSTM_METRICS, LSTM_SCORES
from ecomlake.config import Config
from tests.support import REPO

DOC = REPO / "docs" / "example_queries.md"
# A "### " heading, then (before the next heading) a ```sql block: the query it introduces.
_QUERY = re.compile(r"^### (?P<title>[^\n]+)\n(?:(?!^### ).)*?^```sql\n(?P<sql>.*?)^```$", re.MULTILINE | re.DOTALL)


LSTM_TABLES = tuple(f"{t.layer}_{t.name}" for t in (LSTM_SCORES, LSTM_METRICS))


def example_queries() -> list[tuple[str, str]]:
    """(heading, SQL) of every ```sql block of the document, in order."""
    return [(m["title"].strip(), m["sql"].strip()) for m in _QUERY.finditer(DOC.read_text())]


def reads_lstm_tables(statement: str) -> bool:
    return re.search(rf"\b({'|'.join(LSTM_TABLES)})\b", statement) is not None


MODEL_QUERIES = [(title, sql) for title, sql in example_queries() if not reads_lstm_tables(sql)]
LSTM_QUERIES = [(title, sql) for title, sql in example_queries() if reads_lstm_tables(sql)]


def is_ordered(statement: str) -> bool:
    """True when the statement itself ends in ORDER BY: one outside every parenthesis (not a window's, not a CTE's)."""
    depth, outer = 0, []
    for ch in statement:
        depth += ch == "("
        outer.append(ch if depth == 0 else " ")
        depth -= ch == ")"
    return re.search(r"\bORDER\s+BY\b", "".join(outer), flags=re.IGNORECASE) is not None


def normalized(value: Any) -> Any:
    """One spelling for both engines: numbers as floats (DuckDB sums integers to HUGEINT, Parquet has it as DOUBLE), NULL and NaN
    as None, dates and times as ISO strings."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | float | decimal.Decimal | np.integer | np.floating):
        number = float(value)
        return None if math.isnan(number) else number
    if isinstance(value, dt.datetime):  # pandas Timestamps too
        return value.isoformat(timespec="microseconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def sort_key(row: tuple[Any, ...]) -> tuple[tuple[int, Any], ...]:
    # Floats rounded so that last-bit differences between the engines do not change the order; None sorts first.
    return tuple((0, "") if v is None else (1, float(f"{v:.9g}")) if isinstance(v, float) else (2, str(v)) for v in row)


def same_value(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def duck(python: str, root: str, statement: str, out: Path) -> pd.DataFrame:
    """The statement through ``python -m ecomlake sql --engine duckdb`` in the analysts' environment, read back from its Parquet file."""
    run = subprocess.run(
        [python, "-m", "ecomlake", "sql", "--engine", "duckdb", "--lake", root, "--format", "parquet", "--out", str(out), statement],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},  # nothing of the Spark environment
    )
    assert run.returncode == 0, run.stderr
    return pd.read_parquet(out)


def test_the_document_has_queries_each_under_a_heading() -> None:
    queries = example_queries()
    titles = [title for title, _ in queries]
    assert len(queries) >= 6 and len(queries) == DOC.read_text().count("```sql"), "every ```sql block follows its own ### heading"
    assert len(set(titles)) == len(titles), "headings are unique"
    # Both lakes have queries to run: most on the tables of the default pipeline, some on the LSTM's.
    assert len(MODEL_QUERIES) >= 6 and len(LSTM_QUERIES) >= 1 and len(MODEL_QUERIES) + len(LSTM_QUERIES) == len(queries)
    assert reads_lstm_tables("SELECT * FROM ml_lstm_metrics") and not reads_lstm_tables("SELECT * FROM ml_lstm_metrics_old")


def test_order_by_is_found_only_outside_parentheses() -> None:
    assert is_ordered("WITH a AS (SELECT x FROM t ORDER BY x) SELECT x FROM a ORDER BY x")
    assert not is_ordered("WITH a AS (SELECT x FROM t ORDER BY x) SELECT x, ROW_NUMBER() OVER (ORDER BY x) AS n FROM a")


def same_rows(spark: SparkSession, cfg: Config, python: str, out: Path, title: str, statement: str) -> None:
    through_spark = query(spark, cfg, statement).toPandas()
    through_duck = duck(python, cfg.lake.root, statement, out)
    assert len(through_spark) > 0, f"{title}: no rows from Spark"
    assert len(through_duck) == len(through_spark), f"{title}: {len(through_duck)} rows from DuckDB, {len(through_spark)} from Spark"
    assert list(through_duck.columns) == list(through_spark.columns), f"{title}: columns differ"
    spark_rows, duck_rows = ([tuple(map(normalized, row)) for row in df.itertuples(index=False, name=None)] for df in (through_spark, through_duck))
    if not is_ordered(statement):
        spark_rows, duck_rows = sorted(spark_rows, key=sort_key), sorted(duck_rows, key=sort_key)
    for i, (s, d) in enumerate(zip(spark_rows, duck_rows, strict=True)):
        assert all(same_value(a, b) for a, b in zip(s, d, strict=True)), f"{title}: row {i} differs:\n spark  {s}\n duckdb {d}"


@pytest.mark.parametrize(("title", "statement"), MODEL_QUERIES, ids=[title for title, _ in MODEL_QUERIES])
def test_the_example_query_gives_the_same_rows_in_spark_and_duckdb(
    spark: SparkSession, model_lake: Config, analyst_python: str, tmp_path: Path, title: str, statement: str
) -> None:
    same_rows(spark, model_lake, analyst_python, tmp_path / "result.parquet", title, statement)


@pytest.mark.dl  # lstm_lake trains the LSTM
@pytest.mark.parametrize(("title", "statement"), LSTM_QUERIES, ids=[title for title, _ in LSTM_QUERIES])
def test_the_lstm_example_query_gives_the_same_rows_in_spark_and_duckdb(
    spark: SparkSession, lstm_lake: Config, analyst_python: str, tmp_path: Path, title: str, statement: str
) -> None:
    same_rows(spark, lstm_lake, analyst_python, tmp_path / "result.parquet", title, statement)
