"""Benchmark: implicit ALS fit and the top 10 unseen products for every user, on >= 1M interactions.

    python -m benchmarks.recommend [--events 10000000] [--days 7] [--lake /tmp/bench-featurize-10m/lake] [--date 2019-10-07]

Reads gold.interactions as of ``--date`` (default: the newest snapshot) from the lake at ``--lake``
(read only: checkpoints go to a temporary folder and nothing is written to the lake), or prepares a
temporary lake first (generate, then the jobs ingest, clean and featurize for every day; timed apart). Then times,
with ``recommend``'s defaults (RecommendConfig) and its library functions:

  (1) input: the id maps and the cached int32 ratings (as ``recommend`` builds them);
  (2) fit: ``fit_als`` on all the interactions;
  (3) top 10: ``top_k_unseen`` for every user, seen products excluded (computed, then counted; not written);
  (4) similar items: ``similar_items`` (cosine of the item factors, top 10 per product; O(items^2 * rank)).

Peak memory is the driver plus the local Spark JVM (the mark is reset before each step where Linux
allows). A benchmark, not a test: figures vary by machine and by what else runs on it (the load
average is printed).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import tempfile
import time

from benchmarks.common import load_average, reset_peak_rss
from benchmarks.featurize import prepare_lake


def prepare(spark, config) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Generate, ingest and clean every day (benchmarks/featurize.py), then featurize every day in order."""
    from ecomlake.featurize.job import FeaturizeParams
    from ecomlake.featurize.job import run as featurize
    from ecomlake.job import Context

    times = prepare_lake(spark, config)
    ctx = Context(spark, config)
    t = time.perf_counter()
    for n in range(config.generator.days):
        featurize(ctx, FeaturizeParams(config.generator.start_date + dt.timedelta(days=n)))
    times["featurize"] = time.perf_counter() - t
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000, help="target human events to generate (without --lake)")
    parser.add_argument("--days", type=int, default=7, help="days the events span (without --lake)")
    parser.add_argument("--lake", default=None, help="an existing lake root to read gold.interactions from (read only)")
    parser.add_argument("--date", type=dt.date.fromisoformat, default=None, help="interactions as of this day (default: the newest snapshot)")
    args = parser.parse_args()

    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from ecomlake import lake
    from ecomlake.catalog import INTERACTIONS
    from ecomlake.config import load_config
    from ecomlake.metrics import peak_rss_mib
    from ecomlake.recommend.als import ITEM, RATING, USER, als_candidates, fit_als, index_ids, top_k_unseen, with_indexes
    from ecomlake.recommend.similar import similar_items
    from ecomlake.session import start_session

    work = tempfile.mkdtemp(prefix="ecomlake-bench-recommend-")
    root = os.path.abspath(args.lake) if args.lake else f"{work}/lake"
    config = load_config(
        None,
        overrides=[
            f"lake.root={root}",
            f"generator.events={args.events}",
            f"generator.days={args.days}",
            f"spark.checkpoint_dir={work}/checkpoints",
            f"spark.warehouse_dir={work}/warehouse",
        ],
    )
    rc = config.recommend
    print(f"load average at start: {load_average()} ({os.cpu_count()} cores)", flush=True)
    spark = start_session(config.spark, "ecomlake-bench-recommend")
    try:
        if not args.lake:
            print(f"preparing a lake at {root}: {args.events:,} events over {args.days} day(s)", flush=True)
            p = prepare(spark, config)
            print("  prepared: " + ", ".join(f"{k} {v:.1f} s" for k, v in p.items()), flush=True)
        day = args.date or lake.read(spark, config, INTERACTIONS).agg(F.max("as_of_date")).first()[0]
        figures: dict[str, tuple[float, float | None, str]] = {}

        def timed(name: str, step, describe) -> object:  # type: ignore[no-untyped-def]
            reset_peak_rss()
            t = time.perf_counter()
            out = step()
            figures[name] = (time.perf_counter() - t, peak_rss_mib(), describe(out))
            print(f"  {name:<14} {figures[name][0]:8.1f} s  peak {figures[name][1] or 0:7,.0f} MiB  {figures[name][2]}", flush=True)
            return out

        def build_input():  # type: ignore[no-untyped-def]
            # What the recommend job reads (ecomlake/recommend/job.py).
            interactions = lake.read(spark, config, INTERACTIONS, {"as_of_date": day}).select(
                "user_id", "product_id", "strength", "first_interaction_time"
            )
            maps = index_ids(interactions)
            ratings = with_indexes(interactions, maps).select(USER, ITEM, F.col("strength").alias(RATING))
            # As recommend: the fit and the top k read the same cached rows.
            ratings = ratings.persist(StorageLevel.MEMORY_AND_DISK)
            sizes = ratings.agg(F.count("*"), F.countDistinct(USER), F.countDistinct(ITEM)).first()
            return ratings, sizes

        print(f"gold.interactions as of {day} in {root}; rank {rc.rank}, {rc.max_iter} iterations, {rc.blocks} blocks, top {rc.top_n}", flush=True)
        ratings, sizes = timed("input", build_input, lambda r: f"{r[1][0]:,} interactions, {r[1][1]:,} users, {r[1][2]:,} products")
        model = timed("fit", lambda: fit_als(ratings, rc), lambda m: f"rank {m.rank}")
        top = timed(
            f"top {rc.top_n}",
            lambda: top_k_unseen(als_candidates(model), ratings.select(USER), seen=ratings, k=rc.top_n).count(),
            lambda n: f"{n:,} recommendations ({n / sizes[1]:.2f} per user)",
        )
        timed("similar items", lambda: similar_items(model, rc.similar_items).count(), lambda n: f"{n:,} rows ({rc.similar_items} per product)")
        fit_s, top_s = figures["fit"][0], figures[f"top {rc.top_n}"][0]
        print()
        print(f"== ALS on {sizes[0]:,} interactions ({sizes[1]:,} users x {sizes[2]:,} products), {spark.sparkContext.defaultParallelism} cores")
        print(f"  fit + top {rc.top_n} for all users: {fit_s + top_s:.1f} s (fit {fit_s:.1f} s, top {rc.top_n} {top_s:.1f} s; {top:,} rows)")
        print(f"  peak memory (driver + local JVM): {max(f[1] or 0 for f in figures.values()):,.0f} MiB")
        print(f"  load average at end: {load_average()} (timings are noisy when other work shares the cores)")
    finally:
        spark.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
