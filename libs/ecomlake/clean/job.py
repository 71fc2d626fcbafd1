"""``ecomlake clean --date D``: bronze -> silver events and quarantine, with row conservation recorded.

Re-running a date replaces exactly that date's slice of silver and quarantine (``replaceWhere`` on
``ingest_date``), each in one Delta commit: a crash leaves the previous version readable, and a
re-run gives the same tables. Every run, failed or not, appends its counts to ``ops.run_audit``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ecomlake import lake
from ecomlake.clean import day
from ecomlake.clean.schemas import QUARANTINE, RUN_AUDIT, SILVER
from ecomlake.config import Config, PrivacyConfig, config_hash
from ecomlake.errors import ConfigError, InputMissingError
from ecomlake.ingest.layouts import Layout, builtin_layouts, load_layout
from ecomlake.job import Job, iso_date
from ecomlake.runinfo import code_version, new_run_id

log = logging.getLogger(__name__)

RUN_AUDIT_SCHEMA = RUN_AUDIT.struct()  # documented in ecomlake.clean.schemas
MIN_KEY_BYTES = 16


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--date", type=iso_date, required=True, help="the ingest date to clean, YYYY-MM-DD")


def pseudonym_key(privacy: PrivacyConfig, environ: Mapping[str, str] | None = None) -> bytes | None:
    """The pseudonymisation key from the key file or the environment (never from YAML), or None when off."""
    if not privacy.pseudonymize_user_ids:
        return None
    environ = os.environ if environ is None else environ
    if privacy.key_file:
        path = Path(privacy.key_file)
        if not path.is_file():
            raise ConfigError(f"privacy.key_file: {path} does not exist (it holds the pseudonymisation key)")
        key = path.read_bytes().strip()
    else:
        key = environ.get(privacy.key_env, "").encode()
    if len(key) < MIN_KEY_BYTES:
        source = f"privacy.key_file {privacy.key_file}" if privacy.key_file else f"environment variable {privacy.key_env}"
        raise ConfigError(f"privacy.pseudonymize_user_ids is on, but {source} holds no key of at least {MIN_KEY_BYTES} bytes")
    return key


def resolve_layouts(config: Config, names: list[str]) -> dict[str, Layout]:
    """The layouts named in bronze's source_layout: the configured layout file, else a built-in one."""
    configured = load_layout(config.ingest.layout)
    layouts: dict[str, Layout] = {}
    for name in names:
        if name == configured.name:
            layouts[name] = configured
        elif name in builtin_layouts():
            layouts[name] = load_layout(name)
        else:
            raise ConfigError(f"ingest.layout: bronze rows were ingested with layout {name!r}; configure its layout file to clean them")
    return layouts


def clean_events(spark: SparkSession, config: Config, run_date: dt.date) -> day.Counts:
    """Clean bronze's rows of ``run_date`` into silver and quarantine; return (and audit) the counts.

    Raises DataQualityError (nothing written) when the rows do not add up, InputMissingError when
    bronze has no rows for the date.

    Example:
        >>> clean_events(spark, config, dt.date(2019, 10, 1)).kept  # the REES46 sample  # doctest: +SKIP
        17420
    """
    run_id, started_at, t0 = new_run_id(), dt.datetime.now(dt.UTC), time.perf_counter()
    inputs = f"{lake.BRONZE_EVENTS.qualified_name(config.lake)} ingest_date={run_date}"
    counts: day.Counts | None = None
    classified: DataFrame | None = None
    try:
        bronze = lake.read_table(spark, config.lake, lake.BRONZE_EVENTS).where(F.col("ingest_date") == F.lit(run_date))
        names = sorted(r[0] for r in bronze.select("source_layout").distinct().collect())  # a handful of layout names
        if not names:
            raise InputMissingError(f"{inputs} has no rows; run `ecomlake ingest --date {run_date}` first")
        classified = day.classify(bronze, resolve_layouts(config, names), config.clean, run_date, pseudonym_key(config.privacy))
        # Counted, then written twice (quarantine, silver): keep it rather than parse and dedupe three times.
        # On local disk, not in the heap: a day outgrows storage memory, and the memory-then-disk
        # fallback ran a 4g JVM out of heap at 30M events (benchmarks/results/notes.md).
        classified = classified.persist(StorageLevel.DISK_ONLY)
        counts = _count(classified, bronze.count())
        day.check_conservation(counts)
        where = f"ingest_date = '{run_date}'"
        lake.write_table(day.quarantine_rows(classified), config.lake, lake.QUARANTINE, replace_where=where, schema=QUARANTINE)
        lake.write_table(day.silver_rows(classified), config.lake, lake.SILVER_EVENTS, replace_where=where, schema=SILVER)
    except Exception as exc:  # any failure is audited, then re-raised for the exit code
        _record(spark, config, run_id, run_date, started_at, time.perf_counter() - t0, counts, inputs, "failed", str(exc))
        raise
    finally:
        if classified is not None:
            classified.unpersist()
    _record(spark, config, run_id, run_date, started_at, time.perf_counter() - t0, counts, inputs, "succeeded", None)
    return counts


def run(spark: SparkSession | None, config: Config, args: argparse.Namespace) -> day.Counts:
    assert spark is not None
    t0 = time.perf_counter()
    c = clean_events(spark, config, args.date)
    print(
        f"clean {args.date}: {c.rows_in:,} rows in = {c.kept:,} kept + {c.quarantined:,} quarantined {json.dumps(c.quarantined_by_reason)} "
        f"+ {c.duplicates_exact:,} exact and {c.duplicates_near:,} near duplicates + {c.bot_rows_removed:,} bot rows removed "
        f"({c.bot_rows_flagged:,} bot rows flagged and kept) in {time.perf_counter() - t0:.1f} s"
    )
    return c


def _count(classified: DataFrame, rows_in: int) -> day.Counts:
    grouped = classified.groupBy("disposition", "reason", F.col("bot_rule").isNotNull().alias("is_bot")).count().collect()
    return day.count_dispositions(rows_in, [(r["disposition"], r["reason"], r["is_bot"], r["count"]) for r in grouped])


def _record(
    spark: SparkSession,
    config: Config,
    run_id: str,
    run_date: dt.date,
    started_at: dt.datetime,
    seconds: float,
    counts: day.Counts | None,
    inputs: str,
    status: str,
    error: str | None,
) -> None:
    c = counts
    row = (
        run_id, "clean", run_date, status, error, started_at, seconds,
        c and c.rows_in, c and c.kept, c and c.quarantined, c and c.duplicates_exact, c and c.duplicates_near,
        c and c.bot_rows_removed, c and c.bot_rows_flagged, c and c.quarantined_by_reason,
        inputs, config_hash(config), code_version(),
    )  # fmt: skip
    lake.write_table(spark.createDataFrame([row], RUN_AUDIT_SCHEMA), config.lake, lake.RUN_AUDIT, mode="append", schema=RUN_AUDIT)


JOB = Job("clean", "Clean a day of bronze into silver events and quarantine, recording row conservation", add_arguments, run)
