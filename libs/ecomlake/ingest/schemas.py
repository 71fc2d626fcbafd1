"""bronze.events' documented schema: every column's name, type, meaning and unit.

The contract between ingest and cleaning. Raw values are strings exactly as read; when the reader
flagged a record as malformed, raw_record holds the whole line and the other value columns hold
only the reader's partial split of it (not to be trusted). The value columns are the canonical
columns of :mod:`ecomlake.ingest.layouts`, in their order.
"""

from __future__ import annotations

from pyspark.sql import types as T

from ecomlake.ingest.layouts import CANONICAL_EVENT_TYPES
from ecomlake.schema import Field, TableSchema

STRING, DATE, TIMESTAMP = T.StringType(), T.DateType(), T.TimestampType()

# The canonical value columns (layouts.CANONICAL_COLUMNS, in order), all text: clean parses them (ecomlake.clean.rules.parse_events).
_VALUES = (
    Field("event_time", STRING, "the event's time as the source wrote it; clean parses it with the layout's time_format"),
    Field(
        "event_type",
        STRING,
        f"the event type, mapped onto {', '.join(CANONICAL_EVENT_TYPES)} by the layout's event_types; other values as they came",
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

BRONZE = TableSchema(
    "bronze.events",
    "One row per record of every ingested raw file, each value the string it came as: nothing parsed, cast or dropped "
    "(the one change: event types mapped onto the canonical ones). Canonical columns a layout does not map are NULL. "
    "Re-ingesting a date's files replaces exactly their rows. Partitioned by ingest_date.",
    (
        *_VALUES,
        Field(
            "raw_record",
            STRING,
            "the whole line when the reader could not split the record into its fields (the value columns then hold only a partial "
            "split, not to be trusted; clean quarantines it as malformed); NULL for a well-formed record",
        ),
        Field("source_file", STRING, "the file the record came from (URI as Spark's _metadata.file_path spells it)", nullable=False),
        Field("source_layout", STRING, "the layout the file was read with (a built-in one, e.g. rees46, or the layout file's name)", nullable=False),
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
