"""The behaviour model: users -> sessions -> events, as pure DataFrame transforms.

- Users have heavy-tailed activity (Pareto sessions per user), two favourite categories, a few
  personal favourite products per category (the "true preferences" a recommender can learn), and a
  cart propensity; a small share are bots.
- A session picks an intent category, views a handful of candidate products (Zipf-like popularity
  inside the category, or one of the user's favourites), and goes down the funnel:
  view -> cart (per the user's propensity) -> purchase, or cart -> remove_from_cart.
- Time: gaps between a session's events are log-normal and capped far below the 30-minute
  inactivity gap, and each user's sessions sit in separate time strata, so consecutive sessions of
  a user are always more than 30 minutes apart. Night hours and weekends are thinned.
- Bots crawl the catalogue at hundreds of views a minute in a few bursts and never buy.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from ecomlake.config import GeneratorConfig
from ecomlake.errors import ConfigError
from ecomlake.generate import catalog
from ecomlake.generate.randomness import index, standard_normal, uniform, zipf_index

# Behaviour parameters. Tests check the output against bounds, so change them with the tests.
ACTIVITY_ALPHA = 1.5  # Pareto tail of sessions per user
MEAN_EXTRA_VIEWS = 4.5  # views per session: 1 + exponential with this mean, capped
MAX_VIEWS = 40
GAP_MEDIAN_S, GAP_SIGMA, GAP_MIN_S, GAP_MAX_S = 35.0, 1.0, 3, 300  # seconds between a session's events
CART_DELAY_S = 2  # a cart comes this long after the view it follows
CHECKOUT_MAX_S = 240  # purchases and removals come at most this long after the last view
SESSION_GAP_MIN_S = 1800  # a user's sessions are at least 30 minutes apart
SESSION_SPAN_MAX_S = (MAX_VIEWS - 1) * GAP_MAX_S + CHECKOUT_MAX_S
FAVOURITE_CATEGORY_SHARE = (0.45, 0.25)  # sessions in the first and second favourite category
PERSONAL_PRODUCT_SHARE = 0.5  # candidate products taken from the user's own favourites
PERSONAL_SLOTS = 6  # favourite products per user and category
CART_PROPENSITY_MIN, CART_PROPENSITY_RANGE = 0.02, 0.25  # p(cart) = min + range * u^3
SECOND_CART_SHARE = 0.3
PURCHASE_GIVEN_CART = 0.55
REMOVE_GIVEN_ABANDONED_CART = 0.4
BOT_BURSTS_MAX = 3
BOT_EVENTS_MIN, BOT_EVENTS_RANGE = 200, 800  # views per burst
BOT_SPEED_MIN, BOT_SPEED_RANGE = 3.0, 5.0  # views per second: 180-480 a minute
# Share of sessions kept by hour of day (UTC) and by weekday (Monday first): the traffic cycles.
HOURLY_WEIGHT = (
    0.30,
    0.22,
    0.18,
    0.16,
    0.18,
    0.25,
    0.38,
    0.52,
    0.64,
    0.72,
    0.78,
    0.80,
    0.80,
    0.78,
    0.76,
    0.76,
    0.80,
    0.86,
    0.94,
    1.00,
    1.00,
    0.92,
    0.74,
    0.50,
)
WEEKDAY_WEIGHT = (1.00, 0.97, 0.95, 0.94, 0.90, 0.78, 0.86)

_GRID = (np.arange(200_000) + 0.5) / 200_000  # quantiles for computing expectations on the driver


@dataclass(frozen=True)
class TrafficPlan:
    """Sizes and constants derived from the config on the driver (no data involved)."""

    seed: int
    n_users: int
    n_products: int
    block: int  # products per category
    activity_scale: float  # Pareto scale giving the target number of events
    max_sessions: int
    period_start: int  # epoch seconds
    period_seconds: int
    bot_user_rate: float
    partitions: int
    expected_rows: int


def _expected_sessions(scale: float, cap: int) -> float:
    return float(np.minimum(cap, 1 + np.floor(scale * (_GRID ** (-1 / ACTIVITY_ALPHA) - 1))).mean())


def _expected_events_per_session() -> float:
    views = np.minimum(MAX_VIEWS, 1 + np.floor(-np.log(1 - _GRID) * MEAN_EXTRA_VIEWS)).mean()
    propensity = (CART_PROPENSITY_MIN + CART_PROPENSITY_RANGE * _GRID**3).mean()
    carts = 1 + SECOND_CART_SHARE
    return float(views + propensity * (carts * (1 + PURCHASE_GIVEN_CART) + (1 - PURCHASE_GIVEN_CART) * REMOVE_GIVEN_ABANDONED_CART))


def _mean_session_weight(start: dt.date, days: int) -> float:
    weekdays = [(start + dt.timedelta(days=d)).weekday() for d in range(days)]
    return sum(WEEKDAY_WEIGHT[w] * h for w in weekdays for h in HOURLY_WEIGHT) / (24 * days)


def plan(config: GeneratorConfig) -> TrafficPlan:
    """Size the run so that about ``config.events`` human events come out (bots and faults on top)."""
    n_users = config.users or max(10, config.events // 15)
    n_products = config.products or max(200, config.events // 250)
    period_seconds = config.days * 86_400
    max_sessions = period_seconds // (SESSION_SPAN_MAX_S + SESSION_GAP_MIN_S)
    humans = n_users * (1 - config.bot_user_rate)
    per_session = _expected_events_per_session() * _mean_session_weight(config.start_date, config.days)
    sessions_needed = config.events / (humans * per_session)
    low, high = 0.0, 1e6
    if not _expected_sessions(low, max_sessions) <= sessions_needed <= _expected_sessions(high, max_sessions):
        most = humans * per_session * _expected_sessions(high, max_sessions)
        raise ConfigError(
            f"generator: {n_users} users over {config.days} day(s) cannot make {config.events} events "
            f"(possible: about {humans * per_session:.0f} to {most:.0f}); change generator.users, generator.days or generator.events"
        )
    for _ in range(100):  # bisection: expected sessions grow with the scale
        mid = (low + high) / 2
        low, high = (mid, high) if _expected_sessions(mid, max_sessions) < sessions_needed else (low, mid)
    bot_rows = n_users * config.bot_user_rate * (1 + BOT_BURSTS_MAX) / 2 * (BOT_EVENTS_MIN + BOT_EVENTS_RANGE / 2)
    expected_rows = int(config.events + bot_rows)
    start = dt.datetime.combine(config.start_date, dt.time(), tzinfo=dt.UTC)
    return TrafficPlan(
        seed=config.seed,
        n_users=n_users,
        n_products=n_products,
        block=catalog.products_per_category(n_products),
        activity_scale=(low + high) / 2,
        max_sessions=max_sessions,
        period_start=int(start.timestamp()),
        period_seconds=period_seconds,
        bot_user_rate=config.bot_user_rate,
        partitions=max(1, math.ceil(expected_rows / config.rows_per_file)),
        expected_rows=expected_rows,
    )


def user_frame(spark: SparkSession, p: TrafficPlan) -> DataFrame:
    """One row per user: id, bot flag, number of sessions (or bursts), tastes and cart propensity."""
    seed, uid = p.seed, F.col("id")
    pareto = F.pow(F.lit(1.0) - uniform(seed, "activity", uid), F.lit(-1 / ACTIVITY_ALPHA)) - 1
    is_bot = uniform(seed, "bot", uid) < F.lit(p.bot_user_rate)
    human_sessions = F.least(F.lit(p.max_sessions), 1 + F.floor(F.lit(p.activity_scale) * pareto)).cast("int")
    bot_bursts = F.least(F.lit(p.max_sessions), 1 + index(uniform(seed, "bursts", uid), BOT_BURSTS_MAX)).cast("int")
    return spark.range(0, p.n_users, 1, p.partitions).select(
        uid.alias("user_index"),
        (F.lit(512_000_000) + uid).alias("user_id"),
        is_bot.alias("is_bot"),
        F.when(is_bot, bot_bursts).otherwise(human_sessions).alias("n_sessions"),
        catalog.popular_category(uniform(seed, "fav1", uid)).alias("fav1"),
        catalog.popular_category(uniform(seed, "fav2", uid)).alias("fav2"),
        (F.lit(CART_PROPENSITY_MIN) + F.lit(CART_PROPENSITY_RANGE) * F.pow(uniform(seed, "propensity", uid), 3)).alias("cart_propensity"),
    )


def _human_offsets(seed: int, key: Column, n_views: Column) -> Column:
    """Seconds from the session start to each view: the running sum of capped log-normal gaps."""

    def gap(j: Column) -> Column:
        draw = F.exp(F.lit(math.log(GAP_MEDIAN_S)) + F.lit(GAP_SIGMA) * standard_normal(seed, "gap", key, j))
        return F.least(F.greatest(F.round(draw), F.lit(GAP_MIN_S)), F.lit(GAP_MAX_S)).cast("long")

    gaps = F.transform(F.sequence(F.lit(1), F.greatest(n_views - 1, F.lit(1))), gap)
    gaps = F.slice(gaps, 1, n_views - 1)
    return F.aggregate(gaps, F.array(F.lit(0).cast("long")), lambda acc, g: F.concat(acc, F.array(F.get(acc, F.size(acc) - 1) + g)))


def session_frame(users: DataFrame, p: TrafficPlan) -> DataFrame:
    """One row per kept session: its key, start, funnel decisions and the offsets of its views."""
    seed = p.seed
    k = F.col("k")
    key = F.xxhash64(F.lit(seed), F.lit("session"), F.col("user_index"), k)
    sessions = users.select("*", F.explode(F.sequence(F.lit(0), F.col("n_sessions") - 1)).alias("k")).withColumn("session_key", key)
    sk, is_bot = F.col("session_key"), F.col("is_bot")
    human_views = F.least(F.lit(MAX_VIEWS), 1 + F.floor(-F.log(F.lit(1.0) - uniform(seed, "views", sk)) * F.lit(MEAN_EXTRA_VIEWS)))
    bot_views = F.lit(BOT_EVENTS_MIN) + index(uniform(seed, "bot_views", sk), BOT_EVENTS_RANGE + 1)
    n_views = F.when(is_bot, bot_views).otherwise(human_views).cast("int")
    bot_speed = F.lit(BOT_SPEED_MIN) + F.lit(BOT_SPEED_RANGE) * uniform(seed, "bot_speed", sk)
    u_cat = uniform(seed, "category", sk)
    first, second = FAVOURITE_CATEGORY_SHARE
    category = (
        F.when(u_cat < F.lit(first), F.col("fav1"))
        .when(u_cat < F.lit(first + second), F.col("fav2"))
        .otherwise(catalog.popular_category(uniform(seed, "other_category", sk)))
    )
    is_carting = ~is_bot & (uniform(seed, "cart", sk) < F.col("cart_propensity"))
    is_purchasing = is_carting & (uniform(seed, "purchase", sk) < F.lit(PURCHASE_GIVEN_CART))
    is_removing = is_carting & ~is_purchasing & (uniform(seed, "remove", sk) < F.lit(REMOVE_GIVEN_ABANDONED_CART))
    sessions = sessions.select(
        "user_index",
        "user_id",
        "is_bot",
        "n_sessions",
        "k",
        "session_key",
        n_views.alias("n_views"),
        category.cast("long").alias("category"),
        F.least(F.lit(8), 1 + F.floor(n_views / 2)).alias("n_candidates"),
        F.when(is_bot, F.transform(F.sequence(F.lit(0), n_views - 1), lambda j: F.floor(j / bot_speed)))
        .otherwise(_human_offsets(seed, sk, n_views))
        .alias("offsets"),
        is_carting.alias("is_carting"),
        (1 + (uniform(seed, "second_cart", sk) < F.lit(SECOND_CART_SHARE)).cast("int")).alias("n_carts"),
        is_purchasing.alias("is_purchasing"),
        is_removing.alias("is_removing"),
    )
    # Stratum k of the user's period holds session k, ending 30+ minutes before stratum k+1 starts.
    stratum = F.lit(float(p.period_seconds)) / F.col("n_sessions")
    span = F.element_at("offsets", -1) + F.lit(CHECKOUT_MAX_S)
    slack = F.greatest(stratum - span - F.lit(SESSION_GAP_MIN_S), F.lit(0.0))
    start = F.lit(p.period_start) + F.floor(F.col("k") * stratum + uniform(seed, "start", sk) * slack).cast("long")
    sessions = sessions.withColumn("start_epoch", start)
    start_ts = F.timestamp_seconds(F.col("start_epoch"))
    hour_weight = F.element_at(F.array(*[F.lit(w) for w in HOURLY_WEIGHT]), F.hour(start_ts) + 1)
    day_weight = F.element_at(F.array(*[F.lit(w) for w in WEEKDAY_WEIGHT]), F.weekday(start_ts) + 1)
    is_kept = F.col("is_bot") | (uniform(seed, "thin", F.col("session_key")) < hour_weight * day_weight)
    return sessions.where(is_kept)


def _event_struct(seq: Column | int, offset: Column, event_type: str, candidate: Column) -> Column:
    seq_col = seq if isinstance(seq, Column) else F.lit(seq)
    return F.struct(
        seq_col.cast("int").alias("seq"),
        offset.cast("long").alias("offset"),
        F.lit(event_type).alias("event_type"),
        candidate.cast("long").alias("candidate"),
    )


def event_frame(sessions: DataFrame, p: TrafficPlan) -> DataFrame:
    """One row per event, in the REES46 layout plus internal columns (is_bot, session_key, seq, event_date)."""
    seed = p.seed
    sk, offsets = F.col("session_key"), F.col("offsets")
    n_views, n_carts = F.col("n_views"), F.col("n_carts")
    last = F.element_at(offsets, -1)

    def candidate_of(view: Column) -> Column:
        # Bots look at a new product every time; people come back to a few candidates.
        return F.when(F.col("is_bot"), view).otherwise(index(uniform(seed, "pick", sk, view), F.col("n_candidates")))

    def carted_view(c: Column) -> Column:
        # Distinct views for the two carts, so no two natural carts look like a near-duplicate.
        first = index(uniform(seed, "carted_view", sk), n_views)
        return F.pmod(first + c * (1 + index(uniform(seed, "second_carted_view", sk), F.greatest(n_views - 1, F.lit(1)))), n_views)

    views = F.transform(F.sequence(F.lit(0), n_views - 1), lambda j: _event_struct(j, F.get(offsets, j), "view", candidate_of(j)))
    cart_slots = F.sequence(F.lit(0), n_carts - 1)
    carts = F.transform(
        cart_slots, lambda c: _event_struct(c + 1000, F.get(offsets, carted_view(c)) + CART_DELAY_S, "cart", candidate_of(carted_view(c)))
    )
    purchases = F.transform(
        cart_slots,
        lambda c: _event_struct(c + 2000, last + 30 + index(uniform(seed, "checkout", sk), 150) + c * 2, "purchase", candidate_of(carted_view(c))),
    )
    removal = F.array(
        _event_struct(3000, last + 20 + index(uniform(seed, "remove_delay", sk), 100), "remove_from_cart", candidate_of(carted_view(F.lit(0))))
    )
    events = F.concat(
        views,
        F.slice(carts, 1, F.when(F.col("is_carting"), F.least(n_carts, n_views)).otherwise(0)),
        F.slice(purchases, 1, F.when(F.col("is_purchasing"), F.least(n_carts, n_views)).otherwise(0)),
        F.slice(removal, 1, F.col("is_removing").cast("int")),
    )
    exploded = sessions.select("user_index", "user_id", "is_bot", "session_key", "category", "start_epoch", F.explode(events).alias("e"))

    cand = F.col("e.candidate")
    is_personal = uniform(seed, "personal", sk, cand) < F.lit(PERSONAL_PRODUCT_SHARE)
    slot = index(uniform(seed, "slot", sk, cand), PERSONAL_SLOTS)
    human_rank = F.when(is_personal, zipf_index(uniform(seed, "taste", F.col("user_index"), F.col("category"), slot), p.block)).otherwise(
        zipf_index(uniform(seed, "global", sk, cand), p.block)
    )
    is_bot = F.col("is_bot")
    # A bot crawls the catalogue in id order from a random product: no product twice within seconds.
    crawl = F.pmod(index(uniform(seed, "crawl_start", sk), p.block * catalog.n_categories()) + cand, F.lit(p.block * catalog.n_categories()))
    category = F.when(is_bot, F.floor(crawl / p.block)).otherwise(F.col("category"))
    rank = F.when(is_bot, F.pmod(crawl, F.lit(p.block))).otherwise(human_rank)
    with_product = exploded.select("*", category.alias("category_index"), catalog.product_id(category, rank, p.block).alias("product_id"))
    event_time = F.timestamp_seconds(F.col("start_epoch") + F.col("e.offset"))
    cat, product = F.col("category_index"), F.col("product_id")
    return with_product.select(
        event_time.alias("event_time"),
        F.col("e.event_type").alias("event_type"),
        product.alias("product_id"),
        catalog.category_id(cat).alias("category_id"),
        catalog.category_code(cat).alias("category_code"),
        catalog.brand(seed, cat, product).alias("brand"),
        catalog.price(seed, cat, product).alias("price"),
        F.col("user_id"),
        _session_uuid(seed, sk).alias("user_session"),
        F.col("is_bot"),
        sk.alias("session_key"),
        F.col("e.seq").alias("seq"),
        F.to_date(event_time).alias("event_date"),
    )


def _session_uuid(seed: int, key: Column) -> Column:
    """A UUID-shaped session id (like REES46's user_session) derived from the session key."""
    h = F.sha2(F.concat_ws(":", F.lit(str(seed)), key.cast("string")), 256)
    return F.concat_ws(
        "-", F.substring(h, 1, 8), F.substring(h, 9, 4), F.concat(F.lit("4"), F.substring(h, 14, 3)), F.substring(h, 17, 4), F.substring(h, 21, 12)
    )


def generate_events(spark: SparkSession, p: TrafficPlan) -> DataFrame:
    """All events for the plan, before faults."""
    return event_frame(session_frame(user_frame(spark, p), p), p)
