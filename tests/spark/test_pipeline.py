"""ecomlake pipeline on generated days: backfill in order, the run ledger, skips on re-run (of steps done by a pipeline or
by the job alone), --force, --from, --only, failures, the structured logs and the exit codes; not due (skipped) versus
missing (failed).

Steps ingest, clean, featurize and propensity (which is skipped: a few days cannot have labels yet) keep it quick;
the model steps are the same calls as their own jobs, tested in their own files. Three days land; the backfill
covers the first two, the third is left for a test that runs some of its jobs alone first.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from ecomlake import jobs, lake, ledger
from ecomlake.catalog import LABELS, RUN_LEDGER, SESSIONS, SILVER_EVENTS
from ecomlake.cli import main
from ecomlake.config import Config
from ecomlake.errors import ConfigError, InputMissingError, NotDueError
from ecomlake.generate.dataset import generate_dataset
from ecomlake.ingest.read import day_input_path
from ecomlake.job import Context
from ecomlake.ml import registry
from ecomlake.pipeline import job as pipeline
from ecomlake.pipeline.job import ALREADY, PipelineParams, PipelineResult
from tests.support import cli_keys, lake_config

DAY1 = dt.date(2019, 10, 1)
DAY2 = DAY1 + dt.timedelta(days=1)
DAY3 = DAY2 + dt.timedelta(days=1)  # landed, not backfilled
NOT_LANDED = DAY1 + dt.timedelta(days=10)
STEP_NAMES = ("ingest", "clean", "featurize", "propensity")
STEPS = f"pipeline.steps=[{', '.join(STEP_NAMES)}]"


def ledger_rows(spark: SparkSession, cfg: Config) -> list[tuple]:
    """Every ledger row, oldest first (a run's running row before its end row, which has the same started_at)."""
    df = lake.read(spark, cfg, RUN_LEDGER).orderBy("started_at", F.col("ended_at").asc_nulls_first())
    return [(r.run_id, r.job, r.run_date, r.status, r.pipeline_run_id) for r in df.collect()]


def sessions(spark: SparkSession, cfg: Config) -> list[tuple]:
    return sorted(tuple(r) for r in lake.read(spark, cfg, SESSIONS).drop("session_start", "session_end").collect())


def step_params(job: str, day: dt.date) -> str:
    """The parameters a pipeline step runs with, as the ledger stores them."""
    return ledger.params_json(jobs.load(job).params(date=day))


@pytest.fixture(scope="module")
def backfilled(spark: SparkSession, config: Config, tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, PipelineResult]:
    cfg = lake_config(config, tmp_path_factory.mktemp("pipeline"), STEPS)
    generate_dataset(spark, dataclasses.replace(cfg.generator, events=4_500, days=3, output=f"{cfg.lake.root}/landing/events"))
    return cfg, pipeline.run(Context(spark, cfg), PipelineParams(start=DAY1, end=DAY2))


def test_backfill_runs_each_day_in_order_and_records_every_step(spark: SparkSession, backfilled: tuple[Config, PipelineResult]) -> None:
    cfg, r = backfilled
    expected = [(d, s) for d in (DAY1, DAY2) for s in STEP_NAMES]
    assert [(x.run_date, x.job) for x in r.steps] == expected and r.dates == (DAY1, DAY2)
    statuses = {(x.run_date, x.job): x.status for x in r.steps}
    assert statuses[(DAY2, "propensity")] == ledger.SKIPPED and statuses[(DAY2, "featurize")] == ledger.SUCCEEDED
    assert (r.count(ledger.SUCCEEDED), r.count(ledger.SKIPPED), r.count(ALREADY), r.count(ledger.FAILED)) == (6, 2, 0, 0)
    skipped = [x for x in r.steps if x.status == ledger.SKIPPED]
    assert all(x.job == "propensity" and "labels" in x.error and ": not due yet, the lake's first day is 2019-10-01" in x.error for x in skipped)
    assert all(x.outcome is None for x in skipped)
    clean = next(x for x in r.steps if x.job == "clean" and x.run_date == DAY2)
    assert clean.outcome.rows_in >= clean.outcome.rows_out > 0 and clean.error is None
    rows = lake.read(spark, cfg, RUN_LEDGER)
    # Each attempt: a running row at its start, then its outcome; each step a job run of its own, under the pipeline's run id.
    assert rows.where(F.col("status") == ledger.RUNNING).count() == 8 and rows.where(F.col("status") != ledger.RUNNING).count() == 8
    assert [tuple(x) for x in rows.select("pipeline_run_id").distinct().collect()] == [(r.run_id,)]
    per_run = rows.groupBy("run_id").agg(F.count("*").alias("n"), F.sort_array(F.collect_list("status")).alias("s")).collect()
    assert len(per_run) == 8 and all(x.n == 2 and x.s.count(ledger.RUNNING) == 1 for x in per_run) and r.run_id not in {x.run_id for x in per_run}
    assert rows.where(F.col("config_hash").isNull() | F.col("code_version").isNull() | (F.col("seconds") < 0)).count() == 0
    assert rows.where((F.col("status") == ledger.RUNNING) != F.col("ended_at").isNull()).count() == 0
    # The step's parameters, rows and figures; the skip's reason.
    ended = {(x.job, x.run_date): x for x in rows.where(F.col("status") != ledger.RUNNING).collect()}
    assert all(x.params == step_params(x.job, x.run_date) for x in ended.values())
    logged = ended[("clean", DAY2)]
    assert (logged.status, logged.rows_in, logged.rows_out, logged.error) == (ledger.SUCCEEDED, clean.outcome.rows_in, clean.outcome.rows_out, None)
    assert logged.figures and logged.figures == {k: float(v) for k, v in clean.outcome.figures().items() if v is not None}
    assert ended[("propensity", DAY2)].status == ledger.SKIPPED and "labels" in ended[("propensity", DAY2)].error
    assert ended[("propensity", DAY2)].rows_out is None and ended[("propensity", DAY2)].figures is None


def test_rerun_skips_succeeded_steps_and_force_reruns_to_the_same_tables(spark: SparkSession, backfilled: tuple[Config, PipelineResult]) -> None:
    cfg, _ = backfilled
    before_ledger, before_sessions = ledger_rows(spark, cfg), sessions(spark, cfg)
    again = pipeline.run(Context(spark, cfg), PipelineParams(date=DAY2))
    # Succeeded steps are not run again; the skipped one (no labels yet) is tried again, and skipped again.
    assert [(x.job, x.status) for x in again.steps] == [
        ("ingest", ALREADY),
        ("clean", ALREADY),
        ("featurize", ALREADY),
        ("propensity", ledger.SKIPPED),
    ]
    assert all(x.outcome is None and x.seconds == 0 for x in again.steps if x.status == ALREADY)
    forced = pipeline.run(Context(spark, cfg), PipelineParams(date=DAY2, force=True, start_step="featurize"))
    assert [(x.job, x.status) for x in forced.steps] == [("featurize", ledger.SUCCEEDED), ("propensity", ledger.SKIPPED)]
    assert sessions(spark, cfg) == before_sessions
    after = ledger_rows(spark, cfg)
    assert after[: len(before_ledger)] == before_ledger and len(after) == len(before_ledger) + 2 * 3  # both runs stay visible
    added = after[len(before_ledger) :]
    assert [(job, status) for _, job, _, status, _ in added] == [
        ("propensity", ledger.RUNNING),
        ("propensity", ledger.SKIPPED),
        ("featurize", ledger.RUNNING),
        ("featurize", ledger.SUCCEEDED),
        ("propensity", ledger.RUNNING),
        ("propensity", ledger.SKIPPED),
    ]
    assert [p for *_, p in added] == [again.run_id] * 2 + [forced.run_id] * 4


def cli(cfg: Config, *argv: str) -> int:
    """``ecomlake <argv>`` in this process, on this lake (main leaves the test run's session running)."""
    return main([argv[0], *cli_keys(cfg, STEPS), *argv[1:]])  # argv's own --set come last and win


def test_a_job_run_alone_counts_as_done_when_its_params_are_the_steps(
    spark: SparkSession, backfilled: tuple[Config, PipelineResult], capsys: pytest.CaptureFixture[str]
) -> None:
    """Jobs run alone record their runs too: the pipeline skips what already succeeded for the date with the same parameters."""
    cfg, _ = backfilled
    # ingest with an explicit --path (the day's folder all the same): other parameters than the step's, so not the step's run.
    assert cli(cfg, "ingest", "--date", str(DAY3), "--path", day_input_path(cfg.ingest, DAY3)) == 0
    assert cli(cfg, "clean", "--date", str(DAY3)) == 0
    alone = lake.read(spark, cfg, RUN_LEDGER, {"run_date": DAY3}).where(F.col("status") == ledger.SUCCEEDED).orderBy("started_at").collect()
    assert [(x.job, x.pipeline_run_id) for x in alone] == [("ingest", None), ("clean", None)]
    assert json.loads(alone[0].params) == {"date": str(DAY3), "paths": [day_input_path(cfg.ingest, DAY3)]}
    assert alone[1].params == step_params("clean", DAY3)
    capsys.readouterr()
    r = pipeline.run(Context(spark, cfg), PipelineParams(date=DAY3))
    statuses = [(x.job, x.status) for x in r.steps]
    assert statuses == [("ingest", ledger.SUCCEEDED), ("clean", ALREADY), ("featurize", ledger.SUCCEEDED), ("propensity", ledger.SKIPPED)]
    assert f"pipeline [2/4] {DAY3} clean: already succeeded (--force re-runs it)" in capsys.readouterr().out
    assert lake.read(spark, cfg, SESSIONS, {"session_date": DAY3}).count() > 0


def test_a_failed_step_stops_the_dag_with_its_exit_code_and_is_recorded(spark: SparkSession, backfilled: tuple[Config, PipelineResult]) -> None:
    cfg, _ = backfilled
    ctx = Context(spark, cfg)
    with pytest.raises(InputMissingError, match=rf"step ingest for {NOT_LANDED} failed: InputMissingError: ") as failed:
        pipeline.run(ctx, PipelineParams(start=NOT_LANDED, end=NOT_LANDED + dt.timedelta(days=1)))  # no files landed for either
    assert failed.value.exit_code == 3
    rows = lake.read(spark, cfg, RUN_LEDGER).where(F.col("run_date") >= NOT_LANDED).collect()
    assert sorted((r.job, r.run_date, r.status) for r in rows) == [("ingest", NOT_LANDED, ledger.FAILED), ("ingest", NOT_LANDED, ledger.RUNNING)]
    assert {r.pipeline_run_id for r in rows} == {ctx.run_id} and len({r.run_id for r in rows}) == 1
    error = next(r.error for r in rows if r.status == ledger.FAILED)
    assert error.startswith("InputMissingError: ") and str(NOT_LANDED) in error
    with pytest.raises(ConfigError, match=r"--from score-lstm: not among pipeline.steps \['ingest', 'clean', 'featurize', 'propensity'\]"):
        pipeline.run(ctx, PipelineParams(date=DAY2, start_step="score-lstm"))
    with pytest.raises(ConfigError, match="--start needs --end"):
        PipelineParams(start=DAY1)
    with pytest.raises(ConfigError, match="pipeline takes --date D, or --start D1 --end D2"):
        PipelineParams(date=DAY1, start=DAY1, end=DAY2)
    with pytest.raises(ConfigError, match=f"--end {DAY1} is before --start {DAY2}"):
        PipelineParams(start=DAY2, end=DAY1)


def test_only_runs_one_step_and_json_logs_carry_each_steps_figures(
    spark: SparkSession, backfilled: tuple[Config, PipelineResult], capsys: pytest.CaptureFixture[str]
) -> None:
    cfg, _ = backfilled
    assert cli(cfg, "pipeline", "--date", str(DAY2), "--only", "clean", "--force", "--json-logs") == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[0].startswith(f"pipeline [1/1] {DAY2} clean: succeeded in ")
    assert out.splitlines()[1].startswith(f"pipeline {DAY2}..{DAY2} (1 day(s)), run ") and "1 step(s) succeeded, 0 skipped, 0 already done (" in out
    events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    step = next(e for e in events if e.get("event") == "pipeline_step")
    assert step["step"] == "clean" and step["status"] == ledger.SUCCEEDED and step["run_date"] == str(DAY2)
    assert step["rows_in"] >= step["rows_out"] > 0 and step["seconds"] > 0 and step["level"] == "INFO" and step["error"] is None
    # Each job run logs one job_run record: the step's, with its own run id under the pipeline's, then the pipeline's own.
    runs = [e for e in events if e.get("event") == "job_run"]
    assert [e["job"] for e in runs] == ["clean", "pipeline"] and all(e["status"] == ledger.SUCCEEDED for e in runs)
    clean_run, pipeline_run = runs
    assert clean_run["pipeline_run_id"] == step["run_id"] == pipeline_run["run_id"] != clean_run["run_id"]
    assert (clean_run["rows_in"], clean_run["rows_out"], clean_run["run_date"]) == (step["rows_in"], step["rows_out"], str(DAY2))
    assert clean_run["figures"] and all(isinstance(v, float) for v in clean_run["figures"].values()) and clean_run["seconds"] > 0
    assert pipeline_run["figures"] == {ledger.SUCCEEDED: 1.0, ledger.SKIPPED: 0.0, ALREADY: 0.0} and pipeline_run["pipeline_run_id"] is None
    recorded = lake.read(spark, cfg, RUN_LEDGER).where(F.col("run_id") == clean_run["run_id"]).collect()
    assert sorted(r.status for r in recorded) == [ledger.RUNNING, ledger.SUCCEEDED] and {r.pipeline_run_id for r in recorded} == {step["run_id"]}
    assert lake.read(spark, cfg, RUN_LEDGER).where(F.col("job") == "pipeline").count() == 0  # its steps are its record
    # --quiet: nothing on stdout, and no info lines on stderr.
    assert cli(cfg, "pipeline", "--date", str(DAY2), "--only", "clean", "--quiet") == 0
    out, err = capsys.readouterr()
    assert out == "" and " INFO " not in err


def test_a_missing_input_fails_the_step_where_not_due_would_skip_it(
    spark: SparkSession, backfilled: tuple[Config, PipelineResult], capsys: pytest.CaptureFixture[str]
) -> None:
    """Only "not due yet" skips: labels that featurize should have written, missing, fail the step with exit 3."""
    cfg, _ = backfilled
    # A 1-day horizon: the lake began on DAY1, so the labels of cut-off DAY2 are due for DAY3, and featurize
    # (run with the 14-day horizon) never wrote them.
    table = LABELS.qualified_name(cfg.lake)
    assert cli(cfg, "pipeline", "--date", str(DAY3), "--only", "propensity", "--set", "featurize.label_horizon_days=1") == 3
    err = capsys.readouterr().err
    assert (
        f"step propensity for {DAY3} failed: InputMissingError: {table} has no labels with a 1-day horizon for a cut-off on or before {DAY2}" in err
    )
    assert f"(run date {DAY3} - featurize.label_horizon_days): `ecomlake featurize --date {DAY3}` writes the labels of cut-off {DAY2}" in err
    # With the configured horizon the labels are not due yet: the same step is skipped.
    skip = pipeline.run(Context(spark, cfg), PipelineParams(date=DAY3, only_step="propensity"))
    assert [(x.job, x.status) for x in skip.steps] == [("propensity", ledger.SKIPPED)]
    ended = lake.read(spark, cfg, RUN_LEDGER).where(
        (F.col("job") == "propensity") & (F.col("run_date") == DAY3) & (F.col("status") != ledger.RUNNING)
    )
    failed, skipped = ended.orderBy("started_at").collect()[-2:]
    assert failed.status == ledger.FAILED and failed.error.startswith(f"InputMissingError: {table} has no labels with a 1-day horizon")
    assert skipped.status == ledger.SKIPPED and skipped.error == skip.steps[0].error
    assert (
        skipped.error.startswith(f"{table} has no labels with a 14-day horizon") and f": not due yet, the lake's first day is {DAY1}" in skipped.error
    )


def test_score_lstm_skips_on_a_young_lake_and_fails_when_its_models_dataset_is_gone(
    spark: SparkSession, backfilled: tuple[Config, PipelineResult], tmp_path: Path
) -> None:
    cfg, _ = backfilled
    cfg = dataclasses.replace(cfg, pipeline=dataclasses.replace(cfg.pipeline, steps=(*STEP_NAMES, "score-lstm")))
    ctx = Context(spark, cfg)
    # No model, and none can be trained yet: DAY2 has no train days before its validation and test days.
    r = pipeline.run(ctx, PipelineParams(date=DAY2, only_step="score-lstm"))
    assert [(x.job, x.status) for x in r.steps] == [("score-lstm", ledger.SKIPPED)]
    assert r.steps[0].error.startswith(f"score-lstm {DAY2}: not due yet, no lstm model can exist on or before {DAY2}: its train days end on ")
    assert f"the first date with train, validation and test days (sequences.validation_days=1, test_days=1) is {DAY3}" in r.steps[0].error
    # A model recorded, its sequences dataset gone: missing, not "not due".
    gone = f"{tmp_path}/models/sequences/gone"
    params = {"dataset_path": gone, "checkpoint": f"{tmp_path}/best.pt"}
    registry.record_run(spark, cfg, "lstm", f"{DAY1:%Y%m%d}-00000000", DAY1, "a-run", 0, params, {})
    with pytest.raises(
        InputMissingError, match=rf"^step score-lstm for {DAY2} failed: InputMissingError: no manifest at {re.escape(gone)}/"
    ) as failed:
        pipeline.run(ctx, PipelineParams(date=DAY2, only_step="score-lstm"))
    assert failed.value.exit_code == 3 and not isinstance(failed.value, NotDueError)
    rows = lake.read(spark, cfg, RUN_LEDGER).where((F.col("job") == "score-lstm") & (F.col("status") != ledger.RUNNING)).orderBy("started_at")
    assert [(x.status, x.error.split(":")[0]) for x in rows.collect()] == [
        (ledger.SKIPPED, f"score-lstm {DAY2}"),
        (ledger.FAILED, "InputMissingError"),
    ]


def test_exit_codes_0_2_3_4_5(
    spark: SparkSession, config: Config, backfilled: tuple[Config, PipelineResult], capsys: pytest.CaptureFixture[str]
) -> None:
    """One distinct exit code per kind of failure, through the command line as a scheduler sees it."""
    cfg, _ = backfilled
    assert cli(cfg, "pipeline", "--date", str(DAY2)) == 0  # everything already done
    assert "3 already done" in capsys.readouterr().out
    assert cli(cfg, "pipeline", "--date", str(DAY2), "--set", "spark.shuffle_partitions=0") == 2  # config error
    assert "key 'spark.shuffle_partitions': must be >= 1" in capsys.readouterr().err
    missing = DAY2 + dt.timedelta(days=5)
    assert cli(cfg, "pipeline", "--date", str(missing)) == 3  # no events landed for that day
    assert f"step ingest for {missing} failed: InputMissingError" in capsys.readouterr().err
    # Not due (the lake's second day has no train days yet): a pipeline skips it, the job alone exits 3.
    assert cli(cfg, "sequences", "--date", str(DAY2)) == 3
    assert f"sequences {DAY2}: not due yet, its train days end on {DAY1 - dt.timedelta(days=1)}" in capsys.readouterr().err
    # Due, but a sample too thin to fill the splits: a data-quality failure.
    assert cli(cfg, "sequences", "--date", str(DAY3), "--set", "sequences.anchor_fraction=0.0000001") == 4
    assert "the train split" in capsys.readouterr().err
    # The job run alone is recorded as failed, with its error and no pipeline.
    failed = lake.read(spark, cfg, RUN_LEDGER).where((F.col("job") == "sequences") & (F.col("status") == ledger.FAILED)).orderBy("started_at")
    assert [(x.run_date, x.pipeline_run_id, x.error.split(":")[0]) for x in failed.collect()] == [
        (DAY2, None, "NotDueError"),
        (DAY3, None, "DataQualityError"),
    ]
    assert "the train split" in failed.collect()[1].error
    # A step failing for any other reason: a data file of silver.events is gone from under its Delta log.
    # A file of the current version holding the day's events (a glob could find one an earlier version replaced).
    day_files = lake.read(spark, cfg, SILVER_EVENTS, {"event_date": DAY2}).select(F.input_file_name())
    Path(unquote(urlparse(sorted(r[0] for r in day_files.distinct().collect())[0]).path)).unlink()
    assert cli(cfg, "pipeline", "--date", str(DAY2), "--only", "featurize", "--force") == 5
    assert f"step featurize for {DAY2} failed: " in capsys.readouterr().err
    assert spark.range(1).count() == 1  # the CLI left the session it did not start running ...
    assert str(spark.sparkContext.getCheckpointDir()).startswith(f"file:{config.spark.checkpoint_dir}/")  # ... as it was
