"""The session helper and the lake IO module on real Spark and Delta."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from pyspark.errors import PySparkException
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from ecomlake import demo, lake
from ecomlake.config import Config
from ecomlake.errors import InputMissingError
from ecomlake.session import DELTA_JARS, cached_delta_jars

SCRATCH = lake.Table("ops", "scratch_test", partition_by=("day",))


def test_session_is_configured_from_config(spark: SparkSession, config: Config) -> None:
    conf = spark.conf
    assert conf.get("spark.sql.extensions") == "io.delta.sql.DeltaSparkSessionExtension"
    assert conf.get("spark.sql.catalog.spark_catalog") == "org.apache.spark.sql.delta.catalog.DeltaCatalog"
    assert conf.get("spark.sql.session.timeZone") == "UTC"
    assert conf.get("spark.sql.shuffle.partitions") == "2"
    assert spark.sparkContext.master == "local[2]"
    # Spark adds a unique sub-folder per application under the configured checkpoint dir.
    assert f"{config.spark.checkpoint_dir}/" in str(spark.sparkContext.getCheckpointDir())


def test_session_starts_offline_from_the_jar_cache(spark: SparkSession, config: Config) -> None:
    # scripts/setup.sh caches the jars; the session must then use the files, not Maven.
    jars = cached_delta_jars(config.spark)
    assert jars is not None, "run scripts/setup.sh: it caches Delta's jars"
    assert sorted(Path(j).name for j in spark.conf.get("spark.jars").split(",")) == sorted(DELTA_JARS)


def test_write_read_and_register(spark: SparkSession, config: Config) -> None:
    df = spark.createDataFrame([("2019-10-01", 1), ("2019-10-02", 2)], "day string, n int")
    lake.write_table(df, config.lake, SCRATCH)
    assert sorted(lake.read_table(spark, config.lake, SCRATCH).collect()) == sorted(df.collect())
    assert spark.sql(f"SELECT sum(n) FROM {SCRATCH.qualified_name(config.lake)}").first()[0] == 3
    assert (Path(SCRATCH.path(config.lake)) / "_delta_log").is_dir()


def test_replace_where_replaces_only_its_slice(spark: SparkSession, config: Config) -> None:
    lake.write_table(spark.createDataFrame([("2019-10-01", 1), ("2019-10-02", 2)], "day string, n int"), config.lake, SCRATCH)
    lake.write_table(spark.createDataFrame([("2019-10-02", 20)], "day string, n int"), config.lake, SCRATCH, replace_where="day = '2019-10-02'")
    rows = {r.day: r.n for r in lake.read_table(spark, config.lake, SCRATCH).collect()}
    assert rows == {"2019-10-01": 1, "2019-10-02": 20}


def test_failed_write_leaves_the_previous_version(spark: SparkSession, config: Config) -> None:
    good = spark.createDataFrame([("2019-10-01", 1)], "day string, n int")
    lake.write_table(good, config.lake, SCRATCH)
    # ANSI mode: the cast fails inside the write's tasks, after files may have been written.
    bad = spark.createDataFrame([("2019-10-01", "x")], "day string, n string").select("day", F.col("n").cast("int").alias("n"))
    with pytest.raises(PySparkException):
        lake.write_table(bad, config.lake, SCRATCH)
    assert lake.read_table(spark, config.lake, SCRATCH).collect() == good.collect()


def test_missing_table_names_it(spark: SparkSession, config: Config) -> None:
    with pytest.raises(InputMissingError, match=r"ecomlake\.ops_nothing_here does not exist"):
        lake.read_table(spark, config.lake, lake.Table("ops", "nothing_here"))


def test_demo_leaves_delta_tables_spark_reads_back(spark: SparkSession, config: Config, capsys: pytest.CaptureFixture[str]) -> None:
    demo.run(spark, config, argparse.Namespace(events=3_000))
    out = capsys.readouterr().out
    summary = {name: rows for name, rows, _, _ in lake.table_summary(spark, config.lake)}
    assert summary[lake.GENERATOR_RUNS.qualified_name(config.lake)] >= 1
    assert "ecomlake.ops_generator_runs" in out and "generate:" in out and "funnel (sessions): view->cart" in out
    report = Path(config.lake.root) / "reports" / str(config.generator.start_date) / "report.html"
    assert f"report {config.generator.start_date}: {report} with 6 charts" in out and report.is_file()
    for gold in (lake.SESSIONS, lake.USER_FEATURES, lake.ITEM_FEATURES, lake.INTERACTIONS, lake.DAILY_KPIS):
        assert summary[gold.qualified_name(config.lake)] > 0, gold.name
    run = lake.read_table(spark, config.lake, lake.GENERATOR_RUNS).orderBy(F.desc("started_at")).first()
    assert run["events_target"] == 3_000 and run["rows"] > 3_000 and run["faults"]["duplicate"] >= 0
