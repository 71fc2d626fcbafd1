"""The gold tables featurize writes: sessions, the daily building blocks, KPIs, the point-in-time snapshots and labels.

Jobs conform their output to these schemas, Delta gets them as table and column comments, and
``docs/data_dictionary.md`` is rendered from them (``ecomlake docs``; a test keeps the file current).
Windowed columns are named ``<metric>_<w>d`` for each window ``w`` of ``featurize.windows_days``.
Events of the site's own types (``events.extra_types``) are counted in ``extra_events`` maps (type -> events).
Daily tables hold one slice per event day; snapshot tables one slice per as-of date, computed from the
daily tables.
"""

from __future__ import annotations

from collections.abc import Sequence

from ecomlake.catalog.table import Table
from ecomlake.schema import BOOL, DATE, DOUBLE, INT, LONG, STRING, TIMESTAMP, ArrayOf, DataType, Field, MapOf, StructOf

# Events of the site's own types (events.extra_types) by type: a map keeps the tables' columns the same whatever a site declares.
EXTRA_EVENTS = MapOf(STRING, LONG)
_EXTRA = "events of the site's own types (events.extra_types), by type; empty when none are declared"

AFFINITY = ArrayOf(StructOf((("rank", INT), ("name", STRING), ("share", DOUBLE))))

SESSIONS = Table(
    "gold",
    "sessions",
    produced_by=("featurize",),
    partition_by=("session_date",),
    description="One row per session: a user's events in time order with no gap longer than `featurize.session_gap_minutes`, "
    "within one source session id when the source has them, and within one UTC day. Partitioned by session_date.",
    fields=(
        Field("session_id", STRING, "md5 of user, source session id and start time: stable across re-runs", nullable=False),
        Field("user_id", LONG, "the user", nullable=False),
        Field("session_date", DATE, "UTC day of the session (sessions end at midnight UTC)", nullable=False),
        Field("source_session_id", STRING, "the source's session id (REES46 user_session), NULL when the source has none"),
        Field("session_start", TIMESTAMP, "first event", "UTC"),
        Field("session_end", TIMESTAMP, "last event", "UTC"),
        Field("duration_seconds", DOUBLE, "last event minus first event", "seconds"),
        Field("events", LONG, "events in the session", "events"),
        Field("views", LONG, "view events", "events"),
        Field("carts", LONG, "add-to-cart events", "events"),
        Field("removes", LONG, "remove-from-cart events", "events"),
        Field("purchases", LONG, "purchase events (one per product bought)", "events"),
        Field("distinct_products", LONG, "different products touched", "products"),
        Field("orders", LONG, "distinct order ids among purchases; without order ids a session with purchases is one order", "orders"),
        Field("revenue", DOUBLE, "sum of purchase prices", "currency"),
        Field("is_converted", BOOL, "true when the session has a purchase"),
        Field("last_purchase_time", TIMESTAMP, "last purchase event, NULL if none", "UTC"),
        Field(
            "dwell_seconds", DOUBLE, "sum over events of the gap to the session's next event, each capped at featurize.dwell_cap_seconds", "seconds"
        ),
        Field("dwell_events", LONG, "events with a known dwell time (all but the session's last)", "events"),
        Field("start_hour", INT, "hour of session_start", "hour 0-23 UTC"),
        Field("start_weekday", INT, "weekday of session_start", "1 = Monday .. 7 = Sunday"),
    ),
)

USER_ITEM_DAILY = Table(
    "gold",
    "user_item_daily",
    produced_by=("featurize",),
    partition_by=("event_date",),
    description="One row per user, product and UTC day with events: the additive daily building block that user_features, "
    "item_features and interactions roll up as of a date. Partitioned by event_date.",
    fields=(
        Field("user_id", LONG, "the user", nullable=False),
        Field("product_id", LONG, "the product", nullable=False),
        Field("event_date", DATE, "UTC day", nullable=False),
        Field("category_id", LONG, "the product's category id that day (largest if several)"),
        Field("category_code", STRING, "the product's category code that day (filled by clean; `unknown` if none)"),
        Field("brand", STRING, "the product's brand that day (filled by clean; `unknown` if none)"),
        Field("views", LONG, "view events", "events"),
        Field("carts", LONG, "add-to-cart events", "events"),
        Field("removes", LONG, "remove-from-cart events", "events"),
        Field("purchases", LONG, "purchase events", "events"),
        Field("extra_events", EXTRA_EVENTS, _EXTRA, "events"),
        Field("priced_views", LONG, "view events with a price", "events"),
        Field("view_price_sum", DOUBLE, "sum of the prices of priced views", "currency"),
        Field("priced_purchases", LONG, "purchase events with a price", "events"),
        Field("revenue", DOUBLE, "sum of purchase prices", "currency"),
        Field("price_min", DOUBLE, "lowest price seen in any event", "currency"),
        Field("price_max", DOUBLE, "highest price seen in any event", "currency"),
        Field("first_event_time", TIMESTAMP, "first event", "UTC"),
        Field("last_event_time", TIMESTAMP, "last event", "UTC"),
    ),
)

DAILY_KPIS = Table(
    "gold",
    "daily_kpis",
    produced_by=("featurize",),
    description="One row per UTC day: traffic, funnel and sales. Funnel rates are over sessions.",
    fields=(
        Field("kpi_date", DATE, "UTC day", nullable=False),
        Field("active_users", LONG, "users with a session that day", "users"),
        Field("new_users", LONG, "active users whose first session ever is that day", "users"),
        Field("returning_users", LONG, "active users seen on an earlier day", "users"),
        Field("sessions", LONG, "sessions", "sessions"),
        Field("events", LONG, "events", "events"),
        Field("views", LONG, "view events", "events"),
        Field("carts", LONG, "add-to-cart events", "events"),
        Field("removes", LONG, "remove-from-cart events", "events"),
        Field("purchases", LONG, "purchase events", "events"),
        Field("extra_events", EXTRA_EVENTS, _EXTRA, "events"),
        Field("orders", LONG, "orders (see gold.sessions.orders)", "orders"),
        Field("gmv", DOUBLE, "gross merchandise value: sum of purchase prices", "currency"),
        Field("aov", DOUBLE, "average order value: gmv / orders (NULL without orders)", "currency"),
        Field("sessions_with_view", LONG, "sessions with a view", "sessions"),
        Field("sessions_with_cart", LONG, "sessions with an add-to-cart", "sessions"),
        Field("sessions_with_purchase", LONG, "sessions with a purchase (converted)", "sessions"),
        Field("view_to_cart_rate", DOUBLE, "sessions with view and cart / sessions with view", "ratio 0-1"),
        Field("cart_to_purchase_rate", DOUBLE, "sessions with cart and purchase / sessions with cart", "ratio 0-1"),
        Field("conversion_rate", DOUBLE, "sessions with a purchase / sessions", "ratio 0-1"),
        Field("bounce_rate", DOUBLE, "sessions of a single event / sessions", "ratio 0-1"),
        Field("avg_session_seconds", DOUBLE, "mean session duration", "seconds"),
    ),
)


def _windowed(windows: Sequence[int], make: tuple[tuple[str, DataType, str, str], ...]) -> list[Field]:
    return [Field(f"{name}_{w}d", tp, f"{meaning} in the {w} days ending on as_of_date", unit) for w in windows for name, tp, meaning, unit in make]


def _user_feature_fields(windows: Sequence[int]) -> tuple[Field, ...]:
    """gold.user_features' columns for the windows of ``featurize.windows_days``."""
    return (
        Field("user_id", LONG, "the user", nullable=False),
        Field("as_of_date", DATE, "features use events up to the end of this UTC day", nullable=False),
        Field("first_event_time", TIMESTAMP, "first event", "UTC"),
        Field("last_event_time", TIMESTAMP, "last event", "UTC"),
        Field("last_purchase_time", TIMESTAMP, "last purchase, NULL if none", "UTC"),
        Field("tenure_days", INT, "as_of_date minus the first event's day", "days"),
        Field("recency_days", INT, "as_of_date minus the last event's day (0: active on as_of_date)", "days"),
        Field("days_since_last_purchase", INT, "as_of_date minus the last purchase's day, NULL if none", "days"),
        Field("active_days", LONG, "days with a session", "days"),
        Field("sessions", LONG, "sessions", "sessions"),
        Field("orders", LONG, "orders (frequency)", "orders"),
        Field("revenue", DOUBLE, "sum of purchase prices (monetary)", "currency"),
        Field("avg_order_value", DOUBLE, "revenue / orders, NULL without orders", "currency"),
        Field("events", LONG, "events", "events"),
        Field("views", LONG, "view events", "events"),
        Field("carts", LONG, "add-to-cart events", "events"),
        Field("removes", LONG, "remove-from-cart events", "events"),
        Field("purchases", LONG, "purchase events", "events"),
        Field("extra_events", EXTRA_EVENTS, _EXTRA, "events"),
        *_windowed(
            windows,
            (
                ("sessions", LONG, "sessions", "sessions"),
                ("views", LONG, "view events", "events"),
                ("carts", LONG, "add-to-cart events", "events"),
                ("purchases", LONG, "purchase events", "events"),
                ("extra_events", EXTRA_EVENTS, _EXTRA, "events"),
            ),
        ),
        Field("cart_abandonment_rate", DOUBLE, "sessions with a cart but no purchase / sessions with a cart, NULL without carts", "ratio 0-1"),
        Field("view_to_cart_rate", DOUBLE, "products viewed and carted / products viewed, NULL without views", "ratio 0-1"),
        Field("cart_to_purchase_rate", DOUBLE, "products carted and bought / products carted, NULL without carts", "ratio 0-1"),
        Field("avg_session_seconds", DOUBLE, "mean session duration", "seconds"),
        Field(
            "avg_dwell_seconds",
            DOUBLE,
            "mean time from an event to the session's next one, each gap capped; NULL if no session has 2 events",
            "seconds",
        ),
        Field("preferred_hour", INT, "hour at which most sessions started (ties: earliest)", "hour 0-23 UTC"),
        Field("preferred_weekday", INT, "weekday on which most sessions started (ties: earliest)", "1 = Monday .. 7 = Sunday"),
        Field(
            "top_categories",
            AFFINITY,
            "top featurize.top_affinities category codes by events, share = their events / all events; `unknown` left out",
        ),
        Field("top_brands", AFFINITY, "top featurize.top_affinities brands by events, share = their events / all events; `unknown` left out"),
        Field("avg_price_viewed", DOUBLE, "mean price of viewed products (per view), NULL without priced views", "currency"),
        Field("avg_price_bought", DOUBLE, "mean price of bought products (per purchase), NULL without priced purchases", "currency"),
        Field("price_ratio", DOUBLE, "avg_price_bought / avg_price_viewed: below 1 buys cheaper than browsed (price sensitive)", "ratio"),
        Field("r_score", INT, "recency quintile among all users (mid-rank percentile, ties share a score): 5 = most recent fifth", "1-5"),
        Field("f_score", INT, "orders quintile among buyers; 0 = no order", "0-5"),
        Field("m_score", INT, "revenue quintile among buyers; 0 = no order", "0-5"),
        Field("rfm_segment", STRING, "r_score, f_score and m_score as three digits, e.g. 545"),
    )


USER_FEATURES = Table(
    "gold",
    "user_features",
    produced_by=("featurize",),
    partition_by=("as_of_date",),
    description="One row per user seen on or before as_of_date, from events on or before as_of_date only (point in time). "
    "Partitioned by as_of_date; one snapshot per featurize run date.",
    fields=_user_feature_fields,
)


def _item_feature_fields(windows: Sequence[int]) -> tuple[Field, ...]:
    """gold.item_features' columns for the windows of ``featurize.windows_days``."""
    return (
        Field("product_id", LONG, "the product", nullable=False),
        Field("as_of_date", DATE, "features use events up to the end of this UTC day", nullable=False),
        Field("category_id", LONG, "category id on the product's latest day"),
        Field("category_code", STRING, "category code on the product's latest day"),
        Field("brand", STRING, "brand on the product's latest day"),
        Field("first_event_time", TIMESTAMP, "first event", "UTC"),
        Field("last_event_time", TIMESTAMP, "last event", "UTC"),
        Field("views", LONG, "view events", "events"),
        Field("carts", LONG, "add-to-cart events", "events"),
        Field("purchases", LONG, "purchase events", "events"),
        Field("unique_users", LONG, "distinct users with any event", "users"),
        Field("buyers", LONG, "distinct users who bought it", "users"),
        Field("revenue", DOUBLE, "sum of purchase prices", "currency"),
        Field("view_to_cart_rate", DOUBLE, "carts / views, NULL without views", "ratio"),
        Field("cart_to_purchase_rate", DOUBLE, "purchases / carts, NULL without carts", "ratio"),
        Field("conversion_rate", DOUBLE, "purchases / views, NULL without views", "ratio"),
        Field("price_avg", DOUBLE, "mean price over priced views", "currency"),
        Field("price_min", DOUBLE, "lowest price seen", "currency"),
        Field("price_max", DOUBLE, "highest price seen", "currency"),
        Field("popularity_rank", INT, "1 + products with more unique users (ties share a rank)", "rank"),
        *_windowed(
            windows,
            (
                ("views", LONG, "view events", "events"),
                ("carts", LONG, "add-to-cart events", "events"),
                ("purchases", LONG, "purchase events", "events"),
                ("unique_users", LONG, "distinct users with any event", "users"),
                ("conversion_rate", DOUBLE, "purchases / views, NULL without views", "ratio"),
                ("popularity_rank", INT, "1 + products with more unique users (ties share a rank)", "rank"),
            ),
        ),
    )


ITEM_FEATURES = Table(
    "gold",
    "item_features",
    produced_by=("featurize",),
    partition_by=("as_of_date",),
    description="One row per product seen on or before as_of_date, from events on or before as_of_date only. Partitioned by as_of_date.",
    fields=_item_feature_fields,
)


INTERACTIONS = Table(
    "gold",
    "interactions",
    produced_by=("featurize",),
    partition_by=("as_of_date",),
    description="One row per user and product with any event on or before as_of_date: the implicit feedback ALS reads. Partitioned by as_of_date.",
    fields=(
        Field("user_id", LONG, "the user", nullable=False),
        Field("product_id", LONG, "the product", nullable=False),
        Field("as_of_date", DATE, "uses events up to the end of this UTC day", nullable=False),
        Field("views", LONG, "view events", "events"),
        Field("carts", LONG, "add-to-cart events", "events"),
        Field("removes", LONG, "remove-from-cart events", "events"),
        Field("purchases", LONG, "purchase events", "events"),
        Field("first_interaction_time", TIMESTAMP, "first event", "UTC"),
        Field("last_interaction_time", TIMESTAMP, "last event", "UTC"),
        Field(
            "strength",
            DOUBLE,
            "sum over days of (featurize.interaction_weights and events.extra_types' weights . event counts) "
            "x 0.5^(age in days / featurize.interaction_half_life_days); "
            "age = as_of_date minus the event's day; no decay when the half-life is null",
            "weighted events",
        ),
    ),
)

LABELS = Table(
    "gold",
    "labels",
    produced_by=("featurize",),
    partition_by=("cutoff_date",),
    description="One row per user seen on or before cutoff_date, labelled from events after it: what the propensity models learn. "
    "Join to gold.user_features on user_id and as_of_date = cutoff_date (ecomlake.propensity.dataset.labelled). Partitioned by cutoff_date.",
    fields=(
        Field("user_id", LONG, "the user", nullable=False),
        Field("cutoff_date", DATE, "features are as of this day; labels look only after it", nullable=False),
        Field("horizon_days", INT, "labels look at (cutoff_date, cutoff_date + horizon_days]", "days"),
        Field("churned", BOOL, "no session in the horizon"),
        Field("purchased", BOOL, "a purchase in the horizon"),
    ),
)
