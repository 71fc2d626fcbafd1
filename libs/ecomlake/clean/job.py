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
import time
from collections.abc import Mapping
from dataclasses import dataclass

from pyspark import StorageLevel
from pyspark.core.broadcast import Broadcast
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ecomlake import lake
from ecomlake.catalog import BRONZE_EVENTS, LAYOUTS, QUARANTINE, RUN_AUDIT, SILVER_EVENTS
from ecomlake.clean import day, pseudonyms
from ecomlake.clean.rules import delivered_records, source_user_ids
from ecomlake.config import config_hash
from ecomlake.errors import ConfigError, InputMissingError
from ecomlake.ingest.layouts import Layout, layout_from_text, load_layout
from ecomlake.job import Context, SparkJob, iso_date
from ecomlake.runinfo import code_version

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CleanParams:
    date: dt.date  # the ingest date to clean


@dataclass(frozen=True)
class CleanResult:
    """Where the rows of one clean run went (also in ops.run_audit)."""

    run_date: dt.date
    counts: day.Counts

    @property
    def rows_in(self) -> int:
        return self.counts.rows_in

    @property
    def rows_out(self) -> int:
        return self.counts.kept + self.counts.quarantined + self.counts.bot_rows_removed

    def figures(self) -> Mapping[str, float]:
        c = self.counts
        return {
            "kept": c.kept, "quarantined": c.quarantined, "duplicates_exact": c.duplicates_exact, "duplicates_near": c.duplicates_near,
            "duplicates_redelivered": c.duplicates_redelivered,
            "bot_rows_removed": c.bot_rows_removed, "bot_rows_flagged": c.bot_rows_flagged,
            **{f"quarantined_{reason}": n for reason, n in c.quarantined_by_reason.items()},
        }  # fmt: skip

    def summary(self) -> str:
        c = self.counts
        return (
            f"clean {self.run_date}: {c.rows_in:,} rows in = {c.kept:,} kept + {c.quarantined:,} quarantined {json.dumps(c.quarantined_by_reason)} "
            f"+ {c.duplicates_exact:,} exact, {c.duplicates_near:,} near and {c.duplicates_redelivered:,} redelivered duplicates "
            f"+ {c.bot_rows_removed:,} bot rows removed "
            f"({c.bot_rows_flagged:,} bot rows flagged and kept)"
        )


def recorded_layouts(ctx: Context, bronze: DataFrame) -> dict[str, Layout]:
    """The layouts the day's bronze rows were read with, by name, as ingest recorded them (bronze.layouts): no flag needed.

    A configured layout file (ingest.layout) of the same name whose content has changed since is named in a
    warning; the rows are cleaned with the version they were read with.
    """
    used = bronze.select("source_layout", "layout_hash").distinct().collect()  # a handful of (name, version) pairs
    if any(r["layout_hash"] is None for r in used):  # a lake from before bronze.layouts
        raise InputMissingError("the day's bronze rows were ingested before layouts were recorded (no layout_hash); re-ingest the day")
    hashes = sorted({r["layout_hash"] for r in used})
    stored = {
        r["layout_hash"]: layout_from_text(r["content"], f"bronze.layouts version {r['layout_hash']} ({r['origin']})")
        for r in lake.read(ctx.spark, ctx.config, LAYOUTS, missing="empty").where(F.col("layout_hash").isin(hashes)).collect()
    }
    missing = [h for h in hashes if h not in stored]
    if missing:
        raise InputMissingError(f"bronze.layouts has no layout version {', '.join(missing)}, which bronze rows were read with; re-ingest the day")
    layouts: dict[str, Layout] = {}
    for r in used:
        layout = stored[r["layout_hash"]]
        other = layouts.setdefault(layout.name, layout)
        if other.time_format != layout.time_format:
            raise ConfigError(
                f"layout {layout.name}: the day's rows were read with two versions ({other.digest}, {layout.digest}) whose time_format "
                f"differs ({other.time_format!r}, {layout.time_format!r}); re-ingest the older files with the current layout"
            )
    try:
        configured: Layout | None = load_layout(ctx.config.ingest.layout)
    except ConfigError:  # not needed any more: the recorded versions are
        configured = None
    if configured is not None and configured.name in layouts and configured.digest not in hashes:
        log.warning(
            "layout %s: %s has changed since the rows were ingested (version %s, recorded %s); cleaning with the recorded version",
            configured.name, configured.origin, configured.digest, ", ".join(sorted(h for h in hashes)),
        )  # fmt: skip
    return layouts


def run(ctx: Context, params: CleanParams) -> CleanResult:
    """Clean bronze's rows of the date into silver and quarantine; return (and audit) the counts.

    Raises DataQualityError (nothing written) when the rows do not add up, InputMissingError when
    bronze has no rows for the date.

    Example:
        >>> run(ctx, CleanParams(dt.date(2019, 10, 1))).counts.kept  # the REES46 sample  # doctest: +SKIP
        17420
    """
    spark, config, run_date = ctx.spark, ctx.config, params.date
    started_at, t0 = dt.datetime.now(dt.UTC), time.perf_counter()
    where = {"ingest_date": run_date}
    counts: day.Counts | None = None
    classified: DataFrame | None = None
    secret: Broadcast[bytes] | None = None
    try:
        key = pseudonyms.load_key(config.privacy)
        pseudonyms.check_key(spark, config, key, run_date, ctx.run_id)
        bronze = lake.read(spark, config, BRONZE_EVENTS, where)
        users = None
        if key is not None:  # the key reaches the executors as a broadcast, never in a plan
            secret = spark.sparkContext.broadcast(key.secret)
            users = pseudonyms.number_users(spark, config, source_user_ids(bronze), secret, run_date, ctx.run_id)
        rules = day.Rules(config.clean, config.events.types, run_date)
        classified = day.classify(bronze, _previous(ctx, run_date), recorded_layouts(ctx, bronze), rules, users)
        # Counted, then written twice (quarantine, silver): keep it rather than parse and dedupe three times.
        # On local disk, not in the heap: a day outgrows storage memory, and the memory-then-disk
        # fallback ran a 4g JVM out of heap at 30M events (benchmarks/results/notes.md).
        classified = classified.persist(StorageLevel.DISK_ONLY)
        counts = _count(classified, bronze.count())
        day.check_conservation(counts)
        lake.write(day.quarantine_rows(classified), config, QUARANTINE, where)
        lake.write(day.silver_rows(classified), config, SILVER_EVENTS, where)
    except Exception as exc:  # any failure is audited, then re-raised for the exit code
        _audit(ctx, run_date, started_at, time.perf_counter() - t0, counts, "failed", str(exc))
        raise
    finally:
        if classified is not None:
            classified.unpersist()
        if secret is not None:
            secret.destroy()
    _audit(ctx, run_date, started_at, time.perf_counter() - t0, counts, "succeeded", None)
    return CleanResult(run_date, counts)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--date", type=iso_date, required=True, help="the ingest date to clean, YYYY-MM-DD")


def _previous(ctx: Context, run_date: dt.date) -> DataFrame | None:
    """The records bronze holds from the clean.dedupe_lookback_days ingest dates before the run date (None: no lookback)."""
    days = ctx.config.clean.lookback_days
    if days == 0:
        return None
    ingested = [run_date - dt.timedelta(days=n) for n in range(1, days + 1)]
    return lake.read(ctx.spark, ctx.config, BRONZE_EVENTS, missing="empty").where(F.col("ingest_date").isin(ingested)).transform(delivered_records)


def _count(classified: DataFrame, rows_in: int) -> day.Counts:
    grouped = classified.groupBy("disposition", "reason", F.col("bot_rule").isNotNull().alias("is_bot")).count().collect()
    return day.count_dispositions(rows_in, [(r["disposition"], r["reason"], r["is_bot"], r["count"]) for r in grouped])


def _audit(
    ctx: Context, run_date: dt.date, started_at: dt.datetime, seconds: float, counts: day.Counts | None, status: str, error: str | None
) -> None:
    """Append the run's row conservation to ops.run_audit."""
    c = counts
    record = {
        "run_id": ctx.run_id, "step": "clean", "run_date": run_date, "status": status, "error": error,
        "started_at": started_at, "seconds": seconds,
        "inputs": f"{BRONZE_EVENTS.qualified_name(ctx.config.lake)} ingest_date={run_date}",
        "config_hash": config_hash(ctx.config), "code_version": code_version(),
    }  # fmt: skip
    if c is not None:
        record |= {
            "rows_in": c.rows_in, "rows_kept": c.kept, "rows_quarantined": c.quarantined, "duplicates_exact": c.duplicates_exact,
            "duplicates_near": c.duplicates_near, "duplicates_redelivered": c.duplicates_redelivered,
            "bot_rows_removed": c.bot_rows_removed, "bot_rows_flagged": c.bot_rows_flagged,
            "quarantined_by_reason": c.quarantined_by_reason,
        }  # fmt: skip
    lake.append(ctx.spark, ctx.config, RUN_AUDIT, [record])


JOB = SparkJob("clean", "Clean a day of bronze into silver events and quarantine, recording row conservation", CleanParams, run, add_arguments)
