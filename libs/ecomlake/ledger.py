"""The one run record: ops.run_ledger, two rows per job run (when it starts and when it ends).

:func:`ecomlake.job.execute` writes them for every job that reads or writes the lake, run alone or as a
pipeline step, through :func:`ecomlake.lake.append` (columns filled by name). The ledger is append-only
history: a re-run adds rows and never rewrites earlier ones, so a failed attempt and the re-run that
fixed it both stay visible. :func:`succeeded` answers "has this job already succeeded for this date, with
these parameters?", which is how a pipeline re-run skips finished work.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import TYPE_CHECKING, Any

from pyspark.errors import AnalysisException
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from ecomlake import lake
from ecomlake.catalog import RUN_LEDGER
from ecomlake.config import Config, config_hash
from ecomlake.runinfo import code_version

if TYPE_CHECKING:
    from ecomlake.job import Context, Outcome

RUNNING, SUCCEEDED, FAILED, SKIPPED = "running", "succeeded", "failed", "skipped"


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """One row of ops.run_ledger (the columns are documented in ecomlake.catalog.runs)."""

    run_id: str
    job: str
    run_date: dt.date | None
    params: str  # JSON
    pipeline_run_id: str | None
    status: str
    started_at: dt.datetime
    ended_at: dt.datetime | None = None
    seconds: float | None = None
    rows_in: int | None = None
    rows_out: int | None = None
    figures: dict[str, float] | None = None
    error: str | None = None

    @classmethod
    def start(cls, ctx: Context, job: str, params: Any, started_at: dt.datetime, pipeline_run_id: str | None) -> RunRecord:
        # A job that runs for a date has a ``date`` parameter (None for a whole-history run such as featurize --full).
        run_date = getattr(params, "date", None)
        return cls(ctx.run_id, job, run_date, params_json(params), pipeline_run_id, RUNNING, started_at)

    def end(self, status: str, seconds: float, result: Outcome | None = None, error: str | None = None) -> RunRecord:
        """The record of the run's end: its status, time, rows and figures."""
        figures = {k: float(v) for k, v in result.figures().items() if v is not None} if result is not None else None
        return dataclasses.replace(
            self,
            status=status,
            ended_at=self.started_at + dt.timedelta(seconds=seconds),
            seconds=seconds,
            rows_in=result.rows_in if result is not None else None,
            rows_out=result.rows_out if result is not None else None,
            figures=figures,
            error=error,
        )


def params_json(params: Any) -> str:
    """The parameters as canonical JSON (dates as ISO text): what the ledger stores and compares."""
    return json.dumps(dataclasses.asdict(params), sort_keys=True, default=str)


def record(ctx: Context, r: RunRecord) -> None:
    """Append one row to ops.run_ledger (its own Delta commit)."""
    row = dataclasses.asdict(r) | {"config_hash": config_hash(ctx.config), "code_version": code_version()}
    try:
        lake.append(ctx.spark, ctx.config, RUN_LEDGER, [row])
    except AnalysisException:
        if not _migrate_legacy(ctx.spark, ctx.config):
            raise
        lake.append(ctx.spark, ctx.config, RUN_LEDGER, [row])


def succeeded(spark: SparkSession, config: Config, run_date: dt.date, params: dict[str, str]) -> set[str]:
    """The jobs of ``params`` (job -> params JSON) with a succeeded run for ``run_date`` with those parameters."""
    ledger = lake.read(spark, config, RUN_LEDGER, missing="empty")
    if "job" not in ledger.columns and _migrate_legacy(spark, config):
        ledger = lake.read(spark, config, RUN_LEDGER)
    rows = ledger.where((F.col("run_date") == F.lit(run_date)) & (F.col("status") == SUCCEEDED)).select("job", "params").distinct()
    return {r["job"] for r in rows.collect() if r["job"] in params and params[r["job"]] == r["params"]}


def _migrate_legacy(spark: SparkSession, config: Config) -> bool:
    """Bring an ops.run_ledger written before every job recorded its runs (pipeline steps only, a ``step`` column) to today's columns.

    One overwrite commit: ``step`` becomes ``job``; the old run id was the pipeline's, so it is also the
    ``pipeline_run_id``. Returns False when the table is not such a legacy table.
    """
    stored = lake.read(spark, config, RUN_LEDGER)
    if "step" not in stored.columns or "job" in stored.columns:
        return False
    schema = lake.schema_of(config, RUN_LEDGER)
    migrated = stored.withColumnRenamed("step", "job").withColumn("pipeline_run_id", F.col("run_id"))
    migrated = migrated.select(*[F.col(c) if c in migrated.columns else F.lit(None).alias(c) for c in schema.names])
    lake.write(migrated, config, RUN_LEDGER, rebuild=True)
    return True
