"""Cleaning on real Spark and Delta: real REES46 rows, generated faults checked against the manifest,
idempotent re-runs, a killed run, pseudonymisation, and the conservation check."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from ecomlake import datasets, lake
from ecomlake.catalog import BRONZE_EVENTS, QUARANTINE, RUN_AUDIT, RUN_LEDGER, SILVER_EVENTS, USER_PSEUDONYMS, Table
from ecomlake.clean import day
from ecomlake.clean.job import CleanParams, CleanResult
from ecomlake.clean.job import run as clean_run
from ecomlake.config import Config
from ecomlake.errors import ConfigError, DataQualityError, InputMissingError
from ecomlake.generate import catalog
from ecomlake.generate.dataset import generate_dataset
from ecomlake.ingest.job import IngestParams
from ecomlake.ingest.job import run as ingest_run
from ecomlake.job import Context
from ecomlake.vocabulary import BOT, DUPLICATE
from tests.support import lake_config, run_job, secret_forms, sorted_rows

REES46_DAY = dt.date(2019, 10, 1)


def table(spark: SparkSession, cfg: Config, t: Table) -> DataFrame:
    return lake.read(spark, cfg, t)


def ingest(spark: SparkSession, cfg: Config, date: dt.date, *paths: str) -> None:
    """``ecomlake ingest --date D [--path P]`` with cfg's ingest.layout, run directly."""
    ingest_run(Context(spark, cfg), IngestParams(date, paths))


def clean(spark: SparkSession, cfg: Config, date: dt.date) -> day.Counts:
    """``ecomlake clean --date D``, run directly: where the rows went."""
    result = clean_run(Context(spark, cfg), CleanParams(date))
    assert isinstance(result, CleanResult) and result.run_date == date
    return result.counts


def columns(schema: StructType) -> list[tuple[str, str]]:
    """Names and types: Delta reads every column back as nullable, whatever was written."""
    return [(f.name, f.dataType.simpleString()) for f in schema.fields]


# ---- the real REES46 sample ------------------------------------------------------------------


@pytest.fixture(scope="module")
def rees46(spark: SparkSession, config: Config, tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, day.Counts]:
    cfg = lake_config(config, tmp_path_factory.mktemp("rees46"))
    ingest(spark, cfg, REES46_DAY, str(datasets.rees46_oct_head()))
    return cfg, clean(spark, cfg, REES46_DAY)


def test_rees46_row_conservation_figures(rees46: tuple[Config, day.Counts]) -> None:
    _, counts = rees46
    # Measured on the 17,435 rows of the sample and checked by hand: the cut last line is the one
    # malformed row; the sample's exact duplicate rows are dropped; no user clicks 60 times a minute.
    assert counts.rows_in == 17_435
    assert counts.quarantined_by_reason == {"malformed": 1}
    assert (counts.kept, counts.duplicates_exact, counts.duplicates_near, counts.bot_rows_removed) == EXPECTED_REES46
    assert counts.accounted == counts.rows_in


def test_rees46_silver_is_typed_partitioned_and_audited(spark: SparkSession, rees46: tuple[Config, day.Counts]) -> None:
    cfg, counts = rees46
    silver = table(spark, cfg, SILVER_EVENTS)
    assert columns(silver.schema) == columns(SILVER_EVENTS.schema().struct())
    assert silver.count() == counts.kept
    assert {r[0] for r in silver.select("event_date").distinct().collect()} == {REES46_DAY}
    assert silver.where(F.col("event_type") == "purchase").count() > 150
    audit = table(spark, cfg, RUN_AUDIT).where(F.col("step") == "clean").first()
    assert audit["status"] == "succeeded" and audit["rows_in"] == 17_435 and audit["rows_kept"] == counts.kept
    assert audit["run_date"] == REES46_DAY and audit["quarantined_by_reason"] == {"malformed": 1} and audit["error"] is None
    assert audit["inputs"] == f"{BRONZE_EVENTS.qualified_name(cfg.lake)} ingest_date={REES46_DAY}"


def test_rees46_fills_real_nulls(spark: SparkSession, rees46: tuple[Config, day.Counts]) -> None:
    cfg, _ = rees46
    silver = table(spark, cfg, SILVER_EVENTS)
    origins = {
        (r["category_code_origin"], r["brand_origin"]): r["count"] for r in silver.groupBy("category_code_origin", "brand_origin").count().collect()
    }
    assert origins[("source", "source")] > 5_000
    # The sample's NULL category codes belong to products that never have one: explicit unknown.
    assert sum(n for (code, _), n in origins.items() if code == "unknown") > 1_000
    assert silver.where(F.col("category_code").isNull() | F.col("brand").isNull()).count() == 0
    # A filled value is the product's most frequent known one.
    filled = silver.where(F.col("brand_origin") == "product").select("product_id", "brand").distinct()
    known = silver.where(F.col("brand_origin") == "source").groupBy("product_id").agg(F.max("brand").alias("known"))
    assert filled.join(known, "product_id", "left").where(F.col("brand") != F.col("known")).count() == 0


def test_rees46_quarantine_keeps_the_raw_line(spark: SparkSession, rees46: tuple[Config, day.Counts]) -> None:
    cfg, _ = rees46
    quarantine = table(spark, cfg, QUARANTINE)
    assert columns(quarantine.schema) == columns(QUARANTINE.schema().struct())
    (row,) = quarantine.collect()
    assert row["reason"] == "malformed" and row["raw_record"].startswith("2019-10-01 02:50")
    assert "could not split" in row["detail"] and row["source_file"].endswith("events.csv")


# ---- a generated day: each injected fault ends where it belongs --------------------------------


@pytest.fixture(scope="module")
def generated(spark: SparkSession, config: Config, tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, dict[str, Any], day.Counts]:
    root = tmp_path_factory.mktemp("generated")
    cfg = lake_config(config, root)
    gen = dataclasses.replace(cfg.generator, events=20_000, output=str(root / "landing"), bot_user_rate=0.003)
    manifest = generate_dataset(spark, gen)
    cfg = lake_config(config, root, f"ingest.landing={root / 'landing'}")
    ingest(spark, cfg, dt.date(2019, 10, 1))
    return cfg, manifest, clean(spark, cfg, dt.date(2019, 10, 1))


def test_every_fault_ends_where_it_belongs(generated: tuple[Config, dict[str, Any], day.Counts]) -> None:
    _, manifest, counts = generated
    totals, faults = manifest["totals"], manifest["totals"]["faults"]
    assert counts.rows_in == totals["rows"]
    assert counts.quarantined_by_reason == {
        "malformed": faults["malformed"],
        "null_user": faults["null_user"],
        "unknown_event_type": faults["unknown_event_type"],
        "bad_price": faults["bad_price"],
        "timestamp_out_of_range": faults["bad_timestamp"],
    }
    assert counts.duplicates_exact == faults["duplicate"]
    assert counts.duplicates_near == faults["near_duplicate"]
    assert counts.bot_rows_removed == totals["bot_events"] > 0
    row_faults = sum(faults[k] for k in ("malformed", "null_user", "unknown_event_type", "bad_price", "bad_timestamp"))
    assert counts.kept == totals["human_events"] - row_faults


def test_injected_missing_categories_are_filled(spark: SparkSession, generated: tuple[Config, dict[str, Any], day.Counts]) -> None:
    cfg, manifest, _ = generated
    silver = table(spark, cfg, SILVER_EVENTS)
    coded = [i for i, c in enumerate(catalog.CATEGORIES) if c.code is not None]
    category_index = ((F.col("category_id") - catalog.CATEGORY_ID_BASE) / catalog.CATEGORY_ID_STEP).cast("int")
    from_product = silver.where(F.col("category_code_origin") == "product").count()
    unfillable = silver.where((F.col("category_code_origin") == "unknown") & category_index.isin(coded)).count()
    # Blanked rows are filled from the product's other rows that day, unless the product had none.
    assert from_product + unfillable == manifest["totals"]["faults"]["missing_category"]
    assert from_product > 0.8 * manifest["totals"]["faults"]["missing_category"]


def test_bots_are_quarantined_with_the_rule(spark: SparkSession, generated: tuple[Config, dict[str, Any], day.Counts]) -> None:
    cfg, manifest, _ = generated
    bots = table(spark, cfg, QUARANTINE).where(F.col("reason") == BOT)
    assert bots.select("user_id").distinct().count() == manifest["bot_users"]
    assert bots.where(~F.col("detail").startswith("more than 60 events in a minute")).count() == 0


def test_quarantine_details_name_the_field_and_window(spark: SparkSession, generated: tuple[Config, dict[str, Any], day.Counts]) -> None:
    cfg, _, _ = generated
    details = table(spark, cfg, QUARANTINE).groupBy("reason").agg(F.collect_set("detail").alias("d")).collect()
    by_reason = {r["reason"]: r["d"] for r in details}
    # Run date 2019-10-01: 3 days of late arrivals before it, 60 minutes of clock skew after it.
    window = "is outside the trusted window [2019-09-28 00:00:00, 2019-10-02 01:00:00)"
    assert by_reason["timestamp_out_of_range"] and all(window in d for d in by_reason["timestamp_out_of_range"])
    assert all(d.startswith("price ") and "outside [0, 100000]" in d for d in by_reason["bad_price"])
    assert all(d.startswith("event_type '") for d in by_reason["unknown_event_type"])


def test_rerun_gives_identical_tables(spark: SparkSession, generated: tuple[Config, dict[str, Any], day.Counts]) -> None:
    cfg, _, counts = generated
    before = [sorted_rows(table(spark, cfg, t)) for t in (SILVER_EVENTS, QUARANTINE)]
    assert clean(spark, cfg, dt.date(2019, 10, 1)) == counts
    after = [sorted_rows(table(spark, cfg, t)) for t in (SILVER_EVENTS, QUARANTINE)]
    assert before == after
    runs = table(spark, cfg, RUN_AUDIT).where((F.col("step") == "clean") & (F.col("status") == "succeeded")).count()
    assert runs == 2


def test_conservation_failure_commits_nothing(
    spark: SparkSession, generated: tuple[Config, dict[str, Any], day.Counts], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg, _, _ = generated
    versions = {t.key: _version(spark, cfg, t) for t in (SILVER_EVENTS, QUARANTINE)}
    losing = day.classify
    # A classification that loses rows (as a bad inner join would) must stop the run before any write.
    monkeypatch.setattr(day, "classify", lambda *a: losing(*a).where(F.col("disposition") != DUPLICATE))
    with pytest.raises(DataQualityError, match="row conservation failed") as err:
        clean(spark, cfg, dt.date(2019, 10, 1))
    assert err.value.exit_code == 4 and str(err.value).endswith("; nothing was written")
    assert {t.key: _version(spark, cfg, t) for t in (SILVER_EVENTS, QUARANTINE)} == versions
    failed = table(spark, cfg, RUN_AUDIT).where(F.col("status") == "failed").first()
    assert "row conservation failed" in failed["error"] and failed["rows_in"] is not None


def _version(spark: SparkSession, cfg: Config, t: Table) -> int:
    from delta.tables import DeltaTable

    return DeltaTable.forPath(spark, t.path(cfg.lake)).history(1).first()["version"]


def test_missing_bronze_day_is_input_missing(spark: SparkSession, generated: tuple[Config, dict[str, Any], day.Counts]) -> None:
    cfg, _, _ = generated
    with pytest.raises(InputMissingError) as err:
        clean(spark, cfg, dt.date(2019, 10, 9))
    assert str(err.value) == "ecomlake.bronze_events has no rows with ingest_date = 2019-10-09; run `ecomlake ingest --date 2019-10-09` first"
    failed = table(spark, cfg, RUN_AUDIT).where((F.col("run_date") == F.lit(dt.date(2019, 10, 9))) & (F.col("status") == "failed")).first()
    assert failed["error"] == str(err.value) and failed["rows_in"] is None  # audited, though nothing was counted


# ---- other layouts, modes and privacy ---------------------------------------------------------


def test_retailrocket_layout_cleans(spark: SparkSession, config: Config, tmp_path: Path) -> None:
    raw = tmp_path / "events.csv"
    t0 = 1_433_221_332_117  # 2015-06-02 05:02:12 UTC
    lines = ["timestamp,visitorid,event,itemid,transactionid"] + [
        f"{t0},257597,view,355908,",
        f"{t0 + 60_000},257597,addtocart,355908,",
        f"{t0 + 120_000},257597,transaction,355908,4000",
        f"{t0 + 3 * 3_600_000},257597,view,1,",  # three hours later: a new session
        f"{t0},992329,view,248676,",
        f"{t0},992329,click,248676,",
    ]
    raw.write_text("\n".join(lines) + "\n")
    cfg = lake_config(config, tmp_path / "lake", "ingest.layout=retailrocket")
    ingest(spark, cfg, dt.date(2015, 6, 2), str(raw))
    counts = clean(spark, cfg, dt.date(2015, 6, 2))
    assert (counts.rows_in, counts.kept, counts.quarantined_by_reason) == (6, 5, {"unknown_event_type": 1})
    silver = table(spark, cfg, SILVER_EVENTS).where(F.col("user_id") == 257597).orderBy("event_time").collect()
    assert [r["event_type"] for r in silver] == ["view", "cart", "purchase", "view"]
    assert silver[2]["order_id"] == "4000" and silver[0]["event_time"] == dt.datetime(2015, 6, 2, 5, 2, 12, 117000)
    assert silver[0]["category_code"] == "unknown" and silver[0]["price"] is None


def test_bots_can_be_flagged_and_kept(spark: SparkSession, config: Config, tmp_path: Path) -> None:
    cfg = lake_config(config, tmp_path / "lake", "clean.bot_action=flag", f"ingest.landing={tmp_path / 'landing'}")
    manifest = generate_dataset(spark, dataclasses.replace(cfg.generator, events=3_000, output=str(tmp_path / "landing"), bot_user_rate=0.01))
    ingest(spark, cfg, dt.date(2019, 10, 1))
    counts = clean(spark, cfg, dt.date(2019, 10, 1))
    assert counts.bot_rows_removed == 0 and counts.bot_rows_flagged == manifest["totals"]["bot_events"] > 0
    assert table(spark, cfg, SILVER_EVENTS).where(F.col("is_bot")).count() == counts.bot_rows_flagged


SECRET = "a-test-pseudonym-key-of-more-than-32-bytes"


def test_pseudonymised_user_ids(spark: SparkSession, rees46: tuple[Config, day.Counts], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plain_cfg, plain_counts = rees46
    cfg = lake_config(plain_cfg, tmp_path / "lake", "privacy.pseudonymize_user_ids=true")
    ingest(spark, cfg, REES46_DAY, str(datasets.rees46_oct_head()))
    monkeypatch.delenv("ECOMLAKE_PSEUDONYM_KEY", raising=False)
    with pytest.raises(ConfigError, match="ECOMLAKE_PSEUDONYM_KEY holds no key of at least 32 bytes"):
        clean(spark, cfg, REES46_DAY)  # no key: refuse rather than write raw ids
    monkeypatch.setenv("ECOMLAKE_PSEUDONYM_KEY", "sixteen-byte-key")
    with pytest.raises(ConfigError, match=r"holds no key of at least 32 bytes \(16 found\)"):
        clean(spark, cfg, REES46_DAY)
    assert not lake.exists(spark, cfg.lake, SILVER_EVENTS)

    # As `ecomlake clean` runs on a cluster: Spark's event log on, the key in the executors' environment too.
    event_log = tmp_path / "event-log"
    event_log.mkdir()
    env = {**os.environ, "ECOMLAKE_LAKE_ROOT": cfg.lake.root, "ECOMLAKE_PSEUDONYM_KEY": SECRET}
    cmd = [sys.executable, "-m", "ecomlake", "clean", "--date", str(REES46_DAY), *[arg for key in (
        "privacy.pseudonymize_user_ids=true", f"ingest.landing={cfg.ingest.landing}", f"spark.jars_cache={cfg.spark.jars_cache}",
        "spark.conf.spark.eventLog.enabled=true", f"spark.conf.spark.eventLog.dir={event_log}", "spark.conf.spark.eventLog.compress=false",
        f"spark.conf.spark.executorEnv.ECOMLAKE_PSEUDONYM_KEY={SECRET}",
    ) for arg in ("--set", key)]]  # fmt: skip
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    logged = "".join(f.read_text() for f in sorted(event_log.rglob("events_*")))  # Spark 4 rolls its log: a folder of files
    # The log holds the plans (the hashing step among them) and the environment the UI shows, with the key's variable redacted.
    assert "MapInPandas" in logged and '"spark.executorEnv.ECOMLAKE_PSEUDONYM_KEY":"*********(redacted)"' in logged
    assert not [form for form in secret_forms(SECRET.encode()) if form in logged]

    # The same rows kept, dropped and quarantined; every user keeps their events under a number that is not the raw id.
    (run,) = lake.read(spark, cfg, RUN_LEDGER).where((F.col("job") == "clean") & (F.col("status") == "succeeded")).collect()
    assert (run.figures["kept"], run.figures["quarantined"]) == (plain_counts.kept, plain_counts.quarantined)
    plain = table(spark, plain_cfg, SILVER_EVENTS)
    hidden = table(spark, cfg, SILVER_EVENTS)
    raw_ids = {r[0] for r in plain.select("user_id").distinct().collect()}
    numbers = {r[0] for r in hidden.select("user_id").distinct().collect()}
    assert len(numbers) == len(raw_ids) and not raw_ids & numbers
    assert sorted(r[0] for r in plain.groupBy("user_id").count().select("count").collect()) == sorted(
        r[0] for r in hidden.groupBy("user_id").count().select("count").collect()
    )
    quarantined = table(spark, cfg, QUARANTINE).collect()
    # The sample's one cut line: neither its raw line nor the partial split's id is kept (bronze.events has both).
    assert [(q.reason, q.user_id, q.raw_record) for q in quarantined] == [("malformed", None, None)]
    pseudonyms = table(spark, cfg, USER_PSEUDONYMS)
    assert pseudonyms.count() == len(numbers) and {r.user_id for r in pseudonyms.collect()} == numbers == set(range(1, len(numbers) + 1))
    expected = {hmac.new(SECRET.encode(), str(i).encode(), hashlib.sha256).hexdigest()[:32] for i in raw_ids}
    assert {r.pseudonym for r in pseudonyms.collect()} == expected

    # Another key, or pseudonymisation off, stops before anything is read (a re-run's numbering: test_clean_rules).
    before = sorted_rows(hidden)
    monkeypatch.setenv("ECOMLAKE_PSEUDONYM_KEY", SECRET + "-rotated")
    with pytest.raises(ConfigError, match="the pseudonymisation key has changed: .* records fingerprint [0-9a-f]{16} .* has [0-9a-f]{16}"):
        clean(spark, cfg, REES46_DAY)
    with pytest.raises(ConfigError, match="pseudonymize_user_ids is off, but the lake's users are pseudonymised"):
        clean(spark, lake_config(plain_cfg, tmp_path / "lake"), REES46_DAY)
    assert sorted_rows(table(spark, cfg, SILVER_EVENTS)) == before


# ---- a run killed mid-write ---------------------------------------------------------------------


def test_killed_run_leaves_previous_version_and_rerun_is_correct(
    spark: SparkSession, generated: tuple[Config, dict[str, Any], day.Counts], tmp_path: Path
) -> None:
    cfg, _, counts = generated
    silver_dir = Path(SILVER_EVENTS.path(cfg.lake))
    before = sorted_rows(table(spark, cfg, SILVER_EVENTS))
    files_before = set(silver_dir.rglob("*.parquet"))
    ledger_before = {r.run_id for r in lake.read(spark, cfg, RUN_LEDGER, missing="empty").select("run_id").collect()}
    env = {**os.environ, "ECOMLAKE_LAKE_ROOT": cfg.lake.root}
    cmd = [sys.executable, "-m", "ecomlake", "clean", "--date", "2019-10-01", "--set", f"ingest.landing={cfg.ingest.landing}",
           "--set", f"spark.jars_cache={cfg.spark.jars_cache}"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not (set(silver_dir.rglob("*.parquet")) - files_before) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # until the run has started writing silver files
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert set(silver_dir.rglob("*.parquet")) - files_before, "the run was killed before it wrote anything; make the day bigger"
    assert sorted_rows(table(spark, cfg, SILVER_EVENTS)) == before  # the orphan files are not in the Delta log
    # The killed run left its 'running' record in ops.run_ledger and never an end: the driver died mid-run.
    killed = lake.read(spark, cfg, RUN_LEDGER).where(~F.col("run_id").isin(list(ledger_before)) & (F.col("job") == "clean")).collect()
    assert [(r.status, r.run_date, r.ended_at) for r in killed] == [("running", dt.date(2019, 10, 1), None)]
    # The re-run through the job runner, as `ecomlake clean` runs it: the same counts, the same silver, and its record.
    result = run_job(spark, cfg, "clean", date=dt.date(2019, 10, 1))
    assert result.counts == counts
    assert sorted_rows(table(spark, cfg, SILVER_EVENTS)) == before
    (end,) = lake.read(spark, cfg, RUN_LEDGER).where((F.col("job") == "clean") & (F.col("status") == "succeeded")).collect()
    assert (end.run_date, end.rows_in, end.rows_out, end.error) == (dt.date(2019, 10, 1), counts.rows_in, result.rows_out, None)
    assert result.rows_out == counts.kept + counts.quarantined + counts.bot_rows_removed
    assert end.figures == {name: float(n) for name, n in result.figures().items()}
    assert end.figures["kept"] == counts.kept and end.figures["quarantined_bad_price"] == counts.quarantined_by_reason["bad_price"]
    audit = table(spark, cfg, RUN_AUDIT).where(F.col("run_id") == end.run_id).collect()
    assert [(a.status, a.rows_kept) for a in audit] == [("succeeded", counts.kept)]  # one run id: the ledger's and the audit's


# (kept, exact duplicates, near duplicates, bot rows) on the sample; the same figures come out of an
# independent pandas reading of the file (duplicated(); same user/product/type within 1 s; at most 8
# events in any user's minute).
EXPECTED_REES46 = (17_420, 5, 9, 0)
