"""ops.run_ledger: two rows per pipeline step attempt, at its start and its end (what ran, for which date, how it ended, rows, timings, versions).

The ledger is append-only history: a re-run adds rows, it never rewrites earlier ones, so a failed
attempt and the re-run that fixed it both stay visible. ``succeeded`` answers "has this step already
succeeded for this date?", which is how a re-run of a date skips finished work.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ecomlake import lake
from ecomlake.config import Config, config_hash
from ecomlake.runinfo import code_version
from ecomlake.schema import Field, TableSchema

RUNNING, SUCCEEDED, FAILED, SKIPPED = "running", "succeeded", "failed", "skipped"

RUN_LEDGER = TableSchema(
    "ops.run_ledger",
    "Two rows per pipeline step attempt, one when it starts (running) and one when it ends: the step, the date it ran for, "
    "how it ended, rows in and out, timings, config hash and code version. Append-only: re-runs add rows.",
    (
        Field("run_id", T.StringType(), "the pipeline run (one per `ecomlake pipeline` call)", nullable=False),
        Field(
            "step",
            T.StringType(),
            "the job: ingest, clean, featurize, profile, recommend, propensity, sequences, train-lstm, score-lstm",
            nullable=False,
        ),
        Field("run_date", T.DateType(), "the date the step ran for (--date)", nullable=False),
        Field(
            "status",
            T.StringType(),
            "running (written when the step starts), then succeeded, failed, or skipped (its input cannot exist yet, e.g. labels "
            "before the horizon); a running row with no end row for its run_id means the driver died mid-step",
            nullable=False,
        ),
        Field("started_at", T.TimestampType(), "step start", "UTC"),
        Field("ended_at", T.TimestampType(), "step end; NULL on the running row", "UTC"),
        Field("seconds", T.DoubleType(), "wall time of the step; NULL on the running row", "seconds"),
        Field("rows_in", T.LongType(), "rows the step read, where it reports them", "rows"),
        Field("rows_out", T.LongType(), "rows the step wrote, where it reports them", "rows"),
        Field("config_hash", T.StringType(), "hash of the whole effective config"),
        Field("code_version", T.StringType(), "package version and git commit"),
        Field("error", T.StringType(), "the error (failed) or the reason (skipped); NULL when succeeded"),
    ),
)


@dataclasses.dataclass(frozen=True)
class StepRecord:
    run_id: str
    step: str
    run_date: dt.date
    status: str
    started_at: dt.datetime
    ended_at: dt.datetime | None  # None while running
    rows_in: int | None
    rows_out: int | None
    error: str | None

    @property
    def seconds(self) -> float | None:
        """Wall time of the step; None while running."""
        return (self.ended_at - self.started_at).total_seconds() if self.ended_at is not None else None


def record(spark: SparkSession, config: Config, r: StepRecord) -> None:
    """Append one row to ops.run_ledger (its own Delta commit)."""
    row = (
        r.run_id,
        r.step,
        r.run_date,
        r.status,
        r.started_at,
        r.ended_at,
        r.seconds,
        r.rows_in,
        r.rows_out,
        config_hash(config),
        code_version(),
        r.error,
    )
    df = spark.createDataFrame([row], RUN_LEDGER.struct())
    lake.write_table(df, config.lake, lake.RUN_LEDGER, mode="append", schema=RUN_LEDGER)


def succeeded(spark: SparkSession, config: Config, run_date: dt.date) -> set[str]:
    """The steps with a succeeded attempt for ``run_date``."""
    if not lake.table_exists(spark, config.lake, lake.RUN_LEDGER):
        return set()
    rows = lake.read_table(spark, config.lake, lake.RUN_LEDGER).where((F.col("run_date") == F.lit(run_date)) & (F.col("status") == SUCCEEDED))
    return {r["step"] for r in rows.select("step").distinct().collect()}
