"""The session helper and the lake IO module (ecomlake.lake) on real Spark and Delta.

lake.predicate renders slices for Delta's replaceWhere; lake.read names the table, the slice and the
command to run when its input is missing; lake.write returns the rows of its own commit; lake.append
fills columns by name. The demo, last, runs the suite end to end in a lake of its own.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest
from delta.tables import DeltaTable
from pyspark.errors import PySparkException
from pyspark.sql import Row, SparkSession
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from ecomlake import demo, jobs, lake
from ecomlake.catalog import (
    DAILY_KPIS,
    INTERACTIONS,
    ITEM_FEATURES,
    LABELS,
    MODEL_RUNS,
    PROPENSITY_SCORES,
    RUN_LEDGER,
    SESSIONS,
    USER_FEATURES,
    Table,
)
from ecomlake.config import Config
from ecomlake.errors import InputMissingError
from ecomlake.job import Context, SparkJob, execute
from ecomlake.manifest import read_manifest
from ecomlake.schema import DATE, DOUBLE, INT, LONG, STRING, ArrayOf, Field, MapOf, StructOf
from ecomlake.session import DELTA_JARS, cached_delta_jars
from tests.support import lake_config

DAY1, DAY2, DAY3 = dt.date(2019, 10, 1), dt.date(2019, 10, 2), dt.date(2019, 10, 3)
_FIELDS = (Field("day", DATE, "the day"), Field("n", LONG, "a count", "rows"), Field("label", STRING, "a label"))
SCRATCH = Table("ops", "scratch_test", ("scratch",), "one row per test value", _FIELDS, partition_by=("day",))
SCRATCH_LOG = Table("ops", "scratch_log", ("scratch",), "one row per test event", _FIELDS, append_only=True)
RANKED = StructOf((("rank", INT), ("name", STRING)))
NESTED = Table(
    "ops",
    "scratch_nested",
    ("scratch",),
    "one row per test record",
    (
        Field("id", LONG, "the record", nullable=False),
        Field("note", STRING, "a note"),
        Field("best", RANKED, "a ranked name"),
        Field("top", ArrayOf(RANKED), "ranked names"),
        Field("figures", MapOf(STRING, DOUBLE), "figures by name"),
    ),
)
SCRATCH_DDL = "day date, n long, label string"


@pytest.fixture
def own_lake(config: Config, tmp_path: Path) -> Config:
    """A lake of the test's own: the tables start absent."""
    return lake_config(config, tmp_path / "lake")


# ---- the session ----------------------------------------------------------------------------------


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


# ---- lake.predicate: each literal quoted for its type ----------------------------------------------


def test_predicate_renders_each_literal_for_its_type() -> None:
    assert lake.predicate({"run_date": DAY1}) == "`run_date` = DATE'2019-10-01'"
    assert lake.predicate({"model": "als"}) == "`model` = 'als'"
    assert lake.predicate({"label": "it's"}) == "`label` = 'it\\'s'"
    assert lake.predicate({"label": "C:\\temp\\"}) == "`label` = 'C:\\\\temp\\\\'"
    assert lake.predicate({"label": "\\'"}) == "`label` = '\\\\\\''"  # a backslash, then a quote: each escaped on its own
    assert lake.predicate({"n": 42}) == "`n` = 42"
    assert lake.predicate({"n": -7}) == "`n` = -7"
    assert lake.predicate({"flag": True}) == "`flag` = true" and lake.predicate({"flag": False}) == "`flag` = false"  # not 1 / 0
    assert lake.predicate({"as_of_date": [DAY1, DAY2]}) == "`as_of_date` IN (DATE'2019-10-01', DATE'2019-10-02')"
    assert lake.predicate({"target": ("churned", "o'clock")}) == "`target` IN ('churned', 'o\\'clock')"
    assert lake.predicate({"n": [1, 2, 3]}) == "`n` IN (1, 2, 3)"
    assert lake.predicate({"as_of_date": []}) == "false"  # no values: an empty slice, not every row
    assert lake.predicate({"run_date": DAY1, "target": ["churned", "purchased"]}) == (
        "`run_date` = DATE'2019-10-01' AND `target` IN ('churned', 'purchased')"
    )
    assert lake.predicate({"run_date": DAY1, "source_file": []}) == "`run_date` = DATE'2019-10-01' AND false"
    with pytest.raises(TypeError, match="a slice takes dates, not times"):
        lake.predicate({"run_date": dt.datetime(2019, 10, 1, 12, 0)})
    assert lake.describe({"as_of_date": DAY1, "target": ["churned", "purchased"]}) == "as_of_date = 2019-10-01 and target in (churned, purchased)"


AWKWARD = ["plain", "it's", "back\\slash", "ends with \\", "\\'", "quote ' and \\ both", 'double "quoted"', ""]


def test_predicate_selects_exactly_its_rows_in_spark(spark: SparkSession) -> None:
    """Spark's SQL parser reads the rendered literals back as the very values: quotes and backslashes included."""
    df = spark.createDataFrame(
        [(i, s, DAY1 + dt.timedelta(days=i), i % 2 == 0) for i, s in enumerate(AWKWARD)], "i long, s string, d date, even boolean"
    )
    slices = [{"s": value} for value in AWKWARD] + [
        {"s": AWKWARD[1:4]},
        {"d": [DAY2, DAY3], "even": True},
        {"i": [0, 5], "even": False},
        {"s": []},
    ]
    # One query: each slice's predicate as a boolean column, parsed by Spark.
    matched = df.select("i", *[F.expr(lake.predicate(where)).alias(f"p{k}") for k, where in enumerate(slices)]).collect()
    rows_of = [sorted(r.i for r in matched if r[f"p{k}"]) for k in range(len(slices))]
    assert rows_of[: len(AWKWARD)] == [[i] for i in range(len(AWKWARD))], list(zip(AWKWARD, rows_of, strict=False))
    assert rows_of[len(AWKWARD) :] == [[1, 2, 3], [2], [5], []]


# ---- lake.write: one commit, its rows -------------------------------------------------------------


def test_write_read_and_register(spark: SparkSession, own_lake: Config) -> None:
    df = spark.createDataFrame([(DAY1, 1, "a"), (DAY2, 2, "b")], SCRATCH_DDL)
    assert lake.write(df, own_lake, SCRATCH) == 2
    assert sorted(lake.read(spark, own_lake, SCRATCH).collect()) == sorted(df.collect())
    assert spark.sql(f"SELECT sum(n) FROM {SCRATCH.qualified_name(own_lake.lake)}").first()[0] == 3
    assert (Path(SCRATCH.path(own_lake.lake)) / "_delta_log").is_dir() and lake.exists(spark, own_lake.lake, SCRATCH)
    assert sorted(p.name for p in Path(SCRATCH.path(own_lake.lake)).glob("day=*")) == ["day=2019-10-01", "day=2019-10-02"]
    stored = lake.read(spark, own_lake, SCRATCH).schema
    assert [(f.name, f.dataType.simpleString(), f.metadata.get("comment")) for f in stored] == [
        ("day", "date", "the day"),
        ("n", "bigint", "a count [rows]"),
        ("label", "string", "a label"),
    ]
    assert DeltaTable.forPath(spark, SCRATCH.path(own_lake.lake)).detail().first()["description"] == "one row per test value"


def test_a_table_an_earlier_version_wrote_gets_the_new_columns(spark: SparkSession, own_lake: Config, caplog: pytest.LogCaptureFixture) -> None:
    # Tables written before `label` was documented (plain Delta writes: an earlier version of the code).
    for table in (SCRATCH, SCRATCH_LOG):
        old = spark.createDataFrame([(DAY1, 1)], "day date, n long").write.format("delta")
        old.partitionBy(*table.partition_by).save(table.path(own_lake.lake))
    with caplog.at_level(logging.INFO, logger="ecomlake.lake"):
        assert lake.write(spark.createDataFrame([(DAY2, 2, "b")], SCRATCH_DDL), own_lake, SCRATCH, {"day": DAY2}) == 1
        assert lake.append(spark, own_lake, SCRATCH_LOG, [{"day": DAY2, "n": 2, "label": "b"}]) == 1
    for table in (SCRATCH, SCRATCH_LOG):
        assert f"{table.qualified_name(own_lake.lake)}: adding the columns label (the table was written by an earlier version)" in caplog.text
        stored = lake.read(spark, own_lake, table)
        assert sorted(stored.collect()) == [Row(day=DAY1, n=1, label=None), Row(day=DAY2, n=2, label="b")]
        assert stored.schema["label"].metadata.get("comment") == "a label"


def test_write_conforms_to_the_documented_schema(spark: SparkSession, own_lake: Config) -> None:
    # Columns in another order and other types are put in the documented order and cast.
    df = spark.createDataFrame([("x", 5, "2019-10-01")], "label string, n int, day string")
    assert lake.write(df, own_lake, SCRATCH) == 1
    assertDataFrameEqual(lake.read(spark, own_lake, SCRATCH), [Row(day=DAY1, n=5, label="x")])
    assert lake.read(spark, own_lake, SCRATCH).columns == ["day", "n", "label"]
    with pytest.raises(
        ValueError, match=r"ops\.scratch_test: output columns do not match the documented schema; missing \['label'\], extra \['other'\]"
    ):
        lake.write(spark.createDataFrame([(DAY1, 1, "o")], "day date, n long, other string"), own_lake, SCRATCH)


def test_write_returns_the_rows_of_its_own_commit(spark: SparkSession, own_lake: Config) -> None:
    three = spark.createDataFrame([(DAY1, 1, "a"), (DAY2, 2, "b"), (DAY2, 3, "c")], SCRATCH_DDL)
    assert lake.write(three, own_lake, SCRATCH) == 3  # the whole table
    two = spark.createDataFrame([(DAY2, 20, "b"), (DAY2, 30, "c")], SCRATCH_DDL)
    assert lake.write(two, own_lake, SCRATCH, {"day": DAY2}) == 2  # the slice's rows, not the table's 3
    one = spark.createDataFrame([(DAY3, 300, "d")], SCRATCH_DDL)
    assert lake.write(one, own_lake, SCRATCH, {"day": [DAY3]}) == 1  # a new slice beside the others
    assert lake.read(spark, own_lake, SCRATCH).count() == 4
    empty = spark.createDataFrame([], SCRATCH_DDL)
    assert lake.write(empty, own_lake, SCRATCH, {"day": DAY3}) == 0  # the slice emptied
    assert sorted((r.day, r.n) for r in lake.read(spark, own_lake, SCRATCH).collect()) == [(DAY1, 1), (DAY2, 20), (DAY2, 30)]
    assert lake.write(one, own_lake, SCRATCH) == 1  # a whole-table write again: the new rows only
    assert lake.read(spark, own_lake, SCRATCH).count() == 1


def test_write_to_an_append_only_table_adds_rows(spark: SparkSession, own_lake: Config) -> None:
    df = spark.createDataFrame([(DAY1, 1, "a"), (DAY1, 2, "b")], SCRATCH_DDL)
    assert lake.write(df, own_lake, SCRATCH_LOG) == 2
    assert lake.write(df.limit(1), own_lake, SCRATCH_LOG) == 1
    assert lake.read(spark, own_lake, SCRATCH_LOG).count() == 3
    assert lake.write(df, own_lake, SCRATCH_LOG, rebuild=True) == 2  # a rebuild replaces the history
    assert lake.read(spark, own_lake, SCRATCH_LOG).count() == 2


def test_replace_where_replaces_only_its_slice(spark: SparkSession, own_lake: Config) -> None:
    lake.write(spark.createDataFrame([(DAY1, 1, "it's"), (DAY2, 2, "back\\slash"), (DAY2, 3, "x")], SCRATCH_DDL), own_lake, SCRATCH)
    lake.write(spark.createDataFrame([(DAY2, 20, "back\\slash")], SCRATCH_DDL), own_lake, SCRATCH, {"day": DAY2, "label": "back\\slash"})
    lake.write(spark.createDataFrame([(DAY1, 10, "it's")], SCRATCH_DDL), own_lake, SCRATCH, {"label": ["it's"]})
    rows = sorted((r.day, r.label, r.n) for r in lake.read(spark, own_lake, SCRATCH).collect())
    assert rows == [(DAY1, "it's", 10), (DAY2, "back\\slash", 20), (DAY2, "x", 3)]
    # Every row must fall in the slice: Delta refuses the commit, and the table keeps its rows.
    with pytest.raises(PySparkException, match="(?i)replaceWhere|DELTA_REPLACE_WHERE"):
        lake.write(spark.createDataFrame([(DAY3, 9, "x")], SCRATCH_DDL), own_lake, SCRATCH, {"day": DAY2})
    assert sorted((r.day, r.label, r.n) for r in lake.read(spark, own_lake, SCRATCH).collect()) == rows
    with pytest.raises(ValueError, match=r"ops\.scratch_test: a slice names bogus, which are not columns"):
        lake.write(spark.createDataFrame([(DAY2, 9, "x")], SCRATCH_DDL), own_lake, SCRATCH, {"day": DAY2, "bogus": 1})


def test_failed_write_leaves_the_previous_version(spark: SparkSession, own_lake: Config) -> None:
    good = spark.createDataFrame([(DAY1, 1, "a")], SCRATCH_DDL)
    lake.write(good, own_lake, SCRATCH)
    # ANSI mode: the cast fails inside the write's tasks, after files may have been written.
    bad = spark.createDataFrame([(DAY1, "x", "b")], "day date, n string, label string").select("day", F.col("n").cast("long").alias("n"), "label")
    with pytest.raises(PySparkException):
        lake.write(bad, own_lake, SCRATCH)
    assert lake.read(spark, own_lake, SCRATCH).collect() == good.collect()


# ---- lake.read: a missing input names the table, the slice and the command ---------------------------


def test_a_missing_table_names_it_its_path_and_the_command(spark: SparkSession, own_lake: Config) -> None:
    path = USER_FEATURES.path(own_lake.lake)
    with pytest.raises(InputMissingError) as err:
        lake.read(spark, own_lake, USER_FEATURES, {"as_of_date": dt.date(2019, 9, 1)})
    assert str(err.value) == f"ecomlake.gold_user_features does not exist at {path}; run `ecomlake featurize --date 2019-09-01` first"
    assert err.value.exit_code == 3
    with pytest.raises(InputMissingError, match=r"^ecomlake\.gold_user_features does not exist at .*; run `ecomlake featurize` first$"):
        lake.read(spark, own_lake, USER_FEATURES)  # no date in the slice: no --date
    with pytest.raises(InputMissingError, match=r"^ecomlake\.ops_nothing_here does not exist at .*/ops/nothing_here; run `ecomlake scratch` first$"):
        lake.read(spark, own_lake, Table("ops", "nothing_here", ("scratch",), "none", _FIELDS))
    # Several producers: each is named.
    with pytest.raises(InputMissingError) as err:
        lake.read(spark, own_lake, MODEL_RUNS, {"model": "als"})
    assert str(err.value).endswith(
        "; run `ecomlake profile` or run `ecomlake recommend` or run `ecomlake propensity` or run `ecomlake sequences` or "
        "run `ecomlake train-lstm` first"
    )


def test_an_empty_slice_names_the_table_the_slice_and_the_command(spark: SparkSession, own_lake: Config) -> None:
    labels = spark.createDataFrame(
        [(1, DAY1, 7, True, False)], "user_id long, cutoff_date date, horizon_days int, churned boolean, purchased boolean"
    )
    lake.write(labels, own_lake, LABELS)
    assert lake.read(spark, own_lake, LABELS, {"cutoff_date": DAY1}).count() == 1
    with pytest.raises(InputMissingError) as err:
        lake.read(spark, own_lake, LABELS, {"cutoff_date": dt.date(2019, 9, 1)})
    assert str(err.value) == "ecomlake.gold_labels has no rows with cutoff_date = 2019-09-01; run `ecomlake featurize --date 2019-09-01` first"
    with pytest.raises(InputMissingError) as err:
        lake.read(spark, own_lake, LABELS, {"cutoff_date": DAY1, "user_id": [2, 3]})
    assert (
        str(err.value)
        == "ecomlake.gold_labels has no rows with cutoff_date = 2019-10-01 and user_id in (2, 3); run `ecomlake featurize --date 2019-10-01` first"
    )
    with pytest.raises(
        InputMissingError, match=r"^ecomlake\.gold_labels has no rows with cutoff_date in \(2019-09-01, 2019-09-02\); run `ecomlake featurize` first$"
    ):
        lake.read(spark, own_lake, LABELS, {"cutoff_date": [dt.date(2019, 9, 1), dt.date(2019, 9, 2)]})  # two dates: no single --date
    with pytest.raises(ValueError, match=r"gold\.labels: a slice names label_date, which are not columns"):
        lake.read(spark, own_lake, LABELS, {"label_date": DAY1})


def test_missing_empty_gives_the_tables_schema_without_rows(spark: SparkSession, own_lake: Config) -> None:
    windows = own_lake.featurize.windows_days
    absent = lake.read(spark, own_lake, USER_FEATURES, {"as_of_date": DAY1}, missing="empty")
    assert absent.count() == 0 and absent.schema == USER_FEATURES.schema(windows).struct()
    assert absent.columns == USER_FEATURES.schema(windows).names and "views_90d" in absent.columns
    other_windows = lake_config(own_lake, Path(own_lake.lake.root), "featurize.windows_days=[7, 28]")
    assert "views_28d" in lake.read(spark, other_windows, USER_FEATURES, missing="empty").columns  # the configured windows
    scores = lake.read(spark, own_lake, PROPENSITY_SCORES, {"run_date": DAY1, "target": ["churned"]}, missing="empty")
    assert scores.count() == 0 and scores.columns == PROPENSITY_SCORES.schema().names
    # An existing table's empty slice is not checked either: no rows, no error.
    lake.write(spark.createDataFrame([(DAY1, 1, "a")], SCRATCH_DDL), own_lake, SCRATCH)
    assert lake.read(spark, own_lake, SCRATCH, {"day": DAY2}, missing="empty").count() == 0
    with pytest.raises(
        InputMissingError, match=r"^ecomlake\.ops_scratch_test has no rows with day = 2019-10-02; run `ecomlake scratch --date 2019-10-02` first$"
    ):
        lake.read(spark, own_lake, SCRATCH, {"day": DAY2})


# ---- lake.append: records by column name --------------------------------------------------------------


def test_append_fills_columns_by_name(spark: SparkSession, own_lake: Config) -> None:
    records = [
        {"figures": {"auc": 0.75}, "id": 1, "best": {"name": "phones", "rank": 1}, "top": [{"rank": 1, "name": "a"}, {"name": "b", "rank": 2}]},
        {"id": 2, "note": "no struct", "best": {"name": "only a name"}},  # a missing key is NULL, in a struct too
        {"id": 3, "best": (3, "a tuple"), "top": []},  # a struct as a tuple in the schema's field order
    ]
    assert lake.append(spark, own_lake, NESTED, records) == 3
    got = {r.id: r.asDict(recursive=True) for r in lake.read(spark, own_lake, NESTED).collect()}
    assert got == {
        1: {
            "id": 1,
            "note": None,
            "best": {"rank": 1, "name": "phones"},
            "top": [{"rank": 1, "name": "a"}, {"rank": 2, "name": "b"}],
            "figures": {"auc": 0.75},
        },
        2: {"id": 2, "note": "no struct", "best": {"rank": None, "name": "only a name"}, "top": None, "figures": None},
        3: {"id": 3, "note": None, "best": {"rank": 3, "name": "a tuple"}, "top": [], "figures": None},
    }
    assert lake.append(spark, own_lake, NESTED, [{"id": 1, "note": "again"}], {"id": 1}) == 1  # where: the slice the records replace
    assert {r.id: r.note for r in lake.read(spark, own_lake, NESTED).collect()} == {1: "again", 2: "no struct", 3: None}


def test_append_refuses_a_key_that_is_not_a_column(spark: SparkSession, own_lake: Config) -> None:
    with pytest.raises(ValueError) as err:
        lake.append(spark, own_lake, NESTED, [{"id": 1}, {"id": 2, "notes": "typo", "score": 1.0}])
    assert str(err.value) == "ops.scratch_nested: no column notes, score; columns are id, note, best, top, figures"
    assert not lake.exists(spark, own_lake.lake, NESTED)  # nothing written, not even the good record


def test_append_to_an_append_only_table_adds_rows(spark: SparkSession, own_lake: Config) -> None:
    assert lake.append(spark, own_lake, SCRATCH_LOG, [{"day": DAY1, "n": 1}]) == 1
    assert lake.append(spark, own_lake, SCRATCH_LOG, [{"day": DAY1, "n": 2, "label": "b"}, {"n": 3}]) == 2
    assert sorted(((r.day, r.n, r.label) for r in lake.read(spark, own_lake, SCRATCH_LOG).collect()), key=lambda r: r[1]) == [
        (DAY1, 1, None),
        (DAY1, 2, "b"),
        (None, 3, None),
    ]


# ---- the demo --------------------------------------------------------------------------------------------


def test_demo_leaves_delta_tables_spark_reads_back(spark: SparkSession, config: Config, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = lake_config(config, tmp_path / "demo")
    job = jobs.load("demo")
    assert isinstance(job, SparkJob)
    result = execute(job, Context(spark, cfg), demo.DemoParams(events=3_000), echo=True)  # as `ecomlake demo --events 3000` runs it
    out = capsys.readouterr().out
    day = cfg.generator.start_date
    summary = {name: rows for name, rows, _, _ in lake.table_summary(spark, cfg)}
    assert result.tables == lake.table_summary(spark, cfg) and result.lake_root == cfg.lake.root
    assert f"demo: lake at {cfg.lake.root}" in out and "generate:" in out and "funnel (sessions): view->cart" in out
    assert (
        f"demo: done; {len(result.tables)} Delta tables in the lake, read back through Spark (" in out and RUN_LEDGER.qualified_name(cfg.lake) in out
    )
    report = Path(cfg.lake.root) / "reports" / str(day) / "report.html"
    assert f"report {day}: {report} with 6 charts" in out and report.is_file()
    for gold in (SESSIONS, USER_FEATURES, ITEM_FEATURES, INTERACTIONS, DAILY_KPIS):
        assert summary[gold.qualified_name(cfg.lake)] > 0, gold.name
    assert summary[RUN_LEDGER.qualified_name(cfg.lake)] >= 2
    # generate's figures are in ops.run_ledger (there is no ops.generator_runs any more), and they are the manifest's.
    ledger = lake.read(spark, cfg, RUN_LEDGER)
    (run,) = ledger.where((F.col("job") == "generate") & (F.col("status") == "succeeded")).collect()
    manifest = read_manifest(cfg.generator.output, spark)
    totals = manifest["totals"]
    assert run["figures"] == {
        "rows": totals["rows"],
        "human_events": totals["human_events"],
        "bot_events": totals["bot_events"],
        "events_target": 3_000,
        "seed": cfg.generator.seed,
        "days": 1,
        **{f"fault_{kind}": n for kind, n in totals["faults"].items()},
    }
    assert run["rows_out"] == totals["rows"] > 3_000 and run["run_date"] is None and run["error"] is None
    assert set(totals["faults"]) >= {"duplicate", "near_duplicate", "malformed", "missing_category"}
    assert ledger.where((F.col("run_id") == run["run_id"]) & (F.col("status") == "running")).count() == 1
    statuses = {(r.job, r.status) for r in ledger.where(F.col("run_date") == F.lit(day)).collect()}
    for done in ("ingest", "clean", "featurize", "profile", "recommend", "report"):
        assert (done, "succeeded") in statuses, done
    assert ("propensity", "skipped") in statuses  # one day: no labels yet
