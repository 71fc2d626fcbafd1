"""Cleaning rules as DataFrame transforms: parse, quarantine, deduplicate, find bots, fill.

Every bronze row ends in exactly one *disposition* (the codes are in :mod:`ecomlake.vocabulary`):
``kept`` (silver), ``quarantined`` (with a reason), ``duplicate`` (exact or near, counted and dropped)
or ``bot`` (removed to quarantine, or kept and flagged). The job counts dispositions and checks them
against the rows read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from ecomlake.config import CleanConfig
from ecomlake.ingest.layouts import Layout, parse_event_time
from ecomlake.vocabulary import (
    BAD_PRICE,
    CANONICAL_COLUMNS,
    EXACT,
    MALFORMED,
    NEAR,
    NULL_USER,
    TIMESTAMP_OUT_OF_RANGE,
    UNKNOWN,
    UNKNOWN_EVENT_TYPE,
)

# Two rows equal on all the canonical event columns (typed) are exact duplicates.
EVENT_COLUMNS = CANONICAL_COLUMNS
# The bronze values a quarantined row keeps as text, as they came (column ``bronze`` of parse_events).
BRONZE_VALUES = (*CANONICAL_COLUMNS, "raw_record")


def _blank_to_null(c: Column) -> Column:
    return F.nullif(F.trim(c), F.lit(""))


def source_user_id(raw: Column) -> Column:
    """The source's user id parsed as a number (blank and non-numbers are NULL): the same user whatever the spelling ("0123", " 123")."""
    return _blank_to_null(raw).try_cast("long")


def source_user_ids(bronze: DataFrame) -> DataFrame:
    """The distinct parsed user ids of bronze rows (column ``source_user_id``): what the pseudonymisation numbers."""
    parsed = source_user_id(F.col("user_id"))
    # A line the reader could not split has only a partial split of the id (parse_events keeps no number for it).
    is_split = F.col("raw_record").isNull()
    return bronze.where(is_split).select(parsed.alias("source_user_id")).where(F.col("source_user_id").isNotNull()).distinct()


def parse_events(bronze: DataFrame, layouts: Mapping[str, Layout], users: DataFrame | None = None) -> DataFrame:
    """Typed event columns from bronze's strings, beside the bronze row itself (column ``bronze``).

    Unparseable values become NULL (``try_`` functions: under ANSI mode one bad value would
    otherwise fail the job); ``is_unparseable`` says a present value did not parse. ``users``
    (pseudonymised mode; columns ``source_user_id``, ``user_id``) gives each parsed source id its
    number in the lake: it replaces the id everywhere, and the raw line of a malformed row is dropped.
    """
    # Each layout parses its own time format; event types were mapped to the vocabulary at ingest.
    time: Column = F.lit(None).cast("timestamp")
    for name, layout in layouts.items():
        is_layout = F.col("source_layout") == F.lit(name)
        time = F.when(is_layout, parse_event_time(_blank_to_null(F.col("event_time")), layout.time_format)).otherwise(time)
    event_type = F.lower(F.trim(F.col("event_type")))
    raw_user, raw_category, raw_price = (_blank_to_null(F.col(c)) for c in ("user_id", "category_id", "price"))
    parsed_user = source_user_id(F.col("user_id"))
    product = _blank_to_null(F.col("product_id")).try_cast("long")
    category = raw_category.try_cast("long")
    price = raw_price.try_cast("double")
    is_unsplit = F.col("raw_record").isNotNull()
    is_unparseable = (
        is_unsplit | time.isNull() | product.isNull() | (raw_category.isNotNull() & category.isNull()) | (raw_price.isNotNull() & price.isNull())
    )
    user = parsed_user
    # Only what the quarantine needs and the parsed columns do not hold as they were: the row's width is
    # what the duplicate window sorts (source file, layout and date stay top-level columns).
    bronze_row = F.struct(*[F.col(c) for c in BRONZE_VALUES])
    if users is not None:  # the quarantine keeps bronze rows: they must not carry raw ids either
        numbers = users.select(F.col("source_user_id").alias("_source_user_id"), F.col("user_id").alias("_user_number"))
        bronze = bronze.join(numbers, parsed_user == F.col("_source_user_id"), how="left")
        user = F.when(~is_unsplit, F.col("_user_number"))
        bronze_row = bronze_row.withField("user_id", user.cast("string")).withField("raw_record", F.lit(None).cast("string"))
    return bronze.select(
        time.alias("event_time"),
        event_type.alias("event_type"),
        product.alias("product_id"),
        category.alias("category_id"),
        _blank_to_null(F.col("category_code")).alias("category_code"),
        F.lower(_blank_to_null(F.col("brand"))).alias("brand"),
        price.alias("price"),
        user.alias("user_id"),
        (raw_user.isNotNull() & parsed_user.isNull()).alias("is_user_unparseable"),
        _blank_to_null(F.col("user_session")).alias("user_session"),
        _blank_to_null(F.col("order_id")).alias("order_id"),
        is_unparseable.alias("is_unparseable"),
        is_unsplit.alias("is_unsplit"),
        F.col("source_file"),
        F.col("source_layout"),
        F.col("ingest_date"),
        bronze_row.alias("bronze"),
    )


def trusted_window(config: CleanConfig, run_date: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[earliest, latest) event times trusted for a run date: late arrivals and a little clock skew, never before launch."""
    earliest = max(config.site_launch, run_date - dt.timedelta(days=config.max_late_days))
    latest = dt.datetime.combine(run_date + dt.timedelta(days=1), dt.time()) + dt.timedelta(minutes=config.max_future_minutes)
    return dt.datetime.combine(earliest, dt.time()), latest


def quarantine_reason(config: CleanConfig, run_date: dt.date, event_types: Sequence[str]) -> Column:
    """The first quarantine reason that applies to a parsed row, or NULL for a trustworthy row.

    ``event_types``: the configured vocabulary (``events.types``: the four and the site's own).
    """
    earliest, latest = trusted_window(config, run_date)
    time = F.col("event_time")
    is_out_of_range = (time < F.lit(earliest)) | (time >= F.lit(latest))
    price = F.col("price")
    return (
        F.when(F.col("is_unparseable") | F.col("is_user_unparseable"), F.lit(MALFORMED))
        .when(F.col("user_id").isNull(), F.lit(NULL_USER))
        .when(~F.col("event_type").isin(*event_types) | F.col("event_type").isNull(), F.lit(UNKNOWN_EVENT_TYPE))
        .when((price < 0) | (price > F.lit(config.max_price)), F.lit(BAD_PRICE))
        .when(is_out_of_range, F.lit(TIMESTAMP_OUT_OF_RANGE))
    )


def quarantine_detail(config: CleanConfig, run_date: dt.date, event_types: Sequence[str]) -> Column:
    """What exactly is wrong with a quarantined row, naming the field and its raw value."""

    def raw(column: str) -> Column:
        return F.coalesce(F.col(f"bronze.{column}"), F.lit("NULL"))

    earliest, latest = trusted_window(config, run_date)
    reason = F.col("reason")
    return (
        F.when(F.col("is_unsplit"), F.lit("the reader could not split the record into its fields"))
        .when((reason == MALFORMED) & F.col("event_time").isNull(), F.format_string("event_time '%s' does not parse", raw("event_time")))
        .when((reason == MALFORMED) & F.col("product_id").isNull(), F.format_string("product_id '%s' is not a number", raw("product_id")))
        .when(
            (reason == MALFORMED) & F.col("is_user_unparseable") & F.col("bronze.user_id").isNull(),
            F.lit("user_id is not a number (user ids are pseudonymised: the value stays in bronze.events only)"),
        )
        .when((reason == MALFORMED) & F.col("is_user_unparseable"), F.format_string("user_id '%s' is not a number", raw("user_id")))
        .when(reason == MALFORMED, F.format_string("category_id '%s' or price '%s' is not a number", raw("category_id"), raw("price")))
        .when(reason == NULL_USER, F.lit("user_id is empty"))
        .when(reason == UNKNOWN_EVENT_TYPE, F.format_string("event_type '%s' is not one of " + ", ".join(event_types), raw("event_type")))
        .when(reason == BAD_PRICE, F.format_string(f"price %s is outside [0, {config.max_price:g}]", raw("price")))
        .when(
            reason == TIMESTAMP_OUT_OF_RANGE,
            F.format_string(f"event_time %s is outside the trusted window [{earliest}, {latest})", raw("event_time")),
        )
    )


def delivered_records(bronze: DataFrame) -> DataFrame:
    """Bronze rows as :func:`mark_redelivered` compares them: ``_record``, a struct of the values as they came (and the raw line)."""
    return bronze.select(F.struct(*[F.col(c) for c in BRONZE_VALUES]).alias("_record"))


def mark_redelivered(bronze: DataFrame, previous: DataFrame) -> DataFrame:
    """Add ``redelivered``: true for a bronze row whose record was already delivered on an earlier ingest date
    (``previous``: :func:`delivered_records` of those days), e.g. a re-sent export or a retried upload; else false.

    Compared on the values as they came, before any rule: the earlier run accounted for the record (kept,
    quarantined, or dropped as a duplicate or a bot's), so a copy changes nothing. Struct equality treats
    NULL fields as equal, so records without a session or an order still match.
    """
    seen = previous.distinct().withColumn("_seen", F.lit(True))
    keyed = bronze.withColumn("_record", F.struct(*[F.col(c) for c in BRONZE_VALUES]))
    return keyed.join(seen, "_record", how="left").withColumn("redelivered", F.coalesce("_seen", F.lit(False))).drop("_record", "_seen")


def mark_duplicates(events: DataFrame, near_seconds: int) -> DataFrame:
    """Add ``duplicate``: ``exact`` for the second and later copies of a row, ``near`` for the same
    user, product and type again within ``near_seconds`` of the previous one; else NULL.

    One window per user, ordered so that copies sit next to each other: the rows are shuffled by
    user once, and the bot windows that follow reuse that partitioning. Which copy
    survives is deterministic (earliest source file first), so re-runs agree.
    """
    rest = [c for c in EVENT_COLUMNS if c not in ("user_id", "product_id", "event_type", "event_time")]
    ordered = Window.partitionBy("user_id").orderBy("product_id", "event_type", "event_time", *rest, "source_file")
    has_previous = F.lag("event_time").over(ordered).isNotNull()  # valid rows always have a time
    is_same = [F.lag(c).over(ordered).eqNullSafe(F.col(c)) for c in EVENT_COLUMNS]
    is_exact = has_previous & reduce(lambda a, b: a & b, is_same)
    is_same_action = has_previous & is_same[EVENT_COLUMNS.index("product_id")] & is_same[EVENT_COLUMNS.index("event_type")]
    # In microseconds: whole seconds would make a repeat 1.9 s later "within 1 s" (millisecond layouts such as retailrocket).
    gap_micros = F.unix_micros(F.col("event_time")) - F.unix_micros(F.lag("event_time").over(ordered))
    is_near = is_same_action & (gap_micros <= F.lit(near_seconds * 1_000_000))
    return events.withColumn("duplicate", F.when(is_exact, F.lit(EXACT)).when(is_near, F.lit(NEAR)))


def flag_bots(events: DataFrame, config: CleanConfig) -> DataFrame:
    """Add ``bot_rule``: the rule a user broke on an event day (no person clicks that fast or that much), else NULL.

    Counted per user and event day (UTC), whatever the batch: a delivery of many days flags exactly the
    user-days a delivery per day flags, and a heavy user's days do not add up to a bot. Per-user windows:
    no shuffle after :func:`mark_duplicates`, and no join back.
    """
    per_minute = F.count(F.lit(1)).over(Window.partitionBy("user_id", F.date_trunc("minute", "event_time")))
    user_day = Window.partitionBy("user_id", F.to_date("event_time"))
    counted = events.withColumn("_per_minute", per_minute)
    peak, total = F.max("_per_minute").over(user_day), F.count(F.lit(1)).over(user_day)
    limit_minute, limit_day = config.bot_max_events_per_minute, config.bot_max_events_per_day
    rule = F.when(peak > limit_minute, F.format_string(f"more than {limit_minute} events in a minute (%d)", peak)).when(
        total > limit_day, F.format_string(f"more than {limit_day} events in a day (%d)", total)
    )
    return counted.withColumn("bot_rule", rule).drop("_per_minute")


def fill_category_and_brand(events: DataFrame) -> DataFrame:
    """Fill missing category_code and brand from the product's most frequent known value, else ``unknown``.

    ``category_code_origin`` / ``brand_origin`` say where the value came from: source, product or unknown.
    Ties between equally frequent values go to the smallest, so re-runs agree.
    """
    modes = events.groupBy("product_id").agg(*[F.mode(c, deterministic=True).alias(f"{c}_mode") for c in ("category_code", "brand")])
    # One row per product: broadcast it. AQE cannot see that it is small (its estimate is the partial
    # modes' shuffle, larger than the result), and a sort-merge join re-shuffles every kept event by product.
    filled = events.join(F.broadcast(modes), "product_id", how="left")
    for column in ("category_code", "brand"):
        mode = F.col(f"{column}_mode")
        origin = F.when(F.col(column).isNotNull(), F.lit("source")).when(mode.isNotNull(), F.lit("product")).otherwise(F.lit(UNKNOWN))
        filled = filled.withColumn(f"{column}_origin", origin).withColumn(column, F.coalesce(F.col(column), mode, F.lit(UNKNOWN))).drop(mode)
    return filled
