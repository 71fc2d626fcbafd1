"""The job contract and the run record: ecomlake.job.execute, ``ecomlake <job>`` through cli.main, the typed parameters
built from the flags, ledger.succeeded and the migration of a legacy ops.run_ledger.

Small: a probe job defined here (its rows, figures and failures chosen by its parameters) and ingest on a hand-made
file of a dozen rows, each test in a lake of its own.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from collections.abc import Mapping
from pathlib import Path

import pytest
from delta.tables import DeltaTable
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from ecomlake import cli, jobs, lake, ledger
from ecomlake.catalog import BRONZE_EVENTS, RUN_LEDGER
from ecomlake.clean.job import CleanParams
from ecomlake.config import Config, config_hash
from ecomlake.errors import DataQualityError, InputMissingError
from ecomlake.featurize.job import FeaturizeParams
from ecomlake.ingest.job import IngestParams
from ecomlake.job import Context, SparkJob, execute, params_from_args
from ecomlake.pipeline.job import PipelineParams
from ecomlake.propensity.job import PropensityParams
from ecomlake.report.job import ReportParams
from ecomlake.runinfo import code_version
from tests.support import cli_keys, lake_config

DAY = dt.date(2019, 10, 1)
HEADER = "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session"
EVENTS = [
    "2019-10-01 00:00:00 UTC,view,44600062,2103807459595387724,,shiseido,35.79,541312140,72d76fde-8bb3-4e00-8c23-a032dfed738c",
    "2019-10-01 00:00:01 UTC,view,3900821,2053013552326770905,appliances.environment.water_heater,aqua,33.20,554748717,9333dfbd",
    "2019-10-01 00:00:02 UTC,cart,3900821,2053013552326770905,appliances.environment.water_heater,aqua,33.20,554748717,9333dfbd",
    "2019-10-01 00:00:03 UTC,purchase,3900821,2053013552326770905,appliances.environment.water_heater,aqua,33.20,554748717,9333dfbd",
    "2019-10-01 00:00:04 UTC,view,17200506,2053013559792632471,furniture.living_room.sofa,,543.10,519107250,566511c2",
    "2019-10-01 02:50:00 UTC,vi",  # a split line: malformed, kept in bronze with raw_record
]


@pytest.fixture
def cfg(config: Config, tmp_path: Path) -> Config:
    return lake_config(config, tmp_path / "lake")


@pytest.fixture
def events_file(tmp_path: Path) -> str:
    path = tmp_path / "landing" / "events.csv"
    path.parent.mkdir()
    path.write_text("\n".join([HEADER, *EVENTS]) + "\n")
    return str(path)


# ---- a probe job: its outcome is what its parameters say --------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ProbeParams:
    date: dt.date
    tags: tuple[str, ...] = ()
    fail: str | None = None  # "value": a bug; "missing": an input that cannot exist yet


@dataclasses.dataclass(frozen=True)
class ProbeResult:
    rows_in: int
    rows_out: int
    ledger_at_start: list[tuple[str, str]]  # (run_id, status) of ops.run_ledger while the job ran

    def figures(self) -> Mapping[str, float]:
        return {"ratio": 0.25, "count": 3, "unknown": None}  # type: ignore[dict-item]  (None: left out of the record)

    def summary(self) -> str:
        return f"probe: {self.rows_in} rows in, {self.rows_out} out\nsecond line"


def probe(ctx: Context, params: ProbeParams) -> ProbeResult:
    at_start = [(r.run_id, r.status) for r in lake.read(ctx.spark, ctx.config, RUN_LEDGER, missing="empty").collect()]
    if params.fail == "value":
        raise ValueError("boom")
    if params.fail == "missing":
        raise InputMissingError("no labels yet for the probe")
    return ProbeResult(7, 5, at_start)


PROBE = SparkJob("probe", "A job for the tests", ProbeParams, probe)


def records(spark: SparkSession, cfg: Config) -> list:
    return lake.read(spark, cfg, RUN_LEDGER).orderBy("started_at", F.col("ended_at").asc_nulls_first()).collect()


def test_execute_records_a_running_row_then_the_succeeded_run_with_rows_figures_and_params(
    spark: SparkSession, cfg: Config, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ecomlake.job")
    ctx = Context(spark, cfg)
    result = execute(PROBE, ctx, ProbeParams(DAY, ("a", "b")), echo=True)
    assert (result.rows_in, result.rows_out) == (7, 5)
    assert result.ledger_at_start == [(ctx.run_id, ledger.RUNNING)]  # the running row is written before the job starts
    start, end = records(spark, cfg)
    assert start.asDict() | {"started_at": None} == {
        "run_id": ctx.run_id,
        "job": "probe",
        "run_date": DAY,
        "params": json.dumps({"date": "2019-10-01", "fail": None, "tags": ["a", "b"]}),
        "pipeline_run_id": None,
        "status": ledger.RUNNING,
        "started_at": None,
        "ended_at": None,
        "seconds": None,
        "rows_in": None,
        "rows_out": None,
        "figures": None,
        "error": None,
        "config_hash": config_hash(cfg),
        "code_version": code_version(),
    }
    assert (end.run_id, end.job, end.run_date, end.params, end.status) == (ctx.run_id, "probe", DAY, start.params, ledger.SUCCEEDED)
    assert (end.rows_in, end.rows_out, end.figures, end.error) == (7, 5, {"ratio": 0.25, "count": 3.0}, None)
    assert end.started_at == start.started_at and end.seconds >= 0
    assert abs((end.ended_at - end.started_at).total_seconds() - end.seconds) < 1e-3
    assert (end.config_hash, end.code_version) == (config_hash(cfg), code_version())
    # echo: the summary, its first line ending in the run's seconds.
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("probe: 7 rows in, 5 out (") and out[0].endswith(" s)") and out[1] == "second line"
    # One structured job_run record for the run.
    logged = [r for r in caplog.records if getattr(r, "fields", {}).get("event") == "job_run"]
    assert len(logged) == 1 and logged[0].levelno == logging.INFO
    fields = logged[0].fields
    assert {k: fields[k] for k in ("job", "run_id", "status", "rows_in", "rows_out", "figures", "run_date", "pipeline_run_id", "error")} == {
        "job": "probe",
        "run_id": ctx.run_id,
        "status": ledger.SUCCEEDED,
        "rows_in": 7,
        "rows_out": 5,
        "figures": {"ratio": 0.25, "count": 3.0},
        "run_date": DAY,
        "pipeline_run_id": None,
        "error": None,
    }
    assert fields["seconds"] == pytest.approx(end.seconds, abs=1e-3)


def test_execute_records_a_failure_or_a_skip_and_raises_it_and_only_succeeded_runs_with_the_params_count(spark: SparkSession, cfg: Config) -> None:
    failing, skipping, missing = Context(spark, cfg), Context(spark, cfg), Context(spark, cfg)
    with pytest.raises(ValueError, match="^boom$"):
        execute(PROBE, failing, ProbeParams(DAY, fail="value"), pipeline_run_id="pipeline-1", skip_on=(InputMissingError,))
    with pytest.raises(InputMissingError, match="^no labels yet for the probe$"):
        execute(PROBE, skipping, ProbeParams(DAY, fail="missing"), skip_on=(InputMissingError,))
    with pytest.raises(InputMissingError):  # not among skip_on: the same error is a failure
        execute(PROBE, missing, ProbeParams(DAY, fail="missing"), skip_on=(DataQualityError,))
    rows = records(spark, cfg)
    assert [(r.run_id, r.job, r.status, r.pipeline_run_id) for r in rows] == [
        (failing.run_id, "probe", ledger.RUNNING, "pipeline-1"),
        (failing.run_id, "probe", ledger.FAILED, "pipeline-1"),
        (skipping.run_id, "probe", ledger.RUNNING, None),
        (skipping.run_id, "probe", ledger.SKIPPED, None),
        (missing.run_id, "probe", ledger.RUNNING, None),
        (missing.run_id, "probe", ledger.FAILED, None),
    ]
    # A failure's error names its kind; a skip's is the reason, as the report and the pipeline's progress line show it.
    assert [r.error for r in rows[1::2]] == ["ValueError: boom", "no labels yet for the probe", "InputMissingError: no labels yet for the probe"]
    for start, end in zip(rows[::2], rows[1::2], strict=True):
        assert end.seconds >= 0 and end.ended_at is not None and (end.params, end.started_at) == (start.params, start.started_at)
        assert (end.rows_in, end.rows_out, end.figures, start.error) == (None, None, None, None)

    # ledger.succeeded: the jobs with a succeeded run for the date with the same parameters.
    as_json = ledger.params_json
    assert ledger.succeeded(spark, cfg, DAY, {"probe": as_json(ProbeParams(DAY, fail="missing"))}) == set()  # skipped, failed: not done
    tagged, plain = ProbeParams(DAY, ("x",)), ProbeParams(DAY)
    execute(PROBE, Context(spark, cfg), tagged)
    assert ledger.succeeded(spark, cfg, DAY, {"probe": as_json(tagged)}) == {"probe"}
    assert ledger.succeeded(spark, cfg, DAY, {"probe": as_json(plain)}) == set()  # other parameters: not this run
    next_day = dataclasses.replace(tagged, date=DAY + dt.timedelta(days=1))
    assert ledger.succeeded(spark, cfg, next_day.date, {"probe": as_json(next_day)}) == set()  # another date
    assert ledger.succeeded(spark, cfg, DAY, {"ingest": as_json(IngestParams(DAY)), "probe": as_json(tagged)}) == {"probe"}
    # A running row alone (a driver that died mid-run) does not count either.
    dead = Context(spark, cfg)
    ledger.record(dead, ledger.RunRecord.start(dead, "probe", plain, dt.datetime.now(dt.UTC), None))
    assert ledger.succeeded(spark, cfg, DAY, {"probe": as_json(plain)}) == set()
    assert as_json(tagged) == '{"date": "2019-10-01", "fail": null, "tags": ["x"]}'  # canonical: sorted keys, ISO dates


def test_the_cli_records_a_job_run_alone_succeeded_or_failed(
    spark: SparkSession, cfg: Config, events_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = cli_keys(cfg)
    assert jobs.load("ingest").records  # a job that writes the lake records its runs
    assert cli.main(["ingest", *keys, "--date", str(DAY), "--path", events_file, "--json-logs"]) == 0
    out, err = capsys.readouterr()
    first = out.splitlines()[0]
    assert first.startswith(f"ingest: {len(EVENTS)} rows (1 malformed, kept with raw_record) from 1 file(s) with layout rees46")
    assert first.endswith(" s)")
    logged = next(json.loads(line) for line in err.splitlines() if line.startswith("{") and '"job_run"' in line)
    rows = records(spark, cfg)
    assert [(r.job, r.status, r.pipeline_run_id) for r in rows] == [("ingest", ledger.RUNNING, None), ("ingest", ledger.SUCCEEDED, None)]
    assert len({r.run_id for r in rows}) == 1 and f"run {rows[0].run_id} (" in first
    end = rows[1]
    assert (logged["job"], logged["run_id"], logged["status"], logged["rows_in"], logged["rows_out"], logged["figures"]) == (
        "ingest",
        end.run_id,
        ledger.SUCCEEDED,
        end.rows_in,
        end.rows_out,
        end.figures,
    )
    assert json.loads(end.params) == {"date": str(DAY), "paths": [events_file]}  # the flags, typed: --path is a list of paths
    assert (end.rows_in, end.rows_out, end.figures) == (len(EVENTS), len(EVENTS), {"files": 1.0, "malformed": 1.0})
    # The rows the run wrote carry its run id.
    assert [r.run_id for r in lake.read(spark, cfg, BRONZE_EVENTS, {"ingest_date": DAY}).select("run_id").distinct().collect()] == [end.run_id]
    # A date with nothing ingested: clean fails with exit 3, and the failure is recorded with its error.
    other = DAY + dt.timedelta(days=1)
    assert cli.main(["clean", *keys, "--date", str(other)]) == 3
    assert f"ecomlake clean: error: {BRONZE_EVENTS.qualified_name(cfg.lake)}" in capsys.readouterr().err
    failed = records(spark, cfg)[2:]
    assert [(r.job, r.run_date, r.status) for r in failed] == [("clean", other, ledger.RUNNING), ("clean", other, ledger.FAILED)]
    assert failed[1].error.startswith("InputMissingError: ") and failed[1].params == ledger.params_json(CleanParams(other))


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["ingest", "--date", "2019-10-01", "--path", "a.csv", "--path", "b.csv"], IngestParams(DAY, ("a.csv", "b.csv"))),
        (["ingest", "--date", "2019-10-01", "--layout", "retailrocket"], IngestParams(DAY)),  # --layout is a config key, not a parameter
        (["featurize", "--full"], FeaturizeParams(full=True)),
        (["propensity", "--date", "2019-10-01", "--score-only"], PropensityParams(DAY, score_only=True)),
        (["report", "--date", "2019-10-01", "--out", "r"], ReportParams(DAY, Path("r"))),
        (
            ["pipeline", "--start", "2019-10-01", "--end", "2019-10-03", "--from", "clean"],
            PipelineParams(start=DAY, end=DAY + dt.timedelta(days=2), start_step="clean"),
        ),
        (["pipeline", "--date", "2019-10-01", "--only", "featurize", "--force"], PipelineParams(date=DAY, only_step="featurize", force=True)),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else "",
)
def test_the_cli_runs_each_job_with_its_typed_params(
    spark: SparkSession, cfg: Config, monkeypatch: pytest.MonkeyPatch, argv: list[str], expected: object
) -> None:
    parsed = cli.build_parser([argv[0]]).parse_args(argv)
    params = params_from_args(type(expected), parsed)
    assert params == expected and not [f for f in dataclasses.fields(params) if isinstance(getattr(params, f.name), list)]  # lists become tuples
    seen: list[tuple[str, Config, object]] = []
    monkeypatch.setattr(cli, "execute", lambda job, ctx, params, echo: seen.append((job.name, ctx.config, params)))
    assert cli.main([argv[0], *cli_keys(cfg), *argv[1:]]) == 0
    assert [(name, params) for name, _, params in seen] == [(argv[0], expected)]
    if "--layout" in argv:
        assert seen[0][1].ingest.layout == "retailrocket"


def test_params_from_args_keeps_list_flags_as_tuples_for_local_jobs_too() -> None:
    from ecomlake.analyst.sql import SqlParams

    args = cli.build_parser(["sql"]).parse_args(["sql", "SELECT 1", "--version", "gold_sessions=1", "--version", "ml_segments=0", "--lake", "x"])
    assert params_from_args(SqlParams, args) == SqlParams("SELECT 1", versions=("gold_sessions=1", "ml_segments=0"))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["pipeline", "--start", "2019-10-01"], "ecomlake pipeline: error: --start needs --end (the last day of the backfill)"),
        (["pipeline", "--start", "2019-10-02", "--end", "2019-10-01"], "ecomlake pipeline: error: --end 2019-10-01 is before --start 2019-10-02"),
        (["sql", "SELECT 1", "--format", "csv"], "ecomlake sql: error: --out PATH goes with --format csv, json or parquet"),
    ],
)
def test_a_params_check_failing_exits_2_before_anything_runs(
    cfg: Config, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    monkeypatch.setattr(cli, "_run_spark_job", lambda *a: pytest.fail("a job ran"))
    assert cli.main([argv[0], *cli_keys(cfg), *argv[1:]]) == 2
    assert message in capsys.readouterr().err


LEGACY_DDL = (
    "run_id STRING, step STRING, run_date DATE, status STRING, started_at TIMESTAMP, ended_at TIMESTAMP, seconds DOUBLE, "
    "rows_in BIGINT, rows_out BIGINT, config_hash STRING, code_version STRING, error STRING"
)


def test_a_legacy_run_ledger_is_migrated_by_the_next_record(spark: SparkSession, cfg: Config) -> None:
    """A ledger written when only pipeline steps recorded runs (a ``step`` column, the pipeline's run id) gets today's columns."""
    t0 = dt.datetime(2019, 10, 2, 1, 0, 0)
    t1 = t0 + dt.timedelta(seconds=30)
    legacy = [
        ("pipe-1", "ingest", DAY, ledger.RUNNING, t0, None, None, None, None, "hash-0", "0.1.0+gold", None),
        ("pipe-1", "ingest", DAY, ledger.SUCCEEDED, t0, t1, 30.0, 100, 100, "hash-0", "0.1.0+gold", None),
        ("pipe-1", "clean", DAY, ledger.RUNNING, t1, None, None, None, None, "hash-0", "0.1.0+gold", None),
        ("pipe-1", "clean", DAY, ledger.FAILED, t1, t1, 0.5, None, None, "hash-0", "0.1.0+gold", "DataQualityError: rows do not add up"),
    ]
    path = RUN_LEDGER.path(cfg.lake)
    spark.createDataFrame(legacy, LEGACY_DDL).write.format("delta").save(path)
    ctx = Context(spark, cfg)
    execute(PROBE, ctx, ProbeParams(DAY))
    stored = lake.read(spark, cfg, RUN_LEDGER)
    assert stored.columns == RUN_LEDGER.schema().names
    rows = stored.orderBy("started_at", F.col("ended_at").asc_nulls_first()).collect()
    old = [(r.run_id, r.job, r.run_date, r.pipeline_run_id, r.status, r.started_at, r.ended_at, r.seconds, r.rows_in, r.rows_out) for r in rows[:4]]
    assert old == [(run_id, step, d, run_id, status, s, e, sec, ri, ro) for run_id, step, d, status, s, e, sec, ri, ro, *_ in legacy]
    assert [(r.config_hash, r.code_version, r.error, r.params, r.figures) for r in rows[:4]] == [(x[9], x[10], x[11], None, None) for x in legacy]
    assert [(r.run_id, r.job, r.status, r.pipeline_run_id) for r in rows[4:]] == [
        (ctx.run_id, "probe", ledger.RUNNING, None),
        (ctx.run_id, "probe", ledger.SUCCEEDED, None),
    ]
    # One overwrite commit migrates; the run's own rows are appends after it (the second one on a migrated table).
    writes = DeltaTable.forPath(spark, path).history().where(F.col("operation") == "WRITE").orderBy("version").collect()
    assert [h.operationParameters["mode"] for h in writes] == ["ErrorIfExists", "Overwrite", "Append", "Append"]
    # The legacy rows have no parameters: they tell what ran, never that a step with given parameters is done.
    done = ledger.succeeded(spark, cfg, DAY, {"probe": ledger.params_json(ProbeParams(DAY)), "ingest": ledger.params_json(IngestParams(DAY))})
    assert done == {"probe"}


def test_the_pipelines_first_look_at_a_legacy_ledger_does_not_fail(spark: SparkSession, cfg: Config) -> None:
    spark.createDataFrame(
        [("pipe-1", "ingest", DAY, ledger.SUCCEEDED, dt.datetime(2019, 10, 2), None, 1.0, 1, 1, "h", "v", None)], LEGACY_DDL
    ).write.format("delta").save(RUN_LEDGER.path(cfg.lake))
    # What `ecomlake pipeline --date D` asks first, before any step runs: the question migrates the table.
    assert ledger.succeeded(spark, cfg, DAY, {"ingest": ledger.params_json(IngestParams(DAY))}) == set()
    assert lake.read(spark, cfg, RUN_LEDGER).columns == RUN_LEDGER.schema().names
