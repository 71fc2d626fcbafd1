"""The run records: ops.run_ledger (one record per job run, written by the job runner) and ops.run_audit
(clean's row conservation, in detail).

Every job run, alone (``ecomlake <job>``, ``spark-submit jobs/<job>_job.py``) or as a pipeline step,
adds its rows to ops.run_ledger through :mod:`ecomlake.ledger`: what ran, for which date, how it ended,
rows in and out, the job's own figures, timings, config hash and code version. Model versions keep
their own record in ml.model_runs (:mod:`ecomlake.catalog.models`).
"""

from __future__ import annotations

from ecomlake.catalog.table import Table
from ecomlake.schema import DATE, DOUBLE, LONG, STRING, TIMESTAMP, Field, MapOf
from ecomlake.vocabulary import BOT

COUNTS = MapOf(STRING, LONG, value_contains_null=False)

RUN_LEDGER = Table(
    "ops",
    "run_ledger",
    produced_by=("every job",),
    append_only=True,
    description="Two rows per job run, one when it starts (running) and one when it ends: the job, the date it ran for, how it ended, "
    "rows in and out, the job's own figures, timings, config hash and code version. Written for every job that reads or writes the "
    "lake, run alone or by the pipeline. Append-only: re-runs add rows.",
    fields=(
        Field(
            "run_id",
            STRING,
            "the job run (also in the rows it wrote: bronze.events.run_id, ops.run_audit.run_id, ml.model_runs.run_id)",
            nullable=False,
        ),
        Field(
            "job",
            STRING,
            "the job: generate, ingest, clean, featurize, profile, recommend, propensity, sequences, train-lstm, score-lstm, report",
            nullable=False,
        ),
        Field("run_date", DATE, "the date the job ran for (--date); NULL for a job without one (generate, featurize --full)"),
        Field("params", STRING, "the job's parameters (its flags), as JSON"),
        Field("pipeline_run_id", STRING, "the `ecomlake pipeline` run the job ran in as a step; NULL when run alone"),
        Field(
            "status",
            STRING,
            "running (written when the job starts), then succeeded, failed, or skipped (a pipeline step whose input cannot exist yet, "
            "e.g. labels before their horizon); a running row with no end row for its run_id means the driver died mid-run",
            nullable=False,
        ),
        Field("started_at", TIMESTAMP, "run start", "UTC", nullable=False),
        Field("ended_at", TIMESTAMP, "run end; NULL on the running row", "UTC"),
        Field("seconds", DOUBLE, "wall time of the run; NULL on the running row", "seconds"),
        Field("rows_in", LONG, "rows the job read, where it reports them", "rows"),
        Field("rows_out", LONG, "rows the job wrote, from its Delta commits", "rows"),
        Field(
            "figures",
            MapOf(STRING, DOUBLE),
            "the job's own figures by name, e.g. clean's quarantined, featurize's rows per gold table, a model's test metric",
        ),
        Field("error", STRING, "the error (failed) or the reason (skipped); NULL when succeeded"),
        Field("config_hash", STRING, "hash of the whole effective config", nullable=False),
        Field("code_version", STRING, "package version and git commit", nullable=False),
    ),
)

RUN_AUDIT = Table(
    "ops",
    "run_audit",
    produced_by=("clean",),
    append_only=True,
    description="One row per clean run, succeeded or failed: the row conservation check rows_in = rows_kept + rows_quarantined + "
    "duplicates_exact + duplicates_near + duplicates_redelivered + bot_rows_removed, with the counts behind it. "
    "A run whose rows do not add up writes "
    "nothing to silver. Append-only: re-runs add rows.",
    fields=(
        Field("run_id", STRING, "the clean run (a new id per run)", nullable=False),
        Field("step", STRING, "the job that ran: clean", nullable=False),
        Field("run_date", DATE, "the ingest_date cleaned (clean --date)", nullable=False),
        Field("status", STRING, "succeeded, or failed (nothing written to silver.events or silver.quarantine)", nullable=False),
        Field("error", STRING, "the error of a failed run; NULL when succeeded"),
        Field("started_at", TIMESTAMP, "run start", "UTC", nullable=False),
        Field("seconds", DOUBLE, "wall time of the run", "seconds", nullable=False),
        Field("rows_in", LONG, "bronze.events rows of the ingest_date; NULL when the run failed before counting", "rows"),
        Field("rows_kept", LONG, "rows written to silver.events (bot rows flagged and kept included)", "rows"),
        Field("rows_quarantined", LONG, "rows written to silver.quarantine with a quarantine reason (removed bot rows not included)", "rows"),
        Field(
            "duplicates_exact",
            LONG,
            "rows dropped as exact copies of another row (every canonical column equal); one copy is kept, the earliest source file's",
            "rows",
        ),
        Field(
            "duplicates_near",
            LONG,
            "rows dropped as near duplicates (a double click): the same user, product and event type again within "
            "clean.near_duplicate_seconds of the previous such event",
            "rows",
        ),
        Field(
            "duplicates_redelivered",
            LONG,
            "rows dropped because the same event is already in silver.events from one of the clean.dedupe_lookback_days earlier "
            "ingest dates (a re-sent export, a retried upload)",
            "rows",
        ),
        Field("bot_rows_removed", LONG, f"rows of bot users moved to silver.quarantine with reason {BOT} (clean.bot_action = remove)", "rows"),
        Field("bot_rows_flagged", LONG, "rows of bot users kept in silver.events with is_bot set (clean.bot_action = flag)", "rows"),
        Field("quarantined_by_reason", COUNTS, "rows_quarantined per reason (silver.quarantine.reason); reasons with no rows left out", "rows"),
        Field("inputs", STRING, "what the run read: the bronze table and ingest_date", nullable=False),
        Field("config_hash", STRING, "hash of the whole effective config", nullable=False),
        Field("code_version", STRING, "package version and git commit", nullable=False),
    ),
)
