"""Fault injection: each human event gets at most one fault, at the configured rates.

The faults are the ones real event logs have. Duplicates and near-duplicates add a second copy of
the row (``copy`` = 1); the other faults change the row itself. Bot traffic gets no faults, so that
cleaning can be checked fault by fault against the manifest. Malformed lines need a text format:
with Parquet output the malformed rate is not applied (the manifest then shows 0).
"""

from __future__ import annotations

import dataclasses

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ecomlake.config import FaultRates
from ecomlake.generate.randomness import index, uniform

NO_FAULT = "none"
FAULT_KINDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(FaultRates))
COPY_FAULTS = ("duplicate", "near_duplicate")
UNKNOWN_EVENT_TYPES = ("click", "wishlist", "share", "compare")
SECONDS_PER_YEAR = 365 * 86_400
# Malformed variants, rendered by ecomlake.generate.output (JSON lines has no extra-field variant).
MALFORMED_GARBLED_TIME, MALFORMED_NON_NUMERIC_ID, MALFORMED_TRUNCATED, MALFORMED_EXTRA_FIELD = 0, 1, 2, 3


def fault_of(seed: int, rates: FaultRates, has_text_format: bool) -> Column:
    """The fault drawn for an event (a column over the event frame), or ``none``."""
    u = uniform(seed, "fault", F.col("session_key"), F.col("seq"))
    applicable = {
        "malformed": F.lit(has_text_format),
        "missing_category": F.col("category_code").isNotNull() & F.col("brand").isNotNull(),
    }
    chosen: Column = F.lit(NO_FAULT)
    upper = 0.0
    for kind in FAULT_KINDS:
        lower, upper = upper, upper + getattr(rates, kind)
        is_kind = (u >= F.lit(lower)) & (u < F.lit(upper)) & applicable.get(kind, F.lit(True))
        chosen = F.when(is_kind, F.lit(kind)).otherwise(chosen)
    return F.when(F.col("is_bot"), F.lit(NO_FAULT)).otherwise(chosen)


def inject_faults(events: DataFrame, seed: int, rates: FaultRates, has_text_format: bool) -> DataFrame:
    """Add ``fault``, ``copy``, ``malformed_kind`` and ``true_event_type``, and apply the faults."""

    def draw(salt: str) -> Column:
        return uniform(seed, salt, F.col("session_key"), F.col("seq"))

    with_fault = events.withColumn("fault", fault_of(seed, rates, has_text_format)).withColumn(
        "copy", F.explode(F.when(F.col("fault").isin(*COPY_FAULTS), F.array(F.lit(0), F.lit(1))).otherwise(F.array(F.lit(0))))
    )
    fault, is_copy = F.col("fault"), F.col("copy") == 1
    # One second later: natural repeats of the same user, product and type are at least 2 s apart.
    near_shift = F.make_interval(secs=F.lit(1).cast("decimal(18,6)"))
    # Far future: decades ahead; too early: years before any e-commerce log of this site.
    future = F.col("event_time") + F.make_interval(years=F.lit(60) + index(draw("future"), 40).cast("int"))
    past = F.col("event_time") - F.make_interval(years=F.lit(20) + index(draw("past"), 30).cast("int"))
    is_future = draw("time_direction") < F.lit(0.5)
    is_negative = draw("price_direction") < F.lit(0.5)
    bad_price = F.when(is_negative, -F.greatest(F.col("price"), F.lit(1.0))).otherwise(F.round(F.col("price") * 1000 + 1e7, 2))
    return with_fault.select(
        F.when(is_copy & (fault == "near_duplicate"), F.col("event_time") + near_shift)
        .when(fault == "bad_timestamp", F.when(is_future, future).otherwise(past))
        .otherwise(F.col("event_time"))
        .alias("event_time"),
        F.when(
            fault == "unknown_event_type",
            F.element_at(F.array(*map(F.lit, UNKNOWN_EVENT_TYPES)), (index(draw("unknown_type"), len(UNKNOWN_EVENT_TYPES)) + 1).cast("int")),
        )
        .otherwise(F.col("event_type"))
        .alias("event_type"),
        "product_id",
        "category_id",
        F.when(fault == "missing_category", F.lit(None)).otherwise(F.col("category_code")).alias("category_code"),
        F.when(fault == "missing_category", F.lit(None)).otherwise(F.col("brand")).alias("brand"),
        F.when(fault == "bad_price", bad_price).otherwise(F.col("price")).alias("price"),
        F.when(fault == "null_user", F.lit(None)).otherwise(F.col("user_id")).alias("user_id"),
        "user_session",
        "event_date",
        "is_bot",
        "session_key",
        "seq",
        "fault",
        "copy",
        F.when(fault == "malformed", index(draw("malformed_kind"), 4).cast("int")).alias("malformed_kind"),
        F.col("event_type").alias("true_event_type"),
    )
