"""ecomlake pipeline on two generated days: backfill in order, the run ledger, skips on re-run, --force, --from, failures.

Steps ingest, clean, featurize and propensity (which is skipped: two days have no labels yet) keep it quick;
the model steps are the same calls as their own jobs, tested in their own files.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from ecomlake import lake
from ecomlake.cli import main
from ecomlake.config import Config
from ecomlake.errors import ConfigError, InputMissingError
from ecomlake.generate.dataset import generate_dataset
from ecomlake.pipeline import ledger
from ecomlake.pipeline.job import run, run_pipeline
from tests.conftest import cli_keys, lake_config

DAY1 = dt.date(2019, 10, 1)
DAY2 = DAY1 + dt.timedelta(days=1)
STEPS = "pipeline.steps=[ingest, clean, featurize, propensity]"


def ledger_rows(spark: SparkSession, cfg: Config) -> list[tuple]:
    df = lake.read_table(spark, cfg.lake, lake.RUN_LEDGER)
    return [(r.run_id, r.step, r.run_date, r.status) for r in df.orderBy("started_at").collect()]


def sessions(spark: SparkSession, cfg: Config) -> list[tuple]:
    return sorted(tuple(r) for r in lake.read_table(spark, cfg.lake, lake.SESSIONS).drop("session_start", "session_end").collect())


@pytest.fixture(scope="module")
def backfilled(spark: SparkSession, config: Config, tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, object]:
    cfg = lake_config(config, tmp_path_factory.mktemp("pipeline"), STEPS)
    generate_dataset(spark, dataclasses.replace(cfg.generator, events=3_000, days=2, output=f"{cfg.lake.root}/landing/events"))
    args = argparse.Namespace(date=None, start=DAY1, end=DAY2, force=False, start_step=None, only_step=None, quiet=True)
    return cfg, run(spark, cfg, args)


def test_backfill_runs_each_day_in_order_and_records_every_step(spark: SparkSession, backfilled: tuple[Config, object]) -> None:
    cfg, r = backfilled
    expected = [(d, s) for d in (DAY1, DAY2) for s in ("ingest", "clean", "featurize", "propensity")]
    assert [(x.run_date, x.step) for x in r.records] == expected
    statuses = {(x.run_date, x.step): x.status for x in r.records}
    assert statuses[(DAY2, "propensity")] == ledger.SKIPPED and statuses[(DAY2, "featurize")] == ledger.SUCCEEDED
    skipped = [x for x in r.records if x.status == ledger.SKIPPED]
    assert all(x.step == "propensity" and "labels" in x.error for x in skipped)
    clean = next(x for x in r.records if x.step == "clean" and x.run_date == DAY2)
    assert clean.rows_in >= clean.rows_out > 0
    rows = lake.read_table(spark, cfg.lake, lake.RUN_LEDGER)
    # Each attempt: a running row at its start, then its outcome.
    assert rows.where(F.col("status") == ledger.RUNNING).count() == 8 and rows.where(F.col("status") != ledger.RUNNING).count() == 8
    assert rows.select("run_id").distinct().count() == 1
    assert rows.where(F.col("config_hash").isNull() | F.col("code_version").isNull() | (F.col("seconds") < 0)).count() == 0
    assert rows.where((F.col("status") == ledger.RUNNING) != F.col("ended_at").isNull()).count() == 0


def test_rerun_skips_succeeded_steps_and_force_reruns_to_the_same_tables(spark: SparkSession, backfilled: tuple[Config, object]) -> None:
    cfg, _ = backfilled
    before_ledger, before_sessions = ledger_rows(spark, cfg), sessions(spark, cfg)
    again = run_pipeline(spark, cfg, [DAY2], quiet=True)
    # Succeeded steps are not run again; the skipped one (no labels yet) is tried again, and skipped again.
    assert again.already_done == ((DAY2, "ingest"), (DAY2, "clean"), (DAY2, "featurize"))
    assert [(x.step, x.status) for x in again.records] == [("propensity", ledger.SKIPPED)]
    forced = run_pipeline(spark, cfg, [DAY2], force=True, start_step="featurize", quiet=True)
    assert [(x.step, x.status) for x in forced.records] == [("featurize", ledger.SUCCEEDED), ("propensity", ledger.SKIPPED)]
    assert sessions(spark, cfg) == before_sessions
    after = ledger_rows(spark, cfg)
    assert after[: len(before_ledger)] == before_ledger and len(after) == len(before_ledger) + 2 * 3  # both runs stay visible


def test_a_failed_step_stops_the_dag_with_its_exit_code_and_is_recorded(spark: SparkSession, backfilled: tuple[Config, object]) -> None:
    cfg, _ = backfilled
    day3 = DAY2 + dt.timedelta(days=1)  # no files landed for it
    with pytest.raises(InputMissingError, match=r"step ingest for 2019-10-03 failed: InputMissingError: ") as failed:
        run_pipeline(spark, cfg, [day3, day3 + dt.timedelta(days=1)], quiet=True)
    assert failed.value.exit_code == 3
    rows = lake.read_table(spark, cfg.lake, lake.RUN_LEDGER).where(F.col("run_date") >= day3).collect()
    assert sorted((r.step, r.status) for r in rows) == [("ingest", ledger.FAILED), ("ingest", ledger.RUNNING)]
    assert "InputMissingError" in next(r.error for r in rows if r.status == ledger.FAILED)
    with pytest.raises(ConfigError, match="--from score-lstm: not among pipeline.steps"):
        run_pipeline(spark, cfg, [DAY2], start_step="score-lstm", quiet=True)
    with pytest.raises(ConfigError, match="--start needs --end"):
        run(spark, cfg, argparse.Namespace(date=None, start=DAY1, end=None, force=False, start_step=None, only_step=None, quiet=True))


def cli(cfg: Config, *argv: str) -> int:
    """``ecomlake <argv>`` in this process, on this lake (main leaves the test run's session running)."""
    return main([argv[0], *cli_keys(cfg, STEPS), *argv[1:]])  # argv's own --set come last and win


def test_only_runs_one_step_and_json_logs_carry_each_steps_figures(
    spark: SparkSession, backfilled: tuple[Config, object], capsys: pytest.CaptureFixture[str]
) -> None:
    cfg, _ = backfilled
    assert cli(cfg, "pipeline", "--date", str(DAY2), "--only", "clean", "--force", "--json-logs") == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[0].startswith(f"pipeline [1/1] {DAY2} clean: succeeded in ")
    events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    step = next(e for e in events if e.get("event") == "pipeline_step")
    assert step["step"] == "clean" and step["status"] == ledger.SUCCEEDED and step["run_date"] == str(DAY2)
    assert step["rows_in"] >= step["rows_out"] > 0 and step["seconds"] > 0 and step["level"] == "INFO"
    assert any(e.get("event") == "pipeline_run" and e["succeeded"] == 1 for e in events)
    # --quiet: nothing on stdout, and no info lines on stderr.
    assert cli(cfg, "pipeline", "--date", str(DAY2), "--only", "clean", "--quiet") == 0
    out, err = capsys.readouterr()
    assert out == "" and " INFO " not in err


def test_exit_codes_0_2_3_4_5(spark: SparkSession, config: Config, backfilled: tuple[Config, object], capsys: pytest.CaptureFixture[str]) -> None:
    """One distinct exit code per kind of failure, through the command line as a scheduler sees it."""
    cfg, _ = backfilled
    assert cli(cfg, "pipeline", "--date", str(DAY2)) == 0  # everything already done
    assert cli(cfg, "pipeline", "--date", str(DAY2), "--set", "spark.shuffle_partitions=0") == 2  # config error
    assert "key 'spark.shuffle_partitions': must be >= 1" in capsys.readouterr().err
    assert cli(cfg, "pipeline", "--date", str(DAY2 + dt.timedelta(days=5))) == 3  # no events landed for that day
    assert "step ingest for 2019-10-07 failed: InputMissingError" in capsys.readouterr().err
    assert cli(cfg, "sequences", "--date", str(DAY2)) == 4  # two days cannot fill train, validation and test
    assert "the train split" in capsys.readouterr().err
    # A step failing for any other reason: a data file of silver.events is gone from under its Delta log.
    # A file of the current version holding the day's events (a glob could find one an earlier version replaced).
    day_files = lake.read_table(spark, cfg.lake, lake.SILVER_EVENTS).where(F.col("event_date") == F.lit(DAY2)).select(F.input_file_name())
    Path(unquote(urlparse(sorted(r[0] for r in day_files.distinct().collect())[0]).path)).unlink()
    assert cli(cfg, "pipeline", "--date", str(DAY2), "--only", "featurize", "--force") == 5
    assert "step featurize for 2019-10-02 failed: " in capsys.readouterr().err
    assert spark.range(1).count() == 1  # the CLI left the session it did not start running ...
    assert str(spark.sparkContext.getCheckpointDir()).startswith(f"file:{config.spark.checkpoint_dir}/")  # ... as it was
