"""Benchmark: ecomlake's sessionisation (window functions in the JVM) against the naive PySpark way
(each user's day collected into a list and split into sessions by a Python UDF), on the same silver.

    python -m benchmarks.naive_sessions --lake LAKE [--json OUT]

Both write the same session columns to Parquet in a scratch folder (timed); then the two outputs are
joined on (user, source session, start) and every column compared (floats within 1e-9 relative).
The naive version is what the chosen design saves: the Python UDF ships every event through Arrow-less
pickling to a Python worker and holds a whole user-day in memory.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.common import Steps, load_average, silver_events, spark_session, write_json

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from ecomlake.config import FeaturizeConfig

COLUMNS = ("user_id", "source_session_id", "session_start", "session_end", "events", "views", "carts", "purchases", "revenue", "dwell_seconds")
SESSIONS_TYPE = (
    "array<struct<source_session_id: string, session_start: timestamp, session_end: timestamp, events: long, views: long, "
    "carts: long, purchases: long, revenue: double, dwell_seconds: double>>"
)


def split_sessions(events: list[Any], gap_seconds: int, dwell_cap: float) -> list[tuple[Any, ...]]:
    """One user's day -> its sessions, in plain Python: the same rules as ecomlake.featurize.sessions."""
    by_source: dict[str, list[Any]] = {}
    for e in events:
        by_source.setdefault(e.user_session or "", []).append(e)
    out = []
    for source, rows in by_source.items():
        rows.sort(key=lambda e: (e.event_time, e.event_type, e.product_id))
        runs: list[list[Any]] = []
        for e in rows:
            if not runs or (e.event_time - runs[-1][-1].event_time).total_seconds() > gap_seconds:
                runs.append([])
            runs[-1].append(e)
        for run in runs:
            dwell = sum(min((b.event_time - a.event_time).total_seconds(), dwell_cap) for a, b in zip(run, run[1:], strict=False))
            kinds = [e.event_type for e in run]
            revenue = sum(e.price or 0.0 for e in run if e.event_type == "purchase")
            out.append(
                (
                    source or None,
                    run[0].event_time,
                    run[-1].event_time,
                    len(run),
                    kinds.count("view"),
                    kinds.count("cart"),
                    kinds.count("purchase"),
                    float(revenue),
                    float(dwell),
                )
            )
    return out


def library_sessions(silver: DataFrame, fc: FeaturizeConfig) -> DataFrame:
    """The library's sessionisation (window functions in the JVM), in the compared columns."""
    from ecomlake.featurize.sessions import sessions

    return sessions(silver, fc.session_gap_minutes, fc.dwell_cap_seconds).select(*COLUMNS)


def naive_sessions(silver: DataFrame, fc: FeaturizeConfig) -> DataFrame:
    """The naive way: each user's day collected into a list and split by a Python UDF."""
    from pyspark.sql import functions as F

    gap, cap = fc.session_gap_minutes * 60, float(fc.dwell_cap_seconds)
    udf = F.udf(lambda rows: split_sessions(rows, gap, cap), SESSIONS_TYPE)
    wanted = ("event_time", "event_type", "product_id", "user_session", "price")
    per_user_day = silver.groupBy("user_id", "event_date").agg(F.collect_list(F.struct(*wanted)).alias("rows"))
    return per_user_day.select("user_id", F.explode(udf("rows")).alias("s")).select("user_id", "s.*").select(*COLUMNS)


def count_mismatches(a: DataFrame, b: DataFrame) -> int:
    """Sessions in only one of ``a`` and ``b``, or in both with any column different (floats within 1e-9 relative)."""
    from pyspark.sql import functions as F

    keys = ["user_id", "source_session_id", "session_start"]
    joined = a.alias("a").join(b.alias("b"), [a[k].eqNullSafe(b[k]) for k in keys], "full_outer")
    differs = [
        ~F.col(f"a.{c}").eqNullSafe(F.col(f"b.{c}"))
        if c not in ("revenue", "dwell_seconds")
        else F.abs(F.col(f"a.{c}") - F.col(f"b.{c}")) > F.greatest(F.lit(1e-6), F.abs(F.col(f"a.{c}")) * 1e-9)
        for c in COLUMNS
        if c not in keys
    ]
    unmatched = F.col("a.user_id").isNull() | F.col("b.user_id").isNull()
    return joined.where(unmatched | (F.coalesce(F.greatest(*[d.cast("int") for d in differs]), F.lit(1)) == 1)).count()


def run(lake_root: str, work: Path) -> dict[str, Any]:
    from ecomlake.config import load_config

    config = load_config(None, overrides=[f"lake.root={lake_root}", f"spark.checkpoint_dir={work}/checkpoints"])
    result: dict[str, Any] = {"lake": lake_root, "load_average_at_start": load_average()}
    with spark_session(config, "ecomlake-bench-naive-sessions") as spark:
        silver = silver_events(spark, config)
        result["events"] = silver.count()
        steps = Steps(spark)

        def write(name: str, df: DataFrame) -> int:
            df.write.mode("overwrite").parquet(str(work / name))
            return spark.read.parquet(str(work / name)).count()

        steps.run("library (window functions)", lambda: write("library", library_sessions(silver, config.featurize)), lambda n: n)
        steps.run("naive (Python UDF)", lambda: write("naive", naive_sessions(silver, config.featurize)), lambda n: n)
        mismatches = count_mismatches(*(spark.read.parquet(str(work / name)) for name in ("library", "naive")))
        result["steps"] = steps.as_dicts()
        result["sessions"] = steps.done[0].rows
        result["mismatched_sessions"] = mismatches
    lib_s, naive_s = (s.seconds for s in steps.done)
    result["naive_over_library"] = round(naive_s / lib_s, 2)
    agree = "AGREE" if mismatches == 0 else f"{mismatches:,} MISMATCHED sessions"
    print(
        f"== sessions of {result['events']:,} events: library {lib_s:.1f} s, naive UDF {naive_s:.1f} s ({naive_s / lib_s:.1f}x); {agree}", flush=True
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", required=True, help="a lake with silver events (read only)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ecomlake-bench-naive-"))
    try:
        result = run(str(Path(args.lake).resolve()), work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        write_json(args.json, result)
    raise SystemExit(1 if result["mismatched_sessions"] else 0)


if __name__ == "__main__":
    main()
