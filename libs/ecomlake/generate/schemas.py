"""ops.generator_runs' documented schema: one row per ``ecomlake generate`` run.

The per-day counts (rows, events by type, faults) are in the manifest written beside the files
(:mod:`ecomlake.generate.output`); this table keeps the run's totals, so runs can be compared by SQL.
"""

from __future__ import annotations

from pyspark.sql import types as T

from ecomlake.generate.faults import COPY_FAULTS, FAULT_KINDS
from ecomlake.schema import Field, TableSchema

LONG, INT, DOUBLE, STRING = T.LongType(), T.IntegerType(), T.DoubleType(), T.StringType()
DATE, TIMESTAMP = T.DateType(), T.TimestampType()

GENERATOR_RUNS = TableSchema(
    "ops.generator_runs",
    "One row per `ecomlake generate` run: what was asked (seed, size, first day, days, format) and what was written (rows, human "
    "and bot events, faults injected by kind); the per-day counts are in the manifest (<output>/_manifest). Append-only.",
    (
        Field("run_id", STRING, "the generate run", nullable=False),
        Field("started_at", TIMESTAMP, "run start", "UTC", nullable=False),
        Field("seconds", DOUBLE, "wall time of generating and writing the files and the manifest", "seconds", nullable=False),
        Field("seed", LONG, "generator.seed: the same seed and settings give byte-identical files", nullable=False),
        Field("format", STRING, "csv, json (lines) or parquet, all in the REES46 layout", nullable=False),
        Field("output", STRING, "the folder the files (one event_date=YYYY-MM-DD folder per day) and the manifest were written to", nullable=False),
        Field("start_date", DATE, "the first generated day", nullable=False),
        Field("days", INT, "days of traffic generated from start_date", "days", nullable=False),
        Field("events_target", LONG, "generator.events: human events asked for (bots and faults come on top)", "events", nullable=False),
        Field("rows", LONG, "rows written in all files: human and bot events, plus the copies the duplicate faults add", "rows", nullable=False),
        Field("human_events", LONG, "events of human users, each counted once (without the duplicate copies)", "events", nullable=False),
        Field("bot_events", LONG, "events of bot users (bots get no faults)", "events", nullable=False),
        Field(
            "faults",
            T.MapType(STRING, LONG, False),
            f"rows given each fault, by kind ({', '.join(FAULT_KINDS)}): for {' and '.join(COPY_FAULTS)} the added copy; malformed is "
            "0 for parquet output",
            "rows",
            nullable=False,
        ),
        Field("config_hash", STRING, "hash of the whole effective config", nullable=False),
        Field("code_version", STRING, "package version and git commit", nullable=False),
    ),
)
