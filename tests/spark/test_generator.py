"""The generator on real Spark: the manifest matches the files, the traffic looks real, a seed is reproducible.

The checks read the written files back with their own parsing (not the cleaning code), so they
test what a downstream reader sees.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from ecomlake import jobs, lake
from ecomlake.catalog import RUN_LEDGER
from ecomlake.cli import main
from ecomlake.config import Config, FaultRates
from ecomlake.errors import ConfigError, InputMissingError
from ecomlake.generate import catalog
from ecomlake.generate.dataset import generate_dataset
from ecomlake.generate.faults import FAULT_KINDS
from ecomlake.generate.output import CSV_HEADER
from ecomlake.job import Context, SparkJob
from ecomlake.manifest import MANIFEST_DIR, read_manifest
from tests.support import cli_keys, lake_config

EVENTS = 60_000
START = "2019-09-30"  # a Monday: seven days cover each weekday once
DAYS = 7
TIME_PATTERN = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC$"


def generate(spark: SparkSession, config: Config, out: Path, **changes: Any) -> dict[str, Any]:
    gen = dataclasses.replace(config.generator, output=str(out), **changes)
    return generate_dataset(spark, gen)


@pytest.fixture(scope="module")
def csv_set(spark: SparkSession, config: Config, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("gen") / "csv"
    manifest = generate(spark, config, out, events=EVENTS, days=DAYS, start_date=dt.date.fromisoformat(START))
    return out, manifest


@pytest.fixture(scope="module")
def lines(spark: SparkSession, csv_set: tuple[Path, dict[str, Any]]) -> DataFrame:
    """Every data line of the CSV files with its fields split; header lines removed."""
    out, _ = csv_set
    text = spark.read.text(str(out)).where(F.col("value") != CSV_HEADER)
    return text.select("value", "event_date", F.split("value", ",").alias("f"))


@pytest.fixture(scope="module")
def events(lines: DataFrame) -> DataFrame:
    """The well-formed lines, typed. Cached: many tests read it."""
    is_well_formed = (F.size("f") == 9) & F.col("f")[0].rlike(TIME_PATTERN) & F.col("f")[2].rlike(r"^\d+$")
    typed = lines.where(is_well_formed).select(
        F.to_timestamp(F.substring(F.col("f")[0], 1, 19), "yyyy-MM-dd HH:mm:ss").alias("event_time"),
        F.col("f")[1].alias("event_type"),
        F.col("f")[2].cast("long").alias("product_id"),
        F.col("f")[3].cast("long").alias("category_id"),
        F.nullif(F.col("f")[4], F.lit("")).alias("category_code"),
        F.nullif(F.col("f")[5], F.lit("")).alias("brand"),
        F.col("f")[6].cast("double").alias("price"),
        F.nullif(F.col("f")[7], F.lit("")).cast("long").alias("user_id"),
        F.col("f")[8].alias("user_session"),
        F.col("event_date"),
    )
    return typed.cache()  # reused by every test of the module


@pytest.fixture(scope="module")
def bot_users(events: DataFrame) -> DataFrame:
    """Users with 60 or more events in some minute: no person clicks that fast."""
    per_minute = events.where(F.col("user_id").isNotNull()).groupBy("user_id", F.date_trunc("minute", "event_time")).count()
    return per_minute.where(F.col("count") >= 60).select("user_id").distinct()


@pytest.fixture(scope="module")
def human(events: DataFrame, bot_users: DataFrame) -> DataFrame:
    """Events free of every injected fault (near-duplicates aside) and not from bots."""
    trusted = events.where(
        F.col("user_id").isNotNull()
        & F.col("event_type").isin("view", "cart", "remove_from_cart", "purchase")
        & F.col("price").between(0, 1e6)
        & (F.to_date("event_time") == F.col("event_date"))
    )
    return trusted.join(bot_users, "user_id", "left_anti").dropDuplicates()


# ---- the manifest matches what is in the files -------------------------------------------------


def test_rows_and_layout(lines: DataFrame, csv_set: tuple[Path, dict[str, Any]]) -> None:
    out, manifest = csv_set
    assert lines.count() == manifest["totals"]["rows"]
    dates = sorted(p.name for p in out.iterdir() if p.name.startswith("event_date="))
    assert dates == [f"event_date=2019-{d}" for d in ("09-30", "10-01", "10-02", "10-03", "10-04", "10-05", "10-06")]
    first_file = next(out.glob("event_date=2019-09-30/part-*.csv"))
    assert first_file.read_text().splitlines()[0] == "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session"
    per_date = {str(r["event_date"]): r["count"] for r in lines.groupBy("event_date").count().collect()}
    assert per_date == {d: v["rows"] for d, v in manifest["dates"].items()}


def test_manifest_is_a_folder_beside_the_data_that_readers_skip(spark: SparkSession, csv_set: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    out, manifest = csv_set
    beside = {p.name for p in out.iterdir() if not p.name.startswith("event_date=")}
    assert MANIFEST_DIR in beside and beside - {MANIFEST_DIR} <= {"_SUCCESS", "._SUCCESS.crc"}  # hidden from Spark's readers: _ and .
    assert (out / MANIFEST_DIR).is_dir()
    assert read_manifest(str(out)) == manifest == read_manifest(str(out), spark)  # locally and through Spark: the same document
    assert read_manifest(f"file:{out}") == manifest
    assert manifest["generator"]["events"] == EVENTS and manifest["layout"] == "rees46" and manifest["format"] == "csv"
    missing = f"no manifest at {tmp_path}/{MANIFEST_DIR}: the data there is incomplete or missing; "
    with pytest.raises(InputMissingError) as err:
        read_manifest(str(tmp_path))
    assert str(err.value) == missing + "the job that writes the data writes it last"
    with pytest.raises(InputMissingError) as err:
        read_manifest(str(tmp_path), spark, written_by="generate")
    assert str(err.value) == missing + "run `ecomlake generate` to write it"


def test_malformed_lines_match_manifest(lines: DataFrame, events: DataFrame, csv_set: tuple[Path, dict[str, Any]]) -> None:
    _, manifest = csv_set
    malformed = lines.count() - events.count()
    assert malformed == manifest["totals"]["faults"]["malformed"] > 0
    truncated = lines.where(F.size("f") == 8).count()
    assert 0 < truncated < malformed  # one of four kinds, like REES46's cut last line


def test_value_faults_match_manifest(events: DataFrame, csv_set: tuple[Path, dict[str, Any]]) -> None:
    faults = csv_set[1]["totals"]["faults"]
    assert events.where(F.col("user_id").isNull()).count() == faults["null_user"] > 0
    unknown = events.where(~F.col("event_type").isin("view", "cart", "remove_from_cart", "purchase")).count()
    assert unknown == faults["unknown_event_type"] > 0
    assert events.where((F.col("price") < 0) | (F.col("price") > 1e6)).count() == faults["bad_price"] > 0
    in_period = F.col("event_time").between(F.lit(f"{START} 00:00:00").cast("timestamp"), F.lit("2019-10-06 23:59:59").cast("timestamp"))
    assert events.where(~in_period).count() == faults["bad_timestamp"] > 0


def test_missing_category_faults_match_manifest(events: DataFrame, csv_set: tuple[Path, dict[str, Any]]) -> None:
    coded = [i for i, c in enumerate(catalog.CATEGORIES) if c.code is not None]
    category_index = ((F.col("category_id") - catalog.CATEGORY_ID_BASE) / catalog.CATEGORY_ID_STEP).cast("int")
    blanked = events.where(F.col("category_code").isNull() & category_index.isin(coded))
    assert blanked.count() == csv_set[1]["totals"]["faults"]["missing_category"] > 0
    assert blanked.where(F.col("brand").isNotNull()).count() == 0


def test_duplicates_and_near_duplicates_match_manifest(events: DataFrame, csv_set: tuple[Path, dict[str, Any]]) -> None:
    faults = csv_set[1]["totals"]["faults"]
    distinct = events.dropDuplicates()
    assert events.count() - distinct.count() == faults["duplicate"] > 0
    by_key = Window.partitionBy("user_id", "product_id", "event_type").orderBy("event_time")
    gap = F.col("event_time").cast("long") - F.lag("event_time").over(by_key).cast("long")
    near = distinct.where(F.col("user_id").isNotNull()).select(gap.alias("gap")).where(F.col("gap") <= 1)
    assert near.count() == faults["near_duplicate"] > 0


def test_bots_match_manifest_and_never_buy(events: DataFrame, bot_users: DataFrame, csv_set: tuple[Path, dict[str, Any]]) -> None:
    manifest = csv_set[1]
    bot_events = events.join(bot_users, "user_id", "left_semi")
    assert bot_users.count() == manifest["bot_users"] > 0
    assert bot_events.count() == manifest["totals"]["bot_events"]
    assert bot_events.where(F.col("event_type") != "view").count() == 0


# ---- the traffic looks like real traffic ------------------------------------------------------


def test_funnel_shares(human: DataFrame, csv_set: tuple[Path, dict[str, Any]]) -> None:
    counts = {r["event_type"]: r["count"] for r in human.groupBy("event_type").count().collect()}
    total = sum(counts.values())
    assert counts == csv_set[1]["totals"]["event_types"] or abs(total - csv_set[1]["totals"]["human_events"]) / total < 0.01
    assert counts["view"] / total > 0.85
    assert 0.01 < counts["cart"] / total < 0.08
    assert 0.001 < counts["remove_from_cart"] / total < 0.03
    assert 0.003 < counts["purchase"] / total < 0.05  # purchases well under 5% of events
    assert counts["purchase"] < counts["cart"]


def test_events_target_is_met(csv_set: tuple[Path, dict[str, Any]]) -> None:
    assert abs(csv_set[1]["totals"]["human_events"] - EVENTS) / EVENTS < 0.05


def test_every_purchase_follows_a_cart_of_that_product(spark: SparkSession, config: Config, tmp_path: Path) -> None:
    # Without faults (a fault can blank or move the cart row), the funnel holds for every purchase.
    no_faults = FaultRates(**{name: 0.0 for name in FAULT_KINDS})
    generate(spark, config, tmp_path / "clean", events=20_000, faults=no_faults, format="parquet")
    rows = spark.read.parquet(str(tmp_path / "clean"))
    carts = rows.where(F.col("event_type") == "cart").select("user_session", "product_id", F.col("event_time").alias("cart_time"))
    purchases = rows.where(F.col("event_type") == "purchase")
    assert purchases.count() > 50
    first_cart = (
        purchases.join(carts, ["user_session", "product_id"], "left")
        .groupBy("user_session", "product_id", "event_time")
        .agg(F.min("cart_time").alias("first_cart"))
    )
    assert first_cart.where(F.col("first_cart").isNull() | (F.col("first_cart") >= F.col("event_time"))).count() == 0
    removes = rows.where(F.col("event_type") == "remove_from_cart").join(carts, ["user_session", "product_id"], "left_anti")
    assert removes.count() == 0  # a removal is of a product in the cart


def test_product_popularity_is_heavy_tailed(human: DataFrame) -> None:
    views = human.where(F.col("event_type") == "view").groupBy("product_id").count()
    counts = sorted((r["count"] for r in views.collect()), reverse=True)  # a few thousand products
    top = max(1, len(counts) // 100)
    share = sum(counts[:top]) / sum(counts)
    assert 0.08 < share < 0.6, share  # top 1% of products get far more than 1% of views


def test_user_activity_is_heavy_tailed(human: DataFrame) -> None:
    per_user = sorted((r["count"] for r in human.groupBy("user_id").count().collect()), reverse=True)
    top = max(1, len(per_user) // 100)
    assert sum(per_user[:top]) / sum(per_user) > 0.03
    assert per_user[0] > 10 * (sum(per_user) / len(per_user))


def test_sessions_have_realistic_length_and_gaps(human: DataFrame) -> None:
    sessions = human.groupBy("user_id", "user_session").agg(
        F.count(F.lit(1)).alias("events"), F.min("event_time").alias("start"), F.max("event_time").alias("end")
    )
    stats = sessions.agg(F.avg("events").alias("mean"), F.percentile_approx("events", 0.5).alias("median"), F.max("events").alias("max")).first()
    assert 3 <= stats["mean"] <= 9 and 2 <= stats["median"] <= 6 and stats["max"] <= 45
    in_session = Window.partitionBy("user_session").orderBy("event_time")
    max_gap = human.select((F.col("event_time").cast("long") - F.lag("event_time").over(in_session).cast("long")).alias("gap")).agg(F.max("gap"))
    assert max_gap.first()[0] < 1800  # no inactivity gap inside a session
    per_user = Window.partitionBy("user_id").orderBy("start")
    between = sessions.select((F.col("start").cast("long") - F.lag("end").over(per_user).cast("long")).alias("gap")).agg(F.min("gap"))
    assert between.first()[0] >= 1800  # a user's sessions are split by 30+ minutes of inactivity


def test_day_night_and_weekday_cycles(human: DataFrame) -> None:
    by_hour = {r["h"]: r["count"] for r in human.groupBy(F.hour("event_time").alias("h")).count().collect()}
    assert sum(by_hour[h] for h in (18, 19, 20, 21)) > 2.5 * sum(by_hour[h] for h in (2, 3, 4, 5))
    by_day = {r["d"]: r["count"] for r in human.groupBy(F.weekday("event_time").alias("d")).count().collect()}
    assert by_day[0] > 1.1 * by_day[5]  # Monday busier than Saturday


def test_categories_brands_and_prices(human: DataFrame) -> None:
    products = human.groupBy("product_id").agg(
        F.countDistinct("price").alias("prices"),
        F.first("category_code", ignorenulls=True).alias("code"),
        F.first("brand", ignorenulls=True).alias("brand"),
    )
    assert products.where(F.col("prices") > 1).count() == 0  # a product has one price
    share_without_code = products.where(F.col("code").isNull()).count() / products.count()
    assert 0.05 < share_without_code < 0.4  # REES46 has categories without a code
    assert human.where(F.col("category_code").rlike(r"^[a-z_]+(\.[a-z_]+)+$")).count() > 0.5 * human.count()
    prices = human.agg(F.percentile_approx("price", [0.1, 0.5, 0.99]).alias("p")).first()["p"]
    assert 1 < prices[0] < prices[1] < prices[2] < 20_000


# ---- formats and determinism -------------------------------------------------------------------


def _content_digests(out: Path) -> dict[str, str]:
    """Digest of each data file by partition and part number (file names hold a random job id)."""
    digests = {}
    for path in sorted(out.glob("event_date=*/part-*")):
        part = re.match(r"part-(\d+)", path.name).group(1)  # type: ignore[union-attr]
        digests[f"{path.parent.name}/{part}"] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def test_same_seed_gives_byte_identical_files(spark: SparkSession, config: Config, tmp_path: Path) -> None:
    first = generate(spark, config, tmp_path / "a", events=5_000, rows_per_file=2_000)
    second = generate(spark, config, tmp_path / "b", events=5_000, rows_per_file=2_000)
    assert (first["totals"], first["dates"]) == (second["totals"], second["dates"])
    assert len(_content_digests(tmp_path / "a")) >= 3
    assert _content_digests(tmp_path / "a") == _content_digests(tmp_path / "b")
    generate(spark, config, tmp_path / "c", events=5_000, rows_per_file=2_000, seed=7)
    assert _content_digests(tmp_path / "a") != _content_digests(tmp_path / "c")


def test_json_lines_output_through_the_job_with_its_run_record(
    spark: SparkSession, config: Config, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "json"
    delivered = out / "event_date=2019-09-01" / "delivery.json"  # the folder holds a day's raw file: refused without --force
    delivered.parent.mkdir(parents=True)
    delivered.write_text('{"event_type": "view"}\n')
    cfg = lake_config(config, tmp_path / "lake", f"generator.output={out}")
    generate = jobs.load("generate")
    assert isinstance(generate, SparkJob)
    with pytest.raises(ConfigError) as refused:  # the job's own run, as without --force: no run record to write
        generate.run(Context(spark, cfg), generate.params())
    assert str(refused.value).startswith(f"generator.output {out}: refused, it is not empty (1 entry: event_date=2019-09-01)")
    assert refused.value.exit_code == 2 and delivered.read_text() == '{"event_type": "view"}\n'
    argv = ["generate", *cli_keys(cfg), "--events", "5000", "--format", "json", "--output", str(out), "--force"]
    assert main(argv) == 0  # replaces it, and says what it replaced
    printed = capsys.readouterr()
    assert f"generate --force: replacing everything in {out} (1 entry: event_date=2019-09-01)" in printed.err
    assert not delivered.parent.exists()
    manifest = read_manifest(str(out), spark)
    totals = manifest["totals"]
    summary = next(line for line in printed.out.splitlines() if line.startswith("generate: "))
    assert summary.startswith(
        f"generate: {totals['rows']:,} rows ({totals['human_events']:,} human events, {totals['bot_events']:,} bot events, "
        f"{sum(totals['faults'].values()):,} faults); peak memory "
    )
    assert f"; json files and _manifest in {out} (" in summary
    # generate's figures are in ops.run_ledger (ops.generator_runs is gone): the manifest's totals and what was asked.
    ledger = lake.read(spark, cfg, RUN_LEDGER)
    (end,) = ledger.where(F.col("status") == "succeeded").collect()
    assert (end.job, end.run_date, end.rows_in, end.rows_out, end.error) == ("generate", None, None, totals["rows"], None)
    assert end.figures == {
        "rows": totals["rows"],
        "human_events": totals["human_events"],
        "bot_events": totals["bot_events"],
        "events_target": 5_000,
        "seed": cfg.generator.seed,
        "days": 1,
        **{f"fault_{kind}": totals["faults"][kind] for kind in FAULT_KINDS},
    }
    assert end.figures["fault_malformed"] > 0 and set(totals["faults"]) == set(FAULT_KINDS)
    assert [r.status for r in ledger.where(F.col("run_id") == end.run_id).orderBy("started_at", "status").collect()] == ["running", "succeeded"]
    manifest = read_manifest(str(out))
    rows = (
        spark.read.schema("event_time string, event_type string, product_id long, user_id long, _corrupt string")
        .option("columnNameOfCorruptRecord", "_corrupt")
        .json(str(out))
        .cache()
    )  # Spark refuses corrupt-column-only queries on raw files
    assert rows.count() == manifest["totals"]["rows"]
    assert rows.where(F.col("_corrupt").isNotNull()).count() == manifest["totals"]["faults"]["malformed"] > 0
    assert rows.where(F.col("_corrupt").isNull() & F.col("user_id").isNull()).count() == manifest["totals"]["faults"]["null_user"]


def test_parquet_output_is_typed_and_has_no_malformed_rows(spark: SparkSession, config: Config, tmp_path: Path) -> None:
    manifest = generate(spark, config, tmp_path / "pq", events=5_000, format="parquet")
    rows = spark.read.parquet(str(tmp_path / "pq"))
    assert rows.count() == manifest["totals"]["rows"]
    assert manifest["totals"]["faults"]["malformed"] == 0
    types = dict(rows.dtypes)
    assert types["event_time"] == "timestamp" and types["price"] == "double" and types["product_id"] == "bigint"
