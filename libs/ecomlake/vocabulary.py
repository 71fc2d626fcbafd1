"""The one vocabulary: canonical event columns and types, quarantine reasons, dispositions, splits and markers.

Every module that names an event type, a quarantine reason or a split takes it from here: ingest (layouts),
clean (rules), featurize, sequences, the LSTM, the table catalog and the data dictionary. Free of Spark, so
the catalog and the analysts' side can import it.
"""

from __future__ import annotations

from typing import Final

# The canonical event columns every source layout maps onto (bronze holds them as strings, in this order).
CANONICAL_COLUMNS: Final = (
    "event_time",
    "event_type",
    "product_id",
    "category_id",
    "category_code",
    "brand",
    "price",
    "user_id",
    "user_session",
    "order_id",
)
REQUIRED_COLUMNS: Final = ("event_time", "event_type")  # an event without a time or a type is not an event

# The canonical event types, in funnel order; sequences number them 1..4 in this order (0 is padding).
VIEW: Final = "view"
CART: Final = "cart"
REMOVE: Final = "remove_from_cart"
PURCHASE: Final = "purchase"
EVENT_TYPES: Final = (VIEW, CART, REMOVE, PURCHASE)
EXIT: Final = "exit"  # the session ends after the event: the fifth next-event class
NEXT_EVENT_CLASSES: Final = (*EVENT_TYPES, EXIT)

# Silver columns the gold tables and the sequences are made of.
SILVER_EVENT_COLUMNS: Final = (
    "event_time",
    "event_date",
    "event_type",
    "user_id",
    "user_session",
    "product_id",
    "category_id",
    "category_code",
    "brand",
    "price",
    "order_id",
)

# Quarantine reasons, in the order clean tests them: a row gets the first that applies.
MALFORMED: Final = "malformed"
NULL_USER: Final = "null_user"
UNKNOWN_EVENT_TYPE: Final = "unknown_event_type"
BAD_PRICE: Final = "bad_price"
TIMESTAMP_OUT_OF_RANGE: Final = "timestamp_out_of_range"
REASONS: Final = (MALFORMED, NULL_USER, UNKNOWN_EVENT_TYPE, BAD_PRICE, TIMESTAMP_OUT_OF_RANGE)
BOT: Final = "bot"  # the reason of a removed bot user's rows

# Where each bronze row ends (clean): kept in silver, quarantined, a dropped duplicate, or a removed bot row.
KEPT: Final = "kept"
QUARANTINED: Final = "quarantined"
DUPLICATE: Final = "duplicate"
EXACT: Final = "exact"
NEAR: Final = "near"
REDELIVERED: Final = "redelivered"  # already in silver from an earlier ingest date (a re-sent file)
UNKNOWN: Final = "unknown"  # the explicit value of a category_code or brand that could not be filled

# Held-out users and samples: the model jobs' splits, in this order.
SPLITS: Final = ("train", "validation", "test")

# Markers in gold.segment_transitions for users in only one of the two runs compared.
NEW_SEGMENT: Final = "(new)"
GONE_SEGMENT: Final = "(gone)"
