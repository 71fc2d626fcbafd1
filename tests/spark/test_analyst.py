"""Analysts' SQL: the tables by name through Spark (ecomlake sql), and without Spark through DuckDB on the Delta log.

The DuckDB side runs in its own environment (scripts/setup_analyst.sh), in a subprocess, against the
tables the Spark jobs wrote. Both engines are read-only: a statement that is not a query is refused before it runs.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from ecomlake import lake
from ecomlake.analyst.sql import query, require_read_only
from ecomlake.catalog import ALL_TABLES, DAILY_KPIS, SEGMENTS
from ecomlake.cli import main
from ecomlake.config import Config
from ecomlake.errors import ConfigError
from tests.support import GOLD_DAYS, GOLD_LAST_DAY, cli_keys, lake_config

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


# Statements that are not reads, and the plan node each is refused for (its simple class name in Spark 4.0 / Delta 4.0).
REFUSED = [
    ("DELETE FROM ecomlake.gold_daily_kpis WHERE sessions > 0", "DeleteFromTable"),
    ("UPDATE gold_daily_kpis SET sessions = 0", "UpdateTable"),
    ("MERGE INTO gold_daily_kpis k USING gold_sessions s ON k.kpi_date = s.session_date WHEN MATCHED THEN DELETE", "MergeIntoTable"),
    ("INSERT INTO gold_daily_kpis SELECT * FROM gold_daily_kpis", "InsertIntoStatement"),
    ("INSERT OVERWRITE TABLE gold_daily_kpis SELECT * FROM gold_daily_kpis LIMIT 0", "InsertIntoStatement"),
    ("INSERT OVERWRITE DIRECTORY '/tmp/kpis' USING parquet SELECT * FROM gold_daily_kpis", "InsertIntoDir"),
    ("DROP TABLE gold_daily_kpis", "DropTable"),
    ("CREATE TABLE kpis_copy AS SELECT * FROM gold_daily_kpis", "CreateTableAsSelect"),
    ("CREATE VIEW kpis AS SELECT * FROM gold_daily_kpis", "CreateView"),
    ("CREATE OR REPLACE TEMPORARY VIEW kpis AS SELECT 1", "CreateViewCommand"),
    ("CREATE FUNCTION f AS 'com.example.F'", "CreateFunction"),
    ("ALTER TABLE gold_daily_kpis ADD COLUMNS (x INT)", "AddColumns"),
    ("TRUNCATE TABLE gold_daily_kpis", "TruncateTable"),
    ("SET spark.sql.shuffle.partitions = 1", "SetCommand"),
    ("RESET", "ResetCommand"),
    ("CACHE TABLE gold_daily_kpis", "CacheTable"),
    ("UNCACHE TABLE gold_daily_kpis", "UncacheTable"),
    ("ADD JAR /tmp/x.jar", "AddJarsCommand"),
    ("REFRESH TABLE gold_daily_kpis", "RefreshTable"),
    ("MSCK REPAIR TABLE gold_daily_kpis", "RepairTable"),
    ("OPTIMIZE gold_daily_kpis ZORDER BY (sessions)", "OptimizeTableCommand"),  # Delta's SQL, parsed by Delta's parser
    ("VACUUM gold_daily_kpis RETAIN 0 HOURS", "VacuumTableCommand"),
    ("RESTORE TABLE gold_daily_kpis TO VERSION AS OF 0", "RestoreTableStatement"),
    ("CONVERT TO DELTA parquet.`/tmp/kpis`", "ConvertToDeltaCommand"),
    ("USE ecomlake", "SetCatalogAndNamespace"),
    ("CALL system.refresh()", "Call"),
    ("WITH k AS (SELECT * FROM gold_daily_kpis) INSERT INTO gold_daily_kpis SELECT * FROM k", "InsertIntoStatement"),  # behind a CTE
    ("FROM gold_daily_kpis INSERT INTO gold_daily_kpis SELECT *", "InsertIntoStatement"),  # Hive's multi-insert
    ("INSERT INTO IDENTIFIER('gold_daily_kpis') SELECT * FROM gold_daily_kpis", "PlanWithUnresolvedIdentifier"),  # built when analysed
    ("EXECUTE IMMEDIATE 'DROP TABLE gold_daily_kpis'", "ExecuteImmediateQuery"),
    ("EXPLAIN DELETE FROM gold_daily_kpis", "DeleteFromTable"),  # EXPLAIN of a query only
    ("SELECT TRANSFORM (sessions) USING 'cat' AS (s) FROM gold_daily_kpis", "ScriptTransformation"),  # runs a process
]
# Reads: queries (CTEs, subqueries, joins, set operations, ...) and the metadata commands analysts use.
READS = [
    "WITH d AS (SELECT kpi_date, sessions FROM gold_daily_kpis) SELECT * FROM d WHERE sessions > (SELECT avg(sessions) FROM d)",
    "SELECT k.kpi_date, count(*) FROM gold_daily_kpis k JOIN gold_sessions s ON s.session_date = k.kpi_date GROUP BY k.kpi_date ORDER BY 1 LIMIT 3",
    "SELECT * FROM gold_sessions WHERE user_id IN (SELECT user_id FROM gold_user_features) AND EXISTS (SELECT 1 FROM gold_daily_kpis)",
    "SELECT kpi_date, row_number() OVER (ORDER BY sessions DESC) AS r FROM gold_daily_kpis UNION ALL SELECT DATE '2019-10-01', 0",
    "SELECT * FROM gold_daily_kpis VERSION AS OF 0 TABLESAMPLE (50 PERCENT) EXCEPT SELECT * FROM gold_daily_kpis",
    "SELECT * FROM VALUES (1, 'a') AS v(n, s), LATERAL (SELECT v.n + 1 AS m), range(3) AS r(i)",
    "SELECT * FROM gold_daily_kpis PIVOT (sum(sessions) FOR kpi_date IN (DATE '2019-10-01'))",
    "SELECT /*+ REPARTITION(2) */ explode(array(1, 2)) AS x DISTRIBUTE BY x",
    "FROM gold_daily_kpis |> WHERE sessions > 0 |> AGGREGATE count(*) AS days",
    "TABLE gold_daily_kpis",
    "SELECT 1;",
    *("SHOW TABLES", "SHOW TABLES IN ecomlake", "SHOW TABLE EXTENDED LIKE 'gold_*'", "SHOW COLUMNS IN gold_daily_kpis", "SHOW VIEWS"),
    *("SHOW DATABASES", "SHOW NAMESPACES", "SHOW FUNCTIONS", "SHOW TBLPROPERTIES gold_daily_kpis", "SHOW CREATE TABLE gold_daily_kpis"),
    *("SHOW PARTITIONS gold_sessions", "DESCRIBE TABLE EXTENDED gold_daily_kpis", "DESCRIBE gold_daily_kpis sessions", "DESCRIBE FUNCTION upper"),
    *("DESCRIBE QUERY SELECT * FROM gold_daily_kpis", "DESCRIBE NAMESPACE ecomlake", "DESCRIBE HISTORY gold_daily_kpis"),
    *("DESCRIBE DETAIL gold_daily_kpis", "EXPLAIN FORMATTED WITH d AS (SELECT * FROM gold_daily_kpis) SELECT count(*) FROM d"),
]


@pytest.mark.parametrize(("statement", "kind"), REFUSED, ids=[kind + ":" + sql.split()[0] for sql, kind in REFUSED])
def test_spark_sql_refuses_what_is_not_a_read_on_its_parsed_plan(spark: SparkSession, statement: str, kind: str) -> None:
    with pytest.raises(ConfigError, match=rf"^ecomlake sql is read-only: {kind} is not a query;"):
        require_read_only(spark, statement)


@pytest.mark.parametrize("statement", ["SELECT 1; DROP TABLE gold_daily_kpis", "SELECT * FROM gold_daily_kpis; SELECT 2"])
def test_spark_sql_takes_one_statement(spark: SparkSession, statement: str) -> None:
    """Spark's parser refuses a second statement: a ConfigError with Spark's reason, nothing run."""
    with pytest.raises(ConfigError, match=r"^the query failed: \[PARSE_SYNTAX_ERROR\] Syntax error at or near '(DROP|SELECT)'"):
        require_read_only(spark, statement)


@pytest.mark.parametrize(
    "statement",
    ["SELECT reflect('java.lang.System', 'exit', 0)", "SELECT s FROM (SELECT upper(java_method('java.lang.Runtime', 'getRuntime')) AS s)"],
)
def test_spark_sql_refuses_calls_of_java_methods(spark: SparkSession, statement: str) -> None:
    with pytest.raises(ConfigError, match=r"^ecomlake sql is read-only: (reflect|java_method)\(\) calls Java methods"):
        require_read_only(spark, statement)


def test_spark_sql_takes_reads(spark: SparkSession) -> None:
    for statement in READS:
        require_read_only(spark, statement)  # raises on a refusal


def test_ecomlake_sql_runs_reads_and_refuses_a_delete(spark: SparkSession, gold_lake: Config, capsys: pytest.CaptureFixture[str]) -> None:
    """The refusal comes before Spark runs anything: the table's rows and Delta version stay as they were; reads run."""
    path = DAILY_KPIS.path(gold_lake.lake)
    before = (spark.read.format("delta").load(path).count(), delta_version(spark, path))
    delete = f"DELETE FROM ecomlake.gold_daily_kpis WHERE kpi_date = DATE '{GOLD_LAST_DAY}'"
    assert main(["sql", *cli_keys(gold_lake), "--engine", "spark", delete]) == 2
    err = capsys.readouterr().err
    assert "ecomlake sql: error: ecomlake sql is read-only: DeleteFromTable is not a query;" in err and "Traceback" not in err
    assert (spark.read.format("delta").load(path).count(), delta_version(spark, path)) == before == (GOLD_DAYS, before[1])
    assert query(spark, gold_lake, READS[0]).count() > 0
    assert len(query(spark, gold_lake, READS[1]).collect()) == 3
    assert "gold_daily_kpis" in {r.tableName for r in query(spark, gold_lake, "SHOW TABLES").collect()}
    assert "sessions" in {r.col_name for r in query(spark, gold_lake, "DESCRIBE TABLE gold_daily_kpis").collect()}


DUCK_TRY = """
import json, sys
from ecomlake.analyst.duck import DuckLake
from ecomlake.errors import ConfigError

lake, results = DuckLake(sys.argv[1]), {}
for statement in json.loads(sys.argv[2]):
    try:
        results[statement] = len(lake.sql(statement).fetchall())
    except ConfigError as exc:
        results[statement] = str(exc)
print(json.dumps(results))
"""


def test_duckdb_runs_selects_only(gold_lake: Config, analyst_python: str, tmp_path: Path) -> None:
    """The tables are views DuckDB cannot write, but DuckDB writes files (COPY TO, EXPORT, ATTACH): only SELECT and EXPLAIN of one run."""
    out = tmp_path / "out"
    out.mkdir()
    refused = {
        f"COPY (SELECT * FROM gold_daily_kpis) TO '{out}/kpis.csv'": "COPY",
        f"EXPORT DATABASE '{out}/exported'": "EXPORT",
        f"ATTACH '{out}/attached.db'": "ATTACH",
        "INSTALL httpfs": "LOAD",
        "DELETE FROM gold_daily_kpis": "DELETE",
        "CREATE TABLE kpis AS SELECT * FROM gold_daily_kpis": "CREATE",
        "SET threads = 1": "SET",
        "PRAGMA show_tables": "PRAGMA",
        f"SELECT 1; COPY (SELECT 1) TO '{out}/second.csv'": "COPY",  # DuckDB runs every statement of the text
        f"EXPLAIN ANALYZE COPY (SELECT 1) TO '{out}/explained.csv'": "EXPLAIN of anything but one SELECT",  # ANALYZE runs it
        f"EXPLAIN (ANALYZE) COPY (SELECT 1) TO '{out}/explained.csv'": "EXPLAIN of anything but one SELECT",
    }
    reads = [
        "WITH d AS (SELECT * FROM gold_daily_kpis) SELECT * FROM d WHERE sessions > (SELECT avg(sessions) FROM d)",
        "DESCRIBE gold_daily_kpis",
        "SHOW TABLES",
        "SUMMARIZE gold_daily_kpis",
        "EXPLAIN SELECT * FROM gold_daily_kpis",
        "EXPLAIN ANALYZE SELECT count(*) FROM ecomlake.gold_daily_kpis",
    ]
    files = {p: p.stat().st_mtime_ns for p in Path(gold_lake.lake.root).rglob("*")}
    statements = json.dumps([*refused, *reads])
    run = subprocess.run(
        [analyst_python, "-c", DUCK_TRY, gold_lake.lake.root, statements], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}
    )
    assert run.returncode == 0, run.stderr
    results = json.loads(run.stdout)
    for statement, kind in refused.items():
        assert str(results[statement]).startswith(f"ecomlake sql is read-only: {kind}"), (statement, results[statement])
    assert all(isinstance(results[statement], int) and results[statement] > 0 for statement in reads), results
    # The command line: exit 2, no file.
    cli = [analyst_python, "-m", "ecomlake", "sql", "--engine", "duckdb", "--lake", gold_lake.lake.root, next(iter(refused))]
    run = subprocess.run(cli, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert run.returncode == 2 and "ecomlake sql is read-only: COPY is not a query" in run.stderr, run.stderr
    assert list(out.iterdir()) == []
    assert {p: p.stat().st_mtime_ns for p in Path(gold_lake.lake.root).rglob("*")} == files
