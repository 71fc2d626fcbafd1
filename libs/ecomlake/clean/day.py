"""Cleaning one day of bronze: classify every row, check conservation, shape silver and quarantine."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ecomlake.catalog import QUARANTINE, SILVER_EVENTS
from ecomlake.clean import rules
from ecomlake.config import CleanConfig
from ecomlake.errors import DataQualityError
from ecomlake.ingest.layouts import Layout
from ecomlake.vocabulary import BOT, DUPLICATE, EXACT, KEPT, NEAR, QUARANTINED, REASONS, REDELIVERED


@dataclass(frozen=True)
class Rules:
    """What one clean run judges by: the cleaning config, the event vocabulary and the run date."""

    clean: CleanConfig
    event_types: Sequence[str]  # events.types
    run_date: dt.date


def classify(bronze: DataFrame, previous: DataFrame | None, layouts: Mapping[str, Layout], r: Rules, users: DataFrame | None = None) -> DataFrame:
    """Every bronze row once, with ``disposition`` (kept, quarantined, duplicate, bot) and ``reason``/``detail``.

    ``previous``: the records delivered on the earlier ingest dates of the re-delivery lookback
    (:func:`ecomlake.clean.rules.delivered_records`); a row among them is a ``redelivered`` duplicate, whatever it is.
    ``users``: in pseudonymised mode, the lake's number for each source user id (:func:`ecomlake.clean.rules.parse_events`).
    """
    config, run_date = r.clean, r.run_date
    redelivered: DataFrame | None = None
    if previous is not None:  # before every other rule: the earlier run judged the record already
        marked_bronze = bronze.transform(rules.mark_redelivered, previous)
        redelivered = rules.parse_events(marked_bronze.where(F.col("redelivered")), layouts, users)
        bronze = marked_bronze.where(~F.col("redelivered")).drop("redelivered")
    parsed = rules.parse_events(bronze, layouts, users).withColumn("reason", rules.quarantine_reason(config, run_date, r.event_types))
    rejected = (
        parsed.where(F.col("reason").isNotNull())
        .withColumn("disposition", F.lit(QUARANTINED))
        .withColumn("detail", rules.quarantine_detail(config, run_date, r.event_types))
    )
    valid = parsed.where(F.col("reason").isNull())
    marked = valid.transform(rules.mark_duplicates, config.near_duplicate_seconds)
    duplicates = marked.where(F.col("duplicate").isNotNull()).withColumn("disposition", F.lit(DUPLICATE)).withColumn("reason", F.col("duplicate"))
    if redelivered is not None:
        again = redelivered.withColumn("disposition", F.lit(DUPLICATE)).withColumn("reason", F.lit(REDELIVERED))
        duplicates = duplicates.unionByName(again, allowMissingColumns=True)
    # The bot windows are per user, over the partitioning the duplicate window made.
    with_bots = marked.where(F.col("duplicate").isNull()).transform(rules.flag_bots, config)
    is_removed_bot = F.col("bot_rule").isNotNull() & F.lit(config.bot_action == "remove")
    judged = (
        with_bots.withColumn("disposition", F.when(is_removed_bot, F.lit(BOT)).otherwise(F.lit(KEPT)))
        .withColumn("reason", F.when(is_removed_bot, F.lit(BOT)))
        .withColumn("detail", F.col("bot_rule"))
    )
    return rejected.unionByName(duplicates, allowMissingColumns=True).unionByName(judged, allowMissingColumns=True)


@dataclass(frozen=True)
class Counts:
    """What happened to the rows of one run."""

    rows_in: int
    kept: int
    quarantined: int
    duplicates_exact: int
    duplicates_near: int
    duplicates_redelivered: int  # already in silver from an earlier ingest date (clean.dedupe_lookback_days)
    bot_rows_removed: int
    bot_rows_flagged: int
    quarantined_by_reason: dict[str, int]

    @property
    def accounted(self) -> int:
        return self.kept + self.quarantined + self.duplicates + self.bot_rows_removed

    @property
    def duplicates(self) -> int:
        return self.duplicates_exact + self.duplicates_near + self.duplicates_redelivered

    @property
    def holds(self) -> bool:
        """Row conservation: every row in is kept, quarantined, a dropped duplicate (exact, near or redelivered) or a removed bot row."""
        return self.accounted == self.rows_in


def count_dispositions(rows_in: int, per_disposition: list[tuple[str, str | None, bool, int]]) -> Counts:
    """Fold (disposition, reason, is_flagged_bot, rows) tuples into Counts."""

    def total(disposition: str, reason: str | None = None) -> int:
        return sum(n for d, r, _, n in per_disposition if d == disposition and (reason is None or r == reason))

    by_reason = {r: sum(n for d, rr, _, n in per_disposition if d == QUARANTINED and rr == r) for r in REASONS}
    return Counts(
        rows_in=rows_in,
        kept=total(KEPT),
        quarantined=total(QUARANTINED),
        duplicates_exact=total(DUPLICATE, EXACT),
        duplicates_near=total(DUPLICATE, NEAR),
        duplicates_redelivered=total(DUPLICATE, REDELIVERED),
        bot_rows_removed=total(BOT),
        bot_rows_flagged=sum(n for d, _, flagged, n in per_disposition if d == KEPT and flagged),
        quarantined_by_reason={r: n for r, n in by_reason.items() if n},
    )


def check_conservation(counts: Counts) -> None:
    """rows in = kept + quarantined + duplicates + bot rows removed, or nothing is committed."""
    if not counts.holds:
        raise DataQualityError(
            f"row conservation failed: {counts.rows_in} rows in, but {counts.kept} kept + {counts.quarantined} quarantined + "
            f"{counts.duplicates} duplicates + {counts.bot_rows_removed} bot rows = {counts.accounted}; "
            "nothing was written"
        )


def silver_rows(classified: DataFrame) -> DataFrame:
    """The kept rows, filled, in the columns of silver.events (ecomlake.catalog.events), in their order."""
    shaped = classified.where(F.col("disposition") == KEPT).transform(rules.fill_category_and_brand)
    derived = {
        "event_date": F.to_date("event_time"),
        "event_hour": F.hour("event_time"),
        "is_bot": F.col("bot_rule").isNotNull(),
    }
    return shaped.select(*[derived[c].alias(c) if c in derived else F.col(c) for c in SILVER_EVENTS.schema().names])


def quarantine_rows(classified: DataFrame) -> DataFrame:
    """The quarantined and removed-bot rows as they were in bronze, with reason and detail, as silver.quarantine."""
    rejected = classified.where(F.col("disposition").isin(QUARANTINED, BOT))
    return rejected.select(
        "reason",
        "detail",
        *[F.col(f"bronze.{f.name}" if f.name in rules.BRONZE_VALUES else f.name).alias(f.name) for f in QUARANTINE.schema().fields[2:]],
    )
