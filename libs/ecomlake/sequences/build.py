"""Silver events -> fixed-length event sequences with targets: pure DataFrame transforms.

A sample is anchored at one event: its context is the user's last ``length`` events up to and
including the anchor (only the anchor's session with ``unit: session``), oldest first and LEFT-padded,
so the last position is always the anchor. Targets look only after the anchor:

- ``next_event``: the type of the session's next event, or ``exit`` when the session ends there;
- ``purchase_label``: a purchase later in the anchor's session;
- ``churn_label``: gold.labels' ``churned`` for the user with cut-off = the anchor's day (no session in
  the next ``horizon`` days), -1 where that cut-off has no labels.

Sessions are the gold ones (``featurize.sessionize``): a day's sessions end at midnight UTC, so every
anchor's session targets are known once its day is in silver.

Ids become vocabulary indexes: 0 is padding, 1 is out-of-vocabulary (a product or category too rare in
the train days, or unknown), 2.. the vocabulary, most frequent first.

Event types are numbered by the event vocabulary (``config.events.types``: view, cart, remove_from_cart,
purchase, then the site's ``events.extra_types`` in declared order): ids 1..N, 0 is padding; next_event
classes are 0..N-1 for the types and N for exit. The four canonical types keep ids 1..4 whatever the extras,
so a dataset built without extras means the same as before they existed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from ecomlake.errors import DataQualityError
from ecomlake.featurize.columns import seconds_between
from ecomlake.featurize.sessions import assign_sessions
from ecomlake.vocabulary import EVENT_TYPES, EXIT, PURCHASE, SILVER_EVENT_COLUMNS

PAD, OOV = 0, 1
FIRST_VOCAB_INDEX = 2

# The per-step columns of a sample, each an array of ``length`` values.
STEP_COLUMNS = ("event_types", "items", "categories", "prices", "gaps")
# Ties in event_time are ordered the same way on every run, as sessionisation does.
EVENT_ORDER = ("event_time", "event_type", "product_id", "price", "order_id")


def context_events(silver: DataFrame, first_anchor: dt.date, run_date: dt.date, lookback_days: int, include_bots: bool) -> DataFrame:
    """The silver events that anchors of [first_anchor, run_date] and their contexts read (contexts reach ``lookback_days`` further back)."""
    context_start = first_anchor - dt.timedelta(days=lookback_days)
    events = silver.where(F.col("event_date").between(F.lit(context_start), F.lit(run_date)))
    return (events if include_bots else events.where(~F.col("is_bot"))).select(*SILVER_EVENT_COLUMNS)


def vocabulary(events: DataFrame, column: str, min_events: int, max_size: int) -> DataFrame:
    """(``column``, index, events): ids with at least ``min_events`` events, most frequent first, from index 2.

    The vocabulary is one row per id; its ordering is a single-partition sort, fine for the
    hundreds of thousands of products a catalogue has (max_size caps it).
    """
    counts = events.where(F.col(column).isNotNull()).groupBy(column).agg(F.count(F.lit(1)).alias("events"))
    ranked = Window.orderBy(F.col("events").desc(), F.col(column))
    return (
        counts.where(F.col("events") >= min_events)
        .withColumn("index", (F.row_number().over(ranked) + (FIRST_VOCAB_INDEX - 1)).cast("int"))
        .where(F.col("index") < max_size + FIRST_VOCAB_INDEX)
        .select(column, "index", "events")
    )


def with_vocabulary_ids(events: DataFrame, items: DataFrame, categories: DataFrame) -> DataFrame:
    """Add ``item_index`` and ``category_index`` (OOV for ids outside the vocabularies, and for NULL)."""
    item_ids = F.broadcast(items.select("product_id", F.col("index").alias("item_index")))
    category_ids = F.broadcast(categories.select("category_id", F.col("index").alias("category_index")))
    return (
        events.join(item_ids, "product_id", "left")
        .join(category_ids, "category_id", "left")
        .withColumn("item_index", F.coalesce("item_index", F.lit(OOV)))
        .withColumn("category_index", F.coalesce("category_index", F.lit(OOV)))
    )


def next_event_classes(event_types: Sequence[str]) -> tuple[str, ...]:
    """The next-event classes of an event vocabulary: its types in id order, then exit."""
    return (*event_types, EXIT)


def event_type_id(column: Column, event_types: Sequence[str] = EVENT_TYPES) -> Column:
    """The type's id: its 1-based position in ``event_types`` (1 view, 2 cart, 3 remove_from_cart, 4 purchase, 5.. the extras); NULL if absent."""
    ids = F.lit(None).cast("int")
    for i, name in reversed(list(enumerate(event_types, start=1))):
        ids = F.when(column == name, F.lit(i)).otherwise(ids)
    return ids


def check_event_types(events: DataFrame, event_types: Sequence[str], where: str, remedy: str) -> None:
    """Raise DataQualityError naming the event types of ``events`` outside ``event_types`` (with their counts).

    Such an event has no id, and as a next event it would pass for an exit: silver rows of a type since
    removed from ``events.extra_types`` fail the build rather than change the dataset's meaning quietly.
    """
    rows = events.where(~F.col("event_type").isin(*event_types)).groupBy("event_type").count().orderBy("event_type").collect()
    if rows:
        found = ", ".join(f"{r['event_type']!r} ({r['count']:,} events)" for r in rows)
        raise DataQualityError(f"{where} holds event types outside the event vocabulary ({', '.join(event_types)}): {found}; {remedy}")


def steps(events: DataFrame, unit: str, length: int, gap_minutes: int, dwell_cap_seconds: int, event_types: Sequence[str] = EVENT_TYPES) -> DataFrame:
    """One row per event with its context (the last ``length`` steps up to it) and its session targets.

    ``events`` are silver events with ``item_index``/``category_index``, every type one of ``event_types``
    (``check_event_types``); the result has user_id, anchor_time, anchor_date, session_id, context (array
    of step structs, oldest first), next_event and purchase_label.
    """
    sessioned = events.transform(assign_sessions, gap_minutes, dwell_cap_seconds)
    in_session = Window.partitionBy("user_id", "session_id").orderBy(*EVENT_ORDER)
    context_keys = ("user_id",) if unit == "user" else ("user_id", "session_id")
    in_context = Window.partitionBy(*context_keys).orderBy(*EVENT_ORDER)
    next_type = F.lead("event_type").over(in_session)
    next_event = F.coalesce(event_type_id(next_type, event_types) - 1, F.lit(len(event_types)))  # no next event: exit, the last class
    purchase_later = F.max((F.col("event_type") == PURCHASE).cast("int")).over(in_session.rowsBetween(1, Window.unboundedFollowing))
    previous_time = F.lag("event_time").over(in_context)
    step = F.struct(
        event_type_id(F.col("event_type"), event_types).alias("event_type"),
        F.col("item_index").alias("item"),
        F.col("category_index").alias("category"),
        F.coalesce(F.log1p(F.greatest(F.col("price"), F.lit(0.0))), F.lit(0.0)).cast("float").alias("price"),
        F.coalesce(F.log1p(seconds_between(F.col("event_time"), previous_time)), F.lit(0.0)).cast("float").alias("gap"),
    )
    with_step = sessioned.select(
        "user_id", "session_id", "event_time", "event_date", "event_type", "product_id", "price", "order_id",
        step.alias("step"),
        next_event.cast("int").alias("next_event"),
        F.coalesce(purchase_later, F.lit(0)).cast("int").alias("purchase_label"),
    )  # fmt: skip
    context = F.collect_list("step").over(in_context.rowsBetween(-(length - 1), Window.currentRow))
    is_user_last = F.lead(F.lit(1)).over(Window.partitionBy("user_id").orderBy(*EVENT_ORDER)).isNull()
    return with_step.select(
        "user_id",
        F.col("event_time").alias("anchor_time"),
        F.col("event_date").alias("anchor_date"),
        "session_id",
        context.alias("context"),
        "next_event",
        "purchase_label",
        is_user_last.alias("is_user_last"),
    )


def padded(samples: DataFrame, length: int) -> DataFrame:
    """Replace ``context`` by ``length`` and one left-padded array per step column."""
    size = F.size("context")
    pad = F.array_repeat(F.lit(PAD), length - size)
    pad_float = F.array_repeat(F.lit(0.0).cast("float"), length - size)

    def column(field: str, is_float: bool) -> Column:
        return F.concat(pad_float if is_float else pad, F.transform("context", lambda s: s[field]))

    fields = {"event_types": "event_type", "items": "item", "categories": "category", "prices": "price", "gaps": "gap"}
    return samples.select(
        *[c for c in samples.columns if c != "context"],
        size.cast("int").alias("length"),
        *[column(field, name in ("prices", "gaps")).alias(name) for name, field in fields.items()],
    )


def sampled(samples: DataFrame, fraction: float) -> DataFrame:
    """A deterministic ``fraction`` of the anchors (a hash of user and anchor time, not a random draw)."""
    if fraction >= 1:
        return samples
    bucket = F.abs(F.xxhash64("user_id", "anchor_time", F.lit("anchor"))) % 1_000_000
    return samples.where(bucket < int(fraction * 1_000_000))


def with_churn_label(samples: DataFrame, labels: DataFrame) -> DataFrame:
    """``churn_label``: gold.labels' churned at cut-off = anchor_date (1/0), -1 without a label."""
    churned = labels.select("user_id", F.col("cutoff_date").alias("anchor_date"), F.col("churned").cast("int").alias("_churned"))
    return samples.join(churned, ["user_id", "anchor_date"], "left").withColumn("churn_label", F.coalesce("_churned", F.lit(-1))).drop("_churned")


def split_dates(run_date: dt.date, validation_days: int, test_days: int) -> tuple[dt.date, dt.date]:
    """(last train day, last validation day): test is the ``test_days`` up to run_date, validation the days before."""
    last_validation = run_date - dt.timedelta(days=test_days)
    return last_validation - dt.timedelta(days=validation_days), last_validation


def with_split(samples: DataFrame, run_date: dt.date, validation_days: int, test_days: int) -> DataFrame:
    """``split`` by the anchor's day: train, then validation, then test (by time, never at random)."""
    last_train, last_validation = split_dates(run_date, validation_days, test_days)
    day = F.col("anchor_date")
    split = F.when(day <= F.lit(last_train), "train").when(day <= F.lit(last_validation), "validation").otherwise("test")
    return samples.withColumn("split", split)
