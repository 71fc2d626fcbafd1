"""Analysts' SQL: the tables by name through Spark (ecomlake sql), and without Spark through DuckDB on the Delta log.

The DuckDB side runs in its own environment (scripts/setup_analyst.sh), in a subprocess, against the
tables the Spark jobs wrote.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from ecomlake import lake
from ecomlake.analyst.sql import query
from ecomlake.catalog import ALL_TABLES, SEGMENTS
from ecomlake.cli import main
from ecomlake.config import Config
from tests.support import GOLD_LAST_DAY, cli_keys, lake_config

FUNNEL = f"""
SELECT session_date, count(*) AS sessions, sum(views) AS views, sum(carts) AS carts, sum(purchases) AS purchases,
       round(sum(CASE WHEN purchases > 0 THEN 1 ELSE 0 END) / count(*), 6) AS converted
FROM gold_sessions WHERE session_date = DATE '{GOLD_LAST_DAY}' GROUP BY session_date
"""


def duck(python: str, root: str, statement: str, *flags: str, out: Path) -> list[dict]:
    """The statement through ``python -m ecomlake sql --engine duckdb`` in the analysts' environment; rows as dicts."""
    run = subprocess.run(
        [python, "-m", "ecomlake", "sql", "--engine", "duckdb", "--lake", root, *flags, "--format", "json", "--out", str(out), statement],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},  # nothing of the Spark environment
    )
    assert run.returncode == 0, run.stderr
    assert f"rows written to {out} (json)" in run.stdout
    return [json.loads(line) for line in out.read_text().splitlines()]


def segments(n: int) -> list[dict]:
    """n rows of ml.segments with segment ids 0..n-1 (the other columns NULL)."""
    return [{"run_date": GOLD_LAST_DAY, "model_version": "v", "segment_id": i, "segment_name": f"s{i}"} for i in range(n)]


def delta_version(spark: SparkSession, path: str) -> int:
    return DeltaTable.forPath(spark, path).history(1).collect()[0].version


def test_the_same_funnel_through_spark_sql_and_duckdb(spark: SparkSession, gold_lake: Config, analyst_python: str, tmp_path: Path) -> None:
    through_spark = query(spark, gold_lake, FUNNEL).toPandas().to_dict("records")
    through_duck = duck(analyst_python, gold_lake.lake.root, FUNNEL, out=tmp_path / "funnel.json")
    assert len(through_spark) == len(through_duck) == 1
    s, d = through_spark[0], through_duck[0]
    assert str(s.pop("session_date")) == d.pop("session_date")[:10]
    assert {k: float(v) for k, v in s.items()} == {k: float(v) for k, v in d.items()} and s["sessions"] > 0


def test_duckdb_reads_the_delta_log_not_the_files(spark: SparkSession, config: Config, analyst_python: str, tmp_path: Path) -> None:
    """An overwrite and a DELETE leave the old files on disk until VACUUM: DuckDB must not see them, unless it travels back to them."""
    cfg = lake_config(config, tmp_path / "lake")
    path = SEGMENTS.path(cfg.lake)
    assert lake.append(spark, cfg, SEGMENTS, segments(5)) == 5
    five = delta_version(spark, path)  # the write's commit, or the table comment's after it: the version with 5 rows
    assert lake.append(spark, cfg, SEGMENTS, segments(3)) == 3  # not append-only: replaces the table
    three = delta_version(spark, path)
    assert three > five
    parquet = list(Path(path).glob("*.parquet"))
    assert len(parquet) > 1  # both versions' files are on disk
    count = "SELECT count(*) AS n, sum(segment_id) AS s FROM ml_segments"
    assert duck(analyst_python, cfg.lake.root, count, out=tmp_path / "now.json") == [{"n": 3, "s": 3}]
    assert duck(analyst_python, cfg.lake.root, count, "--version", f"ml_segments={five}", out=tmp_path / "v0.json") == [{"n": 5, "s": 10}]
    assert query(spark, cfg, count).collect()[0].asDict() == {"n": 3, "s": 3}
    spark.sql(f"DELETE FROM delta.`{path}` WHERE segment_id = 2")  # a new version: the file is rewritten without the row
    assert delta_version(spark, path) == three + 1
    assert duck(analyst_python, cfg.lake.root, count, out=tmp_path / "deleted.json") == [{"n": 2, "s": 1}]
    assert duck(analyst_python, cfg.lake.root, count, "--version", f"ml_segments={three}", out=tmp_path / "v1.json") == [{"n": 3, "s": 3}]
    assert query(spark, cfg, count).collect()[0].asDict() == {"n": 2, "s": 1}


def test_ecomlake_sql_prints_and_writes_results(gold_lake: Config, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    keys = cli_keys(gold_lake)
    daily = "SELECT kpi_date, sessions FROM ecomlake.gold_daily_kpis ORDER BY kpi_date"
    assert main(["sql", *keys, "--engine", "spark", daily, "--max-rows", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["kpi_date", "sessions"] and len(out) == 5 and out[-1].startswith("(first 3 rows, ")
    for fmt in ("csv", "json", "parquet"):
        path = tmp_path / f"kpis.{fmt}"
        assert main(["sql", *keys, "--engine", "spark", daily, "--format", fmt, "--out", str(path)]) == 0
        assert path.is_file() and f"rows written to {path} ({fmt})" in capsys.readouterr().out
    assert (tmp_path / "kpis.csv").read_text().count("\n") == 1 + 28  # a header and the 28 generated days
    assert main(["sql", *keys, "--engine", "spark", "SELECT * FROM gold_nope"]) == 2
    assert "the query failed: [TABLE_OR_VIEW_NOT_FOUND]" in capsys.readouterr().err


def test_the_catalog_names_every_table_with_the_dictionarys_comments(spark: SparkSession, model_lake: Config) -> None:
    """DESCRIBE and spark.catalog show the data dictionary's texts: every table's description and every column's meaning."""
    registered = lake.register_all(spark, model_lake.lake)
    schemas = {t.key: t.schema(model_lake.featurize.windows_days) for t in ALL_TABLES}
    assert len(registered) >= 20
    for table in registered:
        name = table.qualified_name(model_lake.lake)
        schema = schemas[table.key]
        assert spark.catalog.getTable(name).description == schema.description, name
        comments = {c.name: c.description for c in spark.catalog.listColumns(name)}
        assert comments == {f.name: f.comment for f in schema.fields}, name
    described = {r.col_name: r.comment for r in spark.sql("DESCRIBE TABLE gold_sessions").collect()}
    assert described["dwell_seconds"].startswith("sum over events of the gap to the session's next event")


def test_register_all_points_the_names_at_the_lake_asked(spark: SparkSession, config: Config, tmp_path: Path) -> None:
    """One session, two lakes with the same database name: the names follow the last lake registered."""
    first, second = lake_config(config, tmp_path / "first"), lake_config(config, tmp_path / "second")
    lake.append(spark, first, SEGMENTS, segments(2))
    lake.append(spark, second, SEGMENTS, segments(5))
    name = SEGMENTS.qualified_name(config.lake)
    assert spark.table(name).count() == 5
    assert SEGMENTS in lake.register_all(spark, first.lake) and spark.table(name).count() == 2
    lake.register_all(spark, second.lake)
    assert spark.table(name).count() == 5
