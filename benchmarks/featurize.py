"""Benchmark: Spark featurize against the same user features in DuckDB, on the same silver files.

    python -m benchmarks.featurize [--events 10000000] [--days 7] [--lake /tmp/bench-featurize/lake] [--no-full] [--json OUT]

Prepares a lake (generate, then ingest and clean for every day; timed apart), or reuses the one at
``--lake`` when its silver table exists. Then times, on silver's human events:

  (a) Spark, the user-features path: the library transforms ``sessions`` and ``user_item_daily``
      for all days and ``user_features`` as of the last day, each written to the lake with
      ``lake.write`` as ``featurize --full`` writes them (but one snapshot, not one per day);
  (b) Spark, the whole featurize job with ``FeaturizeParams(full=True)``: every gold table, a snapshot per day;
  (c) DuckDB (``SET threads=2``, in a subprocess so its memory is measured apart; ``memory_limit`` half
      the machine's RAM, since the Spark JVM stays up beside it, and beyond it DuckDB spills) on the silver
      Parquet files that the Delta log lists, computing in SQL the same sessions, user_item_daily and
      user features as of the last day, each written to Parquet: like for like with (a).

The user features of (a), and of (b)'s last snapshot, must equal DuckDB's for every user and column
(floats within rel 1e-9 / abs 1e-6); the script prints mismatches per column and exits 1 on any.
Peak memory is the driver plus the local Spark JVM for (a) and (b) (the mark is reset before each
where Linux allows), and the DuckDB process alone for (c). A benchmark, not a test: figures vary by
machine and by what else runs on it (the load average is printed).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from benchmarks.common import REPO, load_average, memory_total_kib, reset_peak_rss, silver_events

# Spark and ecomlake are imported inside the functions that use them: the DuckDB worker is this
# file run again in a subprocess, and its peak memory should be DuckDB's, not pyspark's as well.
if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from ecomlake.config import Config

RTOL, ATOL = 1e-9, 1e-6
EPOCH = dt.date(1970, 1, 1)


# ---------------------------------------------------------------------------------------------
# Spark side
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timed:
    seconds: float
    peak_mib: float | None  # MiB


def prepare_lake(spark: SparkSession, config: Config) -> dict[str, float]:
    """Generate the events, then ingest and clean every day; seconds per step."""
    from ecomlake.clean.job import CleanParams
    from ecomlake.clean.job import run as clean
    from ecomlake.generate.dataset import generate_dataset
    from ecomlake.ingest.job import IngestParams
    from ecomlake.ingest.job import run as ingest
    from ecomlake.job import Context

    gen, ctx = config.generator, Context(spark, config)
    times = {"generate": 0.0, "ingest": 0.0, "clean": 0.0}
    t = time.perf_counter()
    manifest = generate_dataset(spark, gen)
    times["generate"] = time.perf_counter() - t
    print(f"  generated {manifest['totals']['rows']:,} raw rows in {times['generate']:.1f} s", flush=True)
    for n in range(gen.days):
        day = gen.start_date + dt.timedelta(days=n)
        t = time.perf_counter()
        ingested = ingest(ctx, IngestParams(day))
        t_ingest = time.perf_counter() - t
        t = time.perf_counter()
        counts = clean(ctx, CleanParams(day)).counts
        t_clean = time.perf_counter() - t
        times["ingest"] += t_ingest
        times["clean"] += t_clean
        print(f"  {day}: ingest {ingested.rows:,} rows in {t_ingest:.1f} s, clean ({counts.kept:,} kept) in {t_clean:.1f} s", flush=True)
    return times


def spark_user_features(spark: SparkSession, config: Config) -> tuple[dt.date, dict[str, int]]:
    """(a): gold.sessions and gold.user_item_daily for all days, gold.user_features as of the last day.

    The same transforms and writes as ``featurize --full`` (ecomlake/featurize/job.py), for one snapshot.
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from ecomlake import lake
    from ecomlake.catalog import SESSIONS, USER_FEATURES, USER_ITEM_DAILY
    from ecomlake.featurize.activity import user_item_daily
    from ecomlake.featurize.sessions import sessions
    from ecomlake.featurize.users import user_features, with_rfm_scores

    fc = config.featurize
    silver = silver_events(spark, config)
    last_day: dt.date = silver.agg(F.max("event_date")).first()[0]
    rows = {
        SESSIONS.key: lake.write(sessions(silver, fc.session_gap_minutes, fc.dwell_cap_seconds), config, SESSIONS, rebuild=True),
        USER_ITEM_DAILY.key: lake.write(user_item_daily(silver), config, USER_ITEM_DAILY, rebuild=True),
    }
    history, activity = lake.read(spark, config, SESSIONS), lake.read(spark, config, USER_ITEM_DAILY)
    # As the featurize job's write_snapshots: the RFM scores read the persisted snapshot (a histogram, then a join).
    # On disk only: at 100M events the memory-then-disk fallback ran the 4g JVM out of heap here.
    snapshot = user_features(history, activity, last_day, fc).persist(StorageLevel.DISK_ONLY)
    try:
        rows[USER_FEATURES.key] = lake.write(with_rfm_scores(snapshot), config, USER_FEATURES, rebuild=True)
    finally:
        snapshot.unpersist()
    return last_day, rows


def live_silver_files(spark: SparkSession, config: Config) -> list[str]:
    """The Parquet files of silver's current Delta version, as local paths (from the log, not a glob)."""
    from ecomlake import lake
    from ecomlake.catalog import SILVER_EVENTS

    paths = []
    for uri in lake.read(spark, config, SILVER_EVENTS).inputFiles():
        parsed = urlparse(uri)
        if parsed.scheme not in ("", "file"):
            raise SystemExit(f"DuckDB reads local files only; silver file {uri} is not local")
        paths.append(unquote(parsed.path))
    return sorted(paths)


def compare_features(spark: SparkSession, config: Config, spark_df: DataFrame, duck_path: str, label: str) -> int:
    """Join Spark's user features to DuckDB's on user_id; print mismatches per column; return their total."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from ecomlake.catalog import USER_FEATURES
    from ecomlake.schema import DOUBLE, TIMESTAMP, ArrayOf, MapOf

    fields = USER_FEATURES.schema(config.featurize.windows_days).fields
    duck = spark.read.parquet(duck_path)

    def close(a: Column, b: Column) -> Column:
        both_null = a.isNull() & b.isNull()
        near = F.abs(a - b) <= F.greatest(F.lit(ATOL), F.lit(RTOL) * F.greatest(F.abs(a), F.abs(b)))
        return both_null | F.coalesce(near, F.lit(False))

    checks: dict[str, Column] = {}
    for f in fields:
        if f.name == "user_id" or isinstance(f.type, MapOf):  # extra_events maps: empty, the benchmark declares no extra event types
            continue
        s, d = F.col(f"s.{f.name}"), F.col(f"d.{f.name}")
        if f.type == DOUBLE:
            checks[f.name] = close(s, d)
        elif f.type == TIMESTAMP:  # DuckDB writes microseconds since the epoch
            checks[f.name] = F.unix_micros(s).eqNullSafe(d)
        elif isinstance(f.type, ArrayOf):  # top_categories, top_brands: rank, name and share of each entry
            checks[f"{f.name}.rank"] = F.transform(s, lambda x: x["rank"]).eqNullSafe(F.transform(d, lambda x: x["rank"]))
            checks[f"{f.name}.name"] = F.transform(s, lambda x: x["name"]).eqNullSafe(F.transform(d, lambda x: x["name"]))
            shares = F.forall(F.zip_with(s, d, lambda x, y: close(x["share"], y["share"])), lambda ok: ok)
            checks[f"{f.name}.share"] = (F.size(s) == F.size(d)) & F.coalesce(shares, F.lit(False))
        else:
            checks[f.name] = s.eqNullSafe(d)
    joined = (
        spark_df.withColumn("_in", F.lit(True))
        .alias("s")
        .join(duck.withColumn("_in", F.lit(True)).alias("d"), "user_id", "full_outer")
        .withColumn("_both", F.col("s._in").isNotNull() & F.col("d._in").isNotNull())
        .persist(StorageLevel.DISK_ONLY)  # read again for the examples of each mismatching column
    )
    agg = joined.agg(
        F.count(F.when(F.col("_both"), True)).alias("_both"),
        F.count(F.when(F.col("d._in").isNull(), True)).alias("_only_spark"),
        F.count(F.when(F.col("s._in").isNull(), True)).alias("_only_duckdb"),
        *[F.count(F.when(F.col("_both") & ~ok, True)).alias(name) for name, ok in checks.items()],
    ).first()
    bad = {name: agg[name] for name in checks if agg[name]}
    total = agg["_only_spark"] + agg["_only_duckdb"] + sum(bad.values())
    print(
        f"  {label}: {agg['_both']:,} users in both, {agg['_only_spark']:,} only in Spark, {agg['_only_duckdb']:,} only in DuckDB; "
        f"{len(checks)} columns compared (top lists as rank, name, share), {len(bad)} with mismatches" + ("" if bad else ": AGREE")
    )
    for name, n in bad.items():
        column = name.split(".")[0]
        print(f"    {name:<28} {n:>10,} users differ, e.g.")
        for row in joined.where(F.col("_both") & ~checks[name]).select("user_id", F.col(f"s.{column}"), F.col(f"d.{column}")).limit(3).collect():
            print(f"      user {row[0]}: spark {row[1]!r}  duckdb {row[2]!r}")
    for side in ("spark", "duckdb"):
        if agg[f"_only_{side}"]:
            only = joined.where(F.col("d._in" if side == "spark" else "s._in").isNull()).select("user_id").limit(5).collect()
            print(f"    only in {side}: users {[r[0] for r in only]} ...")
    joined.unpersist()
    return total


# ---------------------------------------------------------------------------------------------
# DuckDB side (run in a subprocess: python -m benchmarks.featurize --duckdb-job JOB.json)
# ---------------------------------------------------------------------------------------------


def duckdb_sql(job: dict[str, Any]) -> list[tuple[str, str]]:
    """The DuckDB statements, named, that compute what (a) computes: gold.sessions, gold.user_item_daily
    and gold.user_features as of the last event day, from silver's human events.

    Times are kept as microseconds since the epoch (``t``) and UTC days as day numbers, so every
    derived value (gaps, days, hours, weekdays) is exact integer arithmetic; the output writes
    timestamps as those microseconds (the comparison converts Spark's side).
    """
    gap_us = int(job["session_gap_minutes"]) * 60 * 1_000_000
    cap = float(job["dwell_cap_seconds"])
    windows = [int(w) for w in job["windows_days"]]
    top = int(job["top_affinities"])
    files = ", ".join("'" + p.replace("'", "''") + "'" for p in job["files"])
    out = job["out"]
    day_us = 86_400_000_000
    order = "t, event_type NULLS FIRST, product_id NULLS FIRST"  # sessions.py's order; Spark sorts NULLs first
    ratio = lambda num, den: f"CASE WHEN ({den}) > 0 THEN CAST({num} AS DOUBLE) / ({den}) END"  # columns.ratio
    # columns.exact_sum: an exact sum at 6 decimals (Spark sums whole micro-units as longs; here decimal(38, 6), the same value).
    exact = lambda x, where="": f"CAST(sum(CAST({x} AS DECIMAL(38, 6))){f' FILTER ({where})' if where else ''} AS DOUBLE)"
    windowed = ",\n        ".join(
        f"count(*) FILTER (session_day > last_day - {w}) AS sessions_{w}d, "
        + ", ".join(f"coalesce(sum({m}) FILTER (session_day > last_day - {w}), 0)::BIGINT AS {m}_{w}d" for m in ("views", "carts", "purchases"))
        for w in windows
    )
    windowed_names = ", ".join(f"{m}_{w}d" for w in windows for m in ("sessions", "views", "carts", "purchases"))

    def quintile(value: str, out_col: str, source: str, descending: bool) -> str:
        """ranking.with_quintile: mid-rank percentile over the histogram of values; ties share a score."""
        before = f"ORDER BY v {'DESC' if descending else 'ASC'} ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING"
        return f"""
        CREATE TEMP TABLE {out_col}_of AS
        WITH histogram AS (SELECT {value} AS v, count(*) AS same FROM {source} GROUP BY 1),
        counted AS (
            SELECT v, same,
                   coalesce(sum(same) OVER ({before}), 0) AS before,
                   sum(same) OVER () AS total
            FROM histogram
        )
        SELECT v, CAST(least(5, floor(((before + same / 2.0) / total) * 5) + 1) AS INTEGER) AS score FROM counted
        """

    def affinity(key: str, out_col: str) -> str:
        """users._affinity: top values by events, share of all the user's events, `unknown` left out."""
        return f"""
        CREATE TEMP TABLE {out_col} AS
        WITH per_value AS (
            SELECT user_id, {key} AS name, sum(views + carts + removes + purchases) AS n FROM user_item_daily GROUP BY ALL
        ),
        shared AS (SELECT *, CAST(n AS DOUBLE) / sum(n) OVER (PARTITION BY user_id) AS share FROM per_value),
        ranked AS (
            SELECT *, row_number() OVER (PARTITION BY user_id ORDER BY n DESC, name ASC) AS rank FROM shared WHERE name <> 'unknown'
        )
        SELECT user_id, list({{'rank': CAST(rank AS INTEGER), 'name': name, 'share': share}} ORDER BY rank) AS {out_col}
        FROM ranked WHERE rank <= {top} GROUP BY user_id
        """

    return [
        (
            "events",
            f"""
        CREATE VIEW events AS
        SELECT user_id, user_session, coalesce(user_session, '') AS src, epoch_us(event_time) AS t, epoch_us(event_time) // {day_us} AS day,
               event_type, product_id, category_id, category_code, brand, price, order_id
        FROM read_parquet([{files}])
        WHERE NOT is_bot
        """,
        ),
        (
            "sessions",
            # A new session where the gap to the previous event of the (day, user, source session) exceeds
            # the gap; the running count of starts numbers them (a RANGE frame over t, so tied events
            # share their number whatever their order). Dwell: gap to the next event if in the session, capped.
            f"""
        CREATE TEMP TABLE sessions AS
        WITH ordered AS (
            SELECT *, lag(t) OVER w AS prev_t, lead(t) OVER w AS next_t
            FROM events
            WINDOW w AS (PARTITION BY day, user_id, src ORDER BY {order})
        ),
        numbered AS (
            SELECT *,
                   sum(CASE WHEN prev_t IS NULL OR t - prev_t > {gap_us} THEN 1 ELSE 0 END)
                       OVER (PARTITION BY day, user_id, src ORDER BY t RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS session_no,
                   CASE WHEN next_t - t <= {gap_us} THEN least((next_t - t) / 1e6, {cap}) END AS dwell
            FROM ordered
        )
        SELECT user_id,
               day AS session_day,
               any_value(user_session) AS source_session_id,
               min(t) AS session_start,
               max(t) AS session_end,
               (max(t) - min(t)) / 1e6 AS duration_seconds,
               count(*) AS events,
               count(*) FILTER (event_type = 'view') AS views,
               count(*) FILTER (event_type = 'cart') AS carts,
               count(*) FILTER (event_type = 'remove_from_cart') AS removes,
               count(*) FILTER (event_type = 'purchase') AS purchases,
               count(DISTINCT product_id) AS distinct_products,
               -- distinct order ids among purchases, plus one for purchases without an order id
               count(DISTINCT order_id) FILTER (event_type = 'purchase')
                   + max(CASE WHEN event_type = 'purchase' AND order_id IS NULL THEN 1 ELSE 0 END) AS orders,
               coalesce({exact("price", "event_type = 'purchase'")}, 0.0) AS revenue,
               max(t) FILTER (event_type = 'purchase') AS last_purchase_time,
               coalesce({exact("dwell")}, 0.0) AS dwell_seconds,
               count(dwell) AS dwell_events,
               CAST((min(t) // 3600000000) % 24 AS INTEGER) AS start_hour,
               CAST((min(t) // {day_us} + 3) % 7 + 1 AS INTEGER) AS start_weekday  -- 1970-01-01 was a Thursday (4)
        FROM numbered
        GROUP BY day, user_id, src, session_no
        """,
        ),
        (
            "user_item_daily",
            f"""
        CREATE TEMP TABLE user_item_daily AS
        SELECT user_id, product_id, day AS event_day,
               max(category_id) AS category_id, max(category_code) AS category_code, max(brand) AS brand,
               count(*) FILTER (event_type = 'view') AS views,
               count(*) FILTER (event_type = 'cart') AS carts,
               count(*) FILTER (event_type = 'remove_from_cart') AS removes,
               count(*) FILTER (event_type = 'purchase') AS purchases,
               count(*) FILTER (event_type = 'view' AND price IS NOT NULL) AS priced_views,
               coalesce({exact("price", "event_type = 'view'")}, 0.0) AS view_price_sum,
               count(*) FILTER (event_type = 'purchase' AND price IS NOT NULL) AS priced_purchases,
               coalesce({exact("price", "event_type = 'purchase'")}, 0.0) AS revenue,
               min(price) AS price_min, max(price) AS price_max, min(t) AS first_event_time, max(t) AS last_event_time
        FROM events
        GROUP BY user_id, product_id, day
        """,
        ),
        ("last_day", "CREATE TEMP TABLE as_of AS SELECT max(session_day) AS last_day FROM sessions"),
        (
            "from_sessions",
            f"""
        CREATE TEMP TABLE from_sessions AS
        SELECT user_id,
               min(session_start) AS first_event_time, max(session_end) AS last_event_time, max(last_purchase_time) AS last_purchase_time,
               count(DISTINCT session_day) AS active_days, count(*) AS sessions,
               sum(orders)::BIGINT AS orders, {exact("revenue")} AS revenue,
               sum(events)::BIGINT AS events, sum(views)::BIGINT AS views, sum(carts)::BIGINT AS carts,
               sum(removes)::BIGINT AS removes, sum(purchases)::BIGINT AS purchases,
               {windowed},
               {ratio("count(*) FILTER (carts > 0 AND purchases = 0)", "count(*) FILTER (carts > 0)")} AS cart_abandonment_rate,
               {exact("duration_seconds")} / count(*) AS avg_session_seconds,
               {ratio(exact("dwell_seconds"), "sum(dwell_events)")} AS avg_dwell_seconds
        FROM sessions, as_of
        WHERE session_day <= last_day
        GROUP BY user_id
        """,
        ),
        (
            "preferred",
            # mode(..., deterministic=True): the most frequent value, ties to the lowest.
            """
        CREATE TEMP TABLE preferred AS
        WITH hours AS (SELECT user_id, start_hour, count(*) AS n FROM sessions GROUP BY ALL),
        weekdays AS (SELECT user_id, start_weekday, count(*) AS n FROM sessions GROUP BY ALL)
        SELECT user_id, preferred_hour, preferred_weekday
        FROM (SELECT user_id, first(start_hour ORDER BY n DESC, start_hour ASC) AS preferred_hour FROM hours GROUP BY user_id)
        JOIN (SELECT user_id, first(start_weekday ORDER BY n DESC, start_weekday ASC) AS preferred_weekday FROM weekdays GROUP BY user_id)
        USING (user_id)
        """,
        ),
        (
            "from_activity",
            f"""
        CREATE TEMP TABLE from_activity AS
        WITH per_product AS (
            SELECT user_id, product_id,
                   sum(views) > 0 AS viewed, sum(carts) > 0 AS carted, sum(purchases) > 0 AS bought,
                   sum(priced_views) AS priced_views, {exact("view_price_sum")} AS view_price_sum,
                   sum(priced_purchases) AS priced_purchases, {exact("revenue")} AS revenue
            FROM user_item_daily GROUP BY user_id, product_id
        )
        SELECT user_id,
               {ratio("count(*) FILTER (viewed AND carted)", "count(*) FILTER (viewed)")} AS view_to_cart_rate,
               {ratio("count(*) FILTER (carted AND bought)", "count(*) FILTER (carted)")} AS cart_to_purchase_rate,
               {ratio(exact("view_price_sum"), "sum(priced_views)")} AS avg_price_viewed,
               {ratio(exact("revenue"), "sum(priced_purchases)")} AS avg_price_bought
        FROM per_product GROUP BY user_id
        """,
        ),
        ("top_categories", affinity("category_code", "top_categories")),
        ("top_brands", affinity("brand", "top_brands")),
        (
            "users",
            f"""
        CREATE TEMP TABLE users AS
        SELECT s.*, (last_day - first_event_time // {day_us})::INTEGER AS tenure_days,
               (last_day - last_event_time // {day_us})::INTEGER AS recency_days,
               (last_day - last_purchase_time // {day_us})::INTEGER AS days_since_last_purchase,
               {ratio("s.revenue", "s.orders")} AS avg_order_value,
               p.preferred_hour, p.preferred_weekday, a.view_to_cart_rate, a.cart_to_purchase_rate, a.avg_price_viewed, a.avg_price_bought,
               {ratio("a.avg_price_bought", "a.avg_price_viewed")} AS price_ratio,
               coalesce(c.top_categories, []) AS top_categories, coalesce(b.top_brands, []) AS top_brands, last_day
        FROM from_sessions s CROSS JOIN as_of
        LEFT JOIN preferred p USING (user_id) LEFT JOIN from_activity a USING (user_id)
        LEFT JOIN top_categories c USING (user_id) LEFT JOIN top_brands b USING (user_id)
        """,
        ),
        ("r_score", quintile("recency_days", "r_score", "users", descending=True)),
        ("f_score", quintile("orders", "f_score", "users WHERE orders > 0", descending=False)),
        ("m_score", quintile("revenue", "m_score", "users WHERE orders > 0", descending=False)),
        (
            "user_features",
            f"""
        CREATE TEMP TABLE user_features AS
        SELECT u.user_id, DATE '1970-01-01' + CAST(u.last_day AS INTEGER) AS as_of_date,
               first_event_time, last_event_time, last_purchase_time, tenure_days, recency_days, days_since_last_purchase,
               active_days, sessions, orders, revenue, avg_order_value, events, views, carts, removes, purchases, {windowed_names},
               cart_abandonment_rate, view_to_cart_rate, cart_to_purchase_rate, avg_session_seconds, avg_dwell_seconds,
               preferred_hour, preferred_weekday, top_categories, top_brands, avg_price_viewed, avg_price_bought, price_ratio,
               r.score AS r_score,
               CASE WHEN orders > 0 THEN f.score ELSE 0 END AS f_score,
               CASE WHEN orders > 0 THEN m.score ELSE 0 END AS m_score,
               concat(r.score, CASE WHEN orders > 0 THEN f.score ELSE 0 END, CASE WHEN orders > 0 THEN m.score ELSE 0 END) AS rfm_segment
        FROM users u
        LEFT JOIN r_score_of r ON r.v = u.recency_days
        LEFT JOIN f_score_of f ON f.v = u.orders
        LEFT JOIN m_score_of m ON m.v = u.revenue
        """,
        ),
        *[
            (f"write {table}", f"COPY (SELECT * {extra} FROM {table}) TO '{out}/{table}.parquet' (FORMAT parquet)")
            for table, extra in (
                ("sessions", "REPLACE (DATE '1970-01-01' + CAST(session_day AS INTEGER) AS session_day)"),
                ("user_item_daily", "REPLACE (DATE '1970-01-01' + CAST(event_day AS INTEGER) AS event_day)"),
                ("user_features", ""),
            )
        ],
    ]


def duckdb_worker(job_path: str) -> None:
    """Run the DuckDB statements of the job file; write the timings, counts and own peak memory next to it."""
    import duckdb

    job = json.loads(Path(job_path).read_text())
    t0 = time.perf_counter()
    con = duckdb.connect()
    con.execute(f"SET threads = {int(job['threads'])}")
    con.execute("SET preserve_insertion_order = false")
    con.execute(f"SET temp_directory = '{job['out']}/duckdb_tmp'")
    # DuckDB's default (80% of RAM) does not know about the Spark JVM still up in the parent: at 100M
    # events the two together went past the machine's memory and the kernel killed DuckDB.
    con.execute(f"SET memory_limit = '{int(job['memory_limit_mib'])}MiB'")
    steps: dict[str, float] = {}
    for name, sql in duckdb_sql(job):
        t = time.perf_counter()
        con.execute(sql)
        steps[name] = time.perf_counter() - t
    seconds = time.perf_counter() - t0
    counts = {table: con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0] for table in ("sessions", "user_item_daily", "user_features")}
    events, last_day = con.execute("SELECT sum(events)::BIGINT, any_value(last_day) FROM sessions, as_of").fetchall()[0]
    result = {
        "seconds": seconds,
        "steps": steps,
        "rows": counts,
        "events": events,
        "last_day": str(EPOCH + dt.timedelta(days=last_day)),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # KiB on Linux
        "duckdb_version": duckdb.__version__,
        "memory_limit_mib": job["memory_limit_mib"],
    }
    Path(job["result"]).write_text(json.dumps(result))


def run_duckdb(job: dict[str, Any]) -> tuple[dict[str, Any], float]:
    """Run the DuckDB worker in a fresh process; its result and the process's wall time."""
    job_path = Path(job["out"]) / "job.json"
    job_path.write_text(json.dumps(job))
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "benchmarks.featurize", "--duckdb-job", str(job_path)], cwd=REPO, check=True)
    wall = time.perf_counter() - t
    return json.loads(Path(job["result"]).read_text()), wall


# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    events: int
    users: int
    days: int
    last_day: dt.date
    windows: tuple[int, ...]
    prepared: dict[str, float] | None
    a: Timed
    b: Timed | None
    snapshots: int
    duck: dict[str, Any]
    duck_wall: float
    peak_reset: bool
    mismatches: int


def print_summary(s: Summary) -> None:
    peak = "(driver + local JVM" + (", mark reset before the run)" if s.peak_reset else ", whole process so far)")
    duck = s.duck
    print()
    print(f"== featurize: {s.events:,} human events in silver, {s.users:,} users, {s.days} day(s) up to {s.last_day}; windows {list(s.windows)} days")
    if s.prepared:
        p = s.prepared
        print(f"  prepare        generate {p['generate']:.1f} s, ingest {p['ingest']:.1f} s, clean {p['clean']:.1f} s (not part of the comparison)")
    print(
        f"  spark (a)      {s.a.seconds:8.1f} s  {s.events / s.a.seconds:10,.0f} events/s  peak {s.a.peak_mib or 0:8,.0f} MiB {peak}\n"
        "                 sessions + user_item_daily for all days, user_features as of the last day: the library transforms "
        "+ lake.write, like for like with DuckDB"
    )
    if s.b is not None:
        print(
            f"  spark (b)      {s.b.seconds:8.1f} s  {s.events / s.b.seconds:10,.0f} events/s  peak {s.b.peak_mib or 0:8,.0f} MiB {peak}\n"
            f"                 featurize job, full=True: all gold tables, {s.snapshots} snapshots"
        )
    print(
        f"  duckdb         {duck['seconds']:8.1f} s  {s.events / duck['seconds']:10,.0f} events/s  peak {duck['peak_rss_mib']:8,.0f} MiB "
        f"(DuckDB {duck['duckdb_version']} process alone, threads=2; process wall time {s.duck_wall:.1f} s)\n"
        "                 same sessions, user_item_daily and user features in SQL, on the same silver Parquet files, written to Parquet"
    )
    slowest = sorted(duck["steps"].items(), key=lambda kv: -kv[1])[:4]
    print(f"                 slowest steps: {', '.join(f'{k} {v:.1f} s' for k, v in slowest)}")
    print(f"  spark (a) / duckdb   {s.a.seconds / duck['seconds']:.1f}x the time")
    print(f"  load average at end: {load_average()} (timings are noisy when other work shares the cores)")
    if s.mismatches:
        print(f"  agreement: {s.mismatches:,} MISMATCHES (input, row counts, users on one side only, (user, column) pairs; see above)")
    else:
        print("  agreement: AGREE (sessions and user_item_daily row counts; every user features column of (a) and of (b)'s last snapshot)")


def run_benchmark(spark: SparkSession, config: Config, work: str, full: bool = True) -> Summary:
    """Prepare or reuse the lake, time (a), DuckDB and (b) (unless not ``full``), compare; print progress and mismatches."""
    from ecomlake import lake
    from ecomlake.catalog import SILVER_EVENTS, USER_FEATURES
    from ecomlake.featurize.job import FeaturizeParams
    from ecomlake.featurize.job import run as featurize
    from ecomlake.job import Context
    from ecomlake.metrics import peak_rss_mib

    fc, gen = config.featurize, config.generator
    prepared: dict[str, float] | None = None
    if lake.exists(spark, config.lake, SILVER_EVENTS):
        print(f"reusing the lake at {config.lake.root} (its silver table exists; --events/--days ignored)", flush=True)
    else:
        print(f"preparing a lake at {config.lake.root}: {gen.events:,} events over {gen.days} day(s)", flush=True)
        prepared = prepare_lake(spark, config)
    events = silver_events(spark, config).count()

    peak_reset = reset_peak_rss()
    t = time.perf_counter()
    last_day, rows_a = spark_user_features(spark, config)
    a = Timed(time.perf_counter() - t, peak_rss_mib())
    print(f"spark (a) done in {a.seconds:.1f} s: {rows_a}", flush=True)

    files = live_silver_files(spark, config)
    out = f"{work}/duckdb"
    os.makedirs(out, exist_ok=True)
    job = {
        "files": files,
        "out": out,
        "result": f"{out}/result.json",
        "threads": 2,
        "memory_limit_mib": memory_total_kib() // 2048,  # half the RAM
        "session_gap_minutes": fc.session_gap_minutes,
        "dwell_cap_seconds": fc.dwell_cap_seconds,
        "windows_days": list(fc.windows_days),
        "top_affinities": fc.top_affinities,
    }
    duck, duck_wall = run_duckdb(job)
    print(f"duckdb done in {duck['seconds']:.1f} s ({len(files)} silver files): {duck['rows']}", flush=True)

    print("agreement (user features as of the last day, Spark vs DuckDB):", flush=True)
    mismatches = 0
    if duck["last_day"] != str(last_day) or duck["events"] != events:
        print(f"  input differs: Spark {events:,} events up to {last_day}, DuckDB {duck['events']:,} events up to {duck['last_day']}")
        mismatches += 1
    for table in ("sessions", "user_item_daily"):
        n_spark, n_duck = rows_a[f"gold.{table}"], duck["rows"][table]
        print(f"  gold.{table}: Spark {n_spark:,} rows, DuckDB {n_duck:,} rows" + (": AGREE" if n_spark == n_duck else ": DIFFER"))
        mismatches += n_spark != n_duck

    def snapshot() -> DataFrame:
        return lake.read(spark, config, USER_FEATURES, {"as_of_date": last_day})

    mismatches += compare_features(spark, config, snapshot(), f"{out}/user_features.parquet", "spark (a)")

    b, snapshots = None, 1
    if full:
        reset_peak_rss()
        t = time.perf_counter()
        result_b = featurize(Context(spark, config), FeaturizeParams(full=True))
        b = Timed(time.perf_counter() - t, peak_rss_mib())
        snapshots = len(result_b.snapshot_dates)
        print(f"spark (b) done in {b.seconds:.1f} s: {result_b.rows}", flush=True)
        mismatches += compare_features(spark, config, snapshot(), f"{out}/user_features.parquet", "spark (b), last snapshot")
    days = silver_events(spark, config).select("event_date").distinct().count()
    return Summary(
        events=events,
        users=duck["rows"]["user_features"],
        days=days,
        last_day=last_day,
        windows=fc.windows_days,
        prepared=prepared,
        a=a,
        b=b,
        snapshots=snapshots,
        duck=duck,
        duck_wall=duck_wall,
        peak_reset=peak_reset,
        mismatches=mismatches,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000, help="target human events to generate")
    parser.add_argument("--days", type=int, default=7, help="days the events span")
    parser.add_argument("--lake", default=None, help="lake root to reuse (if its silver table exists) or to prepare and keep")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (the lake unless --lake, and DuckDB's outputs)")
    parser.add_argument("--no-full", action="store_true", help="skip (b), featurize --full (the slowest part)")
    parser.add_argument("--json", default=None, help="write the figures here (benchmarks.run_all reads them)")
    parser.add_argument("--duckdb-job", help=argparse.SUPPRESS)  # internal: the DuckDB subprocess
    args = parser.parse_args()
    if args.duckdb_job:
        duckdb_worker(args.duckdb_job)
        return

    from ecomlake.config import load_config
    from ecomlake.session import start_session

    work = tempfile.mkdtemp(prefix="ecomlake-bench-featurize-")
    root = os.path.abspath(args.lake) if args.lake else f"{work}/lake"
    config = load_config(None, overrides=[f"lake.root={root}", f"generator.events={args.events}", f"generator.days={args.days}"])
    print(f"load average at start: {load_average()} ({os.cpu_count()} cores)", flush=True)
    t = time.perf_counter()
    spark = start_session(config.spark, "ecomlake-bench-featurize")
    print(f"session start: {time.perf_counter() - t:.1f} s ({spark.sparkContext.defaultParallelism} cores)", flush=True)
    try:
        summary = run_benchmark(spark, config, work, full=not args.no_full)
    finally:
        spark.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print_summary(summary)
    if args.json:
        figures = dataclasses.asdict(summary)
        figures["spark_over_duckdb"] = round(summary.a.seconds / summary.duck["seconds"], 2)
        Path(args.json).write_text(json.dumps(figures, indent=2, default=str) + "\n")
    sys.exit(1 if summary.mismatches else 0)


if __name__ == "__main__":
    main()
