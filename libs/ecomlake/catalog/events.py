"""The event tables: bronze.events and bronze.layouts (written by ingest), silver.events and silver.quarantine (written by clean).

bronze.events is the contract between ingest and cleaning: raw values are strings exactly as read;
when the reader flagged a record as malformed, raw_record holds the whole line and the other value
columns hold only the reader's partial split of it (not to be trusted). The value columns are the
canonical event columns (:data:`ecomlake.vocabulary.CANONICAL_COLUMNS`), in their order.

Every bronze row of a clean run ends in exactly one place (see :mod:`ecomlake.clean.rules`):
silver.events (kept), silver.quarantine (a quarantine reason, or a removed bot's row) or dropped as a
duplicate; ops.run_audit (:mod:`ecomlake.catalog.runs`) records how many went where.
"""

from __future__ import annotations

import dataclasses

from ecomlake.catalog.table import Table
from ecomlake.schema import BOOL, DATE, DOUBLE, INT, LONG, STRING, TIMESTAMP, Field
from ecomlake.vocabulary import BAD_PRICE, BOT, EVENT_TYPES, MALFORMED, NULL_USER, TIMESTAMP_OUT_OF_RANGE, UNKNOWN, UNKNOWN_EVENT_TYPE

_VALUES = (
    Field("event_time", STRING, "the event's time as the source wrote it; clean parses it with the layout's time_format"),
    Field(
        "event_type",
        STRING,
        f"the event type, mapped onto {', '.join(EVENT_TYPES)} by the layout's event_types; other values as they came",
    ),
    Field("product_id", STRING, "the product id as text"),
    Field("category_id", STRING, "the category id as text"),
    Field("category_code", STRING, "the category code, e.g. electronics.smartphone, as it came (blank or NULL when the source has none)"),
    Field("brand", STRING, "the brand as it came (blank or NULL when the source has none)"),
    Field("price", STRING, "the product's price as text", "currency"),
    Field("user_id", STRING, "the source's user id as text (raw; clean pseudonymises it when privacy.pseudonymize_user_ids is on)"),
    Field("user_session", STRING, "the source's session id (REES46 user_session)"),
    Field("order_id", STRING, "the source's order id (REES46 has none)"),
)

BRONZE_EVENTS = Table(
    "bronze",
    "events",
    produced_by=("ingest",),
    partition_by=("ingest_date",),
    description="One row per record of every ingested raw file, each value the string it came as: nothing parsed, cast or dropped "
    "(the one change: event types mapped onto the canonical ones). Canonical columns a layout does not map are NULL. "
    "Re-ingesting a date's files replaces exactly their rows. Partitioned by ingest_date.",
    fields=(
        *_VALUES,
        Field(
            "raw_record",
            STRING,
            "the whole line when the reader could not split the record into its fields (the value columns then hold only a partial "
            "split, not to be trusted; clean quarantines it as malformed); NULL for a well-formed record",
        ),
        Field("source_file", STRING, "the file the record came from (URI as Spark's _metadata.file_path spells it)", nullable=False),
        Field("source_layout", STRING, "the layout the file was read with (a built-in one, e.g. rees46, or the layout file's name)", nullable=False),
        Field("layout_hash", STRING, "the exact version of that layout (bronze.layouts.layout_hash): clean parses the row with it", nullable=False),
        Field(
            "ingest_date",
            DATE,
            "the day the file was delivered and ingested for (ingest --date), not the event's day; clean runs per ingest_date",
            nullable=False,
        ),
        Field("ingested_at", TIMESTAMP, "when the ingest run read the file", "UTC", nullable=False),
        Field("run_id", STRING, "the ingest run that wrote the row", nullable=False),
    ),
)


LAYOUTS = Table(
    "bronze",
    "layouts",
    produced_by=("ingest",),
    description="One row per version of a source layout bronze rows were read with, as ingest loaded it: clean reads the layout "
    "from here (no --layout needed again), and a layout file changed under the same name is a new version, named in the logs.",
    fields=(
        Field("layout_hash", STRING, "SHA-256 of the layout's YAML text, first 16 hex digits (bronze.events.layout_hash)", nullable=False),
        Field("name", STRING, "the layout's name (bronze.events.source_layout)", nullable=False),
        Field("origin", STRING, "the file it was loaded from when first recorded", nullable=False),
        Field("content", STRING, "the layout's YAML text", nullable=False),
        Field("recorded_at", TIMESTAMP, "when an ingest run first read files with it", "UTC", nullable=False),
        Field("run_id", STRING, "that ingest run", nullable=False),
    ),
)


_ORIGIN = f"where {{}} came from: source (the event had it), product (filled from the product's other rows), or {UNKNOWN} (no known value)"
_FILLED = (
    f"filled when missing with the product's most frequent known value among the run's kept rows (ties: the smallest), else `{UNKNOWN}`; never NULL"
)

SILVER_EVENTS = Table(
    "silver",
    "events",
    produced_by=("clean",),
    partition_by=("event_date",),
    description="One row per kept event: typed, deduplicated (exact copies and double clicks dropped), category code and brand filled. "
    "Rows that break a rule are in silver.quarantine instead, and ops.run_audit shows the rows add up. Partitioned by event_date; "
    "a clean run replaces the rows of its ingest_date, which may hold late events of earlier days.",
    fields=(
        Field("event_time", TIMESTAMP, "when the event happened, parsed with its layout's time_format", "UTC"),
        Field(
            "event_date",
            DATE,
            "UTC day of event_time: the ingest_date, up to clean.max_late_days before it (late arrivals), or the next day within "
            "clean.max_future_minutes (clock skew); events outside that window are quarantined",
        ),
        Field("event_hour", INT, "hour of event_time", "hour 0-23 UTC"),
        Field("event_type", STRING, f"one of {', '.join(EVENT_TYPES)}, or one of the site's own types declared in events.extra_types"),
        Field("product_id", LONG, "the product"),
        Field("category_id", LONG, "the product's category id; NULL when the source has none"),
        Field("category_code", STRING, f"the category code, e.g. electronics.smartphone; {_FILLED}", nullable=False),
        Field("brand", STRING, f"the brand, in lower case; {_FILLED}", nullable=False),
        Field("price", DOUBLE, "the product's price in the event, in [0, clean.max_price]; NULL when the source has none", "currency"),
        Field(
            "user_id",
            LONG,
            "the user: the source's id, or, when privacy.pseudonymize_user_ids is on, the number silver.user_pseudonyms gives the id's pseudonym",
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
_PSEUDONYMISED = {
    "user_id": "the source's user id as text; when privacy.pseudonymize_user_ids is on, its number (as silver.events.user_id), or "
    "NULL when it is not a number",
    "raw_record": "the whole line when the reader could not split the record (as bronze.events.raw_record); NULL when "
    "privacy.pseudonymize_user_ids is on, since the line holds the raw user id (bronze, the raw zone, keeps it)",
}
_BRONZE_AS_IT_WAS = tuple(
    dataclasses.replace(f, meaning=_PSEUDONYMISED[f.name]) if f.name in _PSEUDONYMISED else f
    for f in BRONZE_EVENTS.schema().fields
    if f.name not in ("ingested_at", "run_id", "layout_hash")
)

QUARANTINE = Table(
    "silver",
    "quarantine",
    produced_by=("clean",),
    partition_by=("ingest_date",),
    description="One row per bronze row clean rejected, with the bronze values as they were (text) and why: a quarantine reason, or the row "
    "of a bot user removed (clean.bot_action = remove). Duplicates are not here: they are counted in ops.run_audit and dropped. "
    "Partitioned by ingest_date; a clean run replaces its date's rows.",
    fields=(
        Field(
            "reason",
            STRING,
            f"the first rule the row broke, tested in this order: {MALFORMED} (the reader could not split the line; event_time or "
            f"product_id missing or unparseable; user_id, category_id or price present but not a number), {NULL_USER} (no user id), "
            f"{UNKNOWN_EVENT_TYPE} (not one of "
            f"{', '.join(EVENT_TYPES)} or events.extra_types), {BAD_PRICE} (below 0 or above clean.max_price), "
            f"{TIMESTAMP_OUT_OF_RANGE} (before clean.site_launch, more than clean.max_late_days before the ingest date, or more "
            f"than clean.max_future_minutes after its end); or {BOT} (a removed bot user's row)",
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


USER_PSEUDONYMS = Table(
    "silver",
    "user_pseudonyms",
    produced_by=("clean",),
    append_only=True,
    description="One row per user pseudonym, when privacy.pseudonymize_user_ids is on: the number silver.events.user_id (and every "
    "later table) uses for it. A clean run adds the day's new pseudonyms, numbered after the highest so far in pseudonym order. "
    "No raw id is here: a pseudonym is computed from the source's id with the secret key only (ecomlake.clean.pseudonyms).",
    fields=(
        Field(
            "pseudonym",
            STRING,
            "HMAC-SHA256 of the parsed source id's decimal text under the key, the first 128 bits as 32 hex digits",
            nullable=False,
        ),
        Field("user_id", LONG, "the user's number in the lake (silver.events.user_id); unique", nullable=False),
        Field("first_ingest_date", DATE, "the ingest date of the clean run that first saw the user", nullable=False),
        Field("run_id", STRING, "that clean run", nullable=False),
    ),
)

PSEUDONYM_KEYS = Table(
    "ops",
    "pseudonym_keys",
    produced_by=("clean",),
    append_only=True,
    description="The fingerprint of the key the lake's user ids are pseudonymised with, recorded by the first pseudonymised clean "
    "run: a run with another key, or with pseudonymisation off, stops with an error instead of splitting every user in two.",
    fields=(
        Field(
            "fingerprint",
            STRING,
            "HMAC-SHA256 of a fixed message under the key, 16 hex digits (tells keys apart; does not reveal the key)",
            nullable=False,
        ),
        Field("first_ingest_date", DATE, "the ingest date of the run that recorded it", nullable=False),
        Field("recorded_at", TIMESTAMP, "when that run recorded it", "UTC", nullable=False),
        Field("run_id", STRING, "that clean run", nullable=False),
    ),
)
