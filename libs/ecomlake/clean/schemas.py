"""The clean job's documented schemas: silver.events, silver.quarantine and ops.run_audit.

Every bronze row of a run ends in exactly one place (see :mod:`ecomlake.clean.rules`): silver.events
(kept), silver.quarantine (a quarantine reason, or a removed bot's row) or dropped as a duplicate;
ops.run_audit records how many went where, so that the rows can be seen to add up.
"""

from __future__ import annotations

import dataclasses

from pyspark.sql import types as T

from ecomlake.clean import rules
from ecomlake.ingest.layouts import CANONICAL_EVENT_TYPES
from ecomlake.ingest.schemas import BRONZE
from ecomlake.schema import Field, TableSchema

LONG, INT, DOUBLE, STRING = T.LongType(), T.IntegerType(), T.DoubleType(), T.StringType()
DATE, TIMESTAMP, BOOL = T.DateType(), T.TimestampType(), T.BooleanType()
COUNTS = T.MapType(STRING, LONG, False)

_ORIGIN = f"where {{}} came from: source (the event had it), product (filled from the product's other rows), or {rules.UNKNOWN} (no known value)"
_FILLED = (
    "filled when missing with the product's most frequent known value among the run's kept rows (ties: the smallest), else "
    f"`{rules.UNKNOWN}`; never NULL"
)

SILVER = TableSchema(
    "silver.events",
    "One row per kept event: typed, deduplicated (exact copies and double clicks dropped), category code and brand filled. "
    "Rows that break a rule are in silver.quarantine instead, and ops.run_audit shows the rows add up. Partitioned by event_date; "
    "a clean run replaces the rows of its ingest_date, which may hold late events of earlier days.",
    (
        Field("event_time", TIMESTAMP, "when the event happened, parsed with its layout's time_format", "UTC"),
        Field(
            "event_date",
            DATE,
            "UTC day of event_time: the ingest_date, up to clean.max_late_days before it (late arrivals), or the next day within "
            "clean.max_future_minutes (clock skew); events outside that window are quarantined",
        ),
        Field("event_hour", INT, "hour of event_time", "hour 0-23 UTC"),
        Field("event_type", STRING, f"one of {', '.join(CANONICAL_EVENT_TYPES)}"),
        Field("product_id", LONG, "the product"),
        Field("category_id", LONG, "the product's category id; NULL when the source has none"),
        Field("category_code", STRING, f"the category code, e.g. electronics.smartphone; {_FILLED}", nullable=False),
        Field("brand", STRING, f"the brand, in lower case; {_FILLED}", nullable=False),
        Field("price", DOUBLE, "the product's price in the event, in [0, clean.max_price]; NULL when the source has none", "currency"),
        Field(
            "user_id",
            LONG,
            "the user: the source's id, or its HMAC-SHA256 pseudonym (a positive 60-bit number) when privacy.pseudonymize_user_ids is on",
        ),
        Field("user_session", STRING, "the source's session id (REES46 user_session); NULL when the source has none"),
        Field("order_id", STRING, "the source's order id; NULL when the source has none (REES46 has none)"),
        Field("category_code_origin", STRING, _ORIGIN.format("category_code"), nullable=False),
        Field("brand_origin", STRING, _ORIGIN.format("brand"), nullable=False),
        Field(
            "is_bot",
            BOOL,
            "true for the rows of a user who broke a bot rule, kept because clean.bot_action is flag (with remove, such rows are "
            "in silver.quarantine instead)",
            nullable=False,
        ),
        Field(
            "bot_rule",
            STRING,
            "the bot rule the user broke in the run's rows, with the user's peak, e.g. 'more than 60 events in a minute (212)' "
            "(clean.bot_max_events_per_minute, clean.bot_max_events_per_day); NULL for people",
        ),
        Field("source_layout", STRING, "the layout the row was ingested with (bronze.events.source_layout)"),
        Field("source_file", STRING, "the raw file the row came from (bronze.events.source_file)"),
        Field("ingest_date", DATE, "the ingest date the row was delivered with and cleaned for (clean --date); not the event's day"),
    ),
)

# The bronze row as it was, without the ingest run's own columns; the quarantine must not carry raw user ids either.
_PSEUDONYMISED_USER = "the source's user id as text, or its pseudonym (as silver.events.user_id) when privacy.pseudonymize_user_ids is on"
_BRONZE_AS_IT_WAS = tuple(
    dataclasses.replace(f, meaning=_PSEUDONYMISED_USER) if f.name == "user_id" else f
    for f in BRONZE.fields
    if f.name not in ("ingested_at", "run_id")
)

QUARANTINE = TableSchema(
    "silver.quarantine",
    "One row per bronze row clean rejected, with the bronze values as they were (text) and why: a quarantine reason, or the row "
    "of a bot user removed (clean.bot_action = remove). Duplicates are not here: they are counted in ops.run_audit and dropped. "
    "Partitioned by ingest_date; a clean run replaces its date's rows.",
    (
        Field(
            "reason",
            STRING,
            f"the first rule the row broke, tested in this order: {rules.MALFORMED} (the reader could not split the line; event_time or "
            f"product_id missing or unparseable; user_id, category_id or price present but not a number), {rules.NULL_USER} (no user id), "
            f"{rules.UNKNOWN_EVENT_TYPE} (not one of "
            f"{', '.join(CANONICAL_EVENT_TYPES)}), {rules.BAD_PRICE} (below 0 or above clean.max_price), "
            f"{rules.TIMESTAMP_OUT_OF_RANGE} (before clean.site_launch, more than clean.max_late_days before the ingest date, or more "
            f"than clean.max_future_minutes after its end); or {rules.BOT} (a removed bot user's row)",
            nullable=False,
        ),
        Field(
            "detail",
            STRING,
            'what exactly is wrong, naming the field and its raw value, e.g. "price -5.00 is outside [0, 100000]"; for bot, the rule the user broke',
        ),
        *_BRONZE_AS_IT_WAS,
    ),
)

RUN_AUDIT = TableSchema(
    "ops.run_audit",
    "One row per clean run, succeeded or failed: the row conservation check rows_in = rows_kept + rows_quarantined + "
    "duplicates_exact + duplicates_near + bot_rows_removed, with the counts behind it. A run whose rows do not add up writes "
    "nothing to silver. Append-only: re-runs add rows.",
    (
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
        Field("bot_rows_removed", LONG, f"rows of bot users moved to silver.quarantine with reason {rules.BOT} (clean.bot_action = remove)", "rows"),
        Field("bot_rows_flagged", LONG, "rows of bot users kept in silver.events with is_bot set (clean.bot_action = flag)", "rows"),
        Field("quarantined_by_reason", COUNTS, "rows_quarantined per reason (silver.quarantine.reason); reasons with no rows left out", "rows"),
        Field("inputs", STRING, "what the run read: the bronze table and ingest_date", nullable=False),
        Field("config_hash", STRING, "hash of the whole effective config", nullable=False),
        Field("code_version", STRING, "package version and git commit", nullable=False),
    ),
)
