"""Benchmark: Spark MLlib ALS against the ``implicit`` library's CPU ALS, same interactions, same split, same metrics.

    python -m benchmarks.als [--interactions 1000000 10000000] [--data DIR] [--json OUT]

Interactions: generated events (7 days, bots left out) aggregated by the library's own transforms
(``user_item_daily`` then ``interactions`` as of the last day), about ``--interactions`` rows,
cached as Parquet under ``--data``. The chronological split of ``recommend`` holds out each user's
newest products. Both libraries fit implicit ALS with recommend's defaults (rank, iterations,
regularisation, alpha: confidence = 1 + alpha * strength) on 2 cores, recommend the top k unseen
products for every test user, and are scored by the same Spark ``ranking_metrics`` (precision,
recall, NDCG and MAP at k). implicit runs in a subprocess of its own (2 threads, BLAS single-threaded,
as its docs advise) and hands its recommendations back as Parquet.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import Steps, load_average, read_json, spark_session, write_json

INTERACTIONS_PER_EVENT = 0.42  # measured on generated 7-day data: sizes the generation for a target
DAYS = 7


def interactions_path(data: Path, target: int) -> Path:
    return data / f"interactions-{target}"


def prepare_interactions(spark: Any, config: Any, target: int, path: Path) -> int:
    """Generate events for about ``target`` interactions and aggregate them as featurize does; cached."""
    import dataclasses

    from pyspark.sql import functions as F

    from ecomlake.featurize.activity import user_item_daily
    from ecomlake.featurize.interactions import interactions
    from ecomlake.generate import traffic

    if (path / "_SUCCESS").is_file():
        return spark.read.parquet(str(path)).count()
    gen = dataclasses.replace(config.generator, events=int(target / INTERACTIONS_PER_EVENT), days=DAYS)
    events = traffic.generate_events(spark, traffic.plan(gen)).where(~F.col("is_bot"))
    last_day = gen.start_date + dt.timedelta(days=DAYS - 1)
    rows = interactions(user_item_daily(events), last_day, config.featurize).select("user_id", "product_id", "strength", "first_interaction_time")
    rows.write.mode("overwrite").parquet(str(path))
    return spark.read.parquet(str(path)).count()


def run_one(spark: Any, config: Any, target: int, data: Path, work: Path) -> dict[str, Any]:
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from ecomlake.recommend.als import ITEM, RATING, USER, als_candidates, fit_als, index_ids, top_k_unseen, with_indexes
    from ecomlake.recommend.evaluate import ranking_metrics, with_test_flag

    rc = config.recommend
    steps = Steps(spark)
    source = interactions_path(data, target)
    n = steps.run("prepare interactions", lambda: prepare_interactions(spark, config, target, source), lambda n: n)
    raw = spark.read.parquet(str(source))
    maps = index_ids(raw)
    split = with_test_flag(
        with_indexes(raw, maps).select(USER, ITEM, F.col("strength").alias(RATING), "first_interaction_time"), rc.test_fraction, rc.min_user_items
    )
    folder = work / f"split-{target}"
    split.select(USER, ITEM, RATING, "is_test").write.mode("overwrite").parquet(str(folder / "split"))
    split = spark.read.parquet(str(folder / "split")).persist(StorageLevel.MEMORY_AND_DISK)
    train, test = split.where(~F.col("is_test")).select(USER, ITEM, RATING), split.where(F.col("is_test")).select(USER, ITEM)
    sizes = split.agg(F.countDistinct(USER), F.countDistinct(ITEM), F.sum(F.col("is_test").cast("int"))).first()
    result: dict[str, Any] = {"interactions": n, "users": sizes[0], "products": sizes[1], "test_rows": sizes[2], "k": rc.k}
    result["params"] = {"rank": rc.rank, "iterations": rc.max_iter, "reg_param": rc.reg_param, "alpha": rc.alpha}
    print(f"== {n:,} interactions: {sizes[0]:,} users x {sizes[1]:,} products; {sizes[2]:,} held out", flush=True)

    model = steps.run("spark fit", lambda: fit_als(train, rc))
    users = test.select(USER).distinct()
    spark_recs = folder / "spark_recs"
    steps.run(
        f"spark top {rc.k}",
        lambda: (
            top_k_unseen(als_candidates(model), users, seen=train, k=rc.k).select(USER, "rank", ITEM).write.mode("overwrite").parquet(str(spark_recs))
        ),
    )
    result["spark"] = {"fit_seconds": steps.done[-2].seconds, "recommend_seconds": steps.done[-1].seconds}
    result["spark"] |= ranking_metrics(spark.read.parquet(str(spark_recs)), test, rc.k)

    job = {
        "split": str(folder / "split"),
        "out": str(folder / "implicit_recs"),
        "k": rc.k,
        **result["params"],
        "seed": rc.seed,
        "result": str(folder / "implicit.json"),
    }
    write_json(folder / "implicit_job.json", job)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "benchmarks.als", "--implicit-job", str(folder / "implicit_job.json")], check=True, env=env)
    implicit = read_json(folder / "implicit.json") | {"process_seconds": round(time.perf_counter() - t, 2)}
    recs = spark.read.parquet(job["out"]).select(
        F.col("user").cast("int").alias(USER), F.col("rank").cast("int"), F.col("item").cast("int").alias(ITEM)
    )
    result["implicit"] = implicit | ranking_metrics(recs, test, rc.k)
    split.unpersist()
    result["steps"] = steps.as_dicts()
    s, i = result["spark"], result["implicit"]
    result["spark_over_implicit_fit"] = round(s["fit_seconds"] / i["fit_seconds"], 2)
    result["ndcg_spark_minus_implicit"] = round(s["ndcg_at_k"] - i["ndcg_at_k"], 4)
    for name, r in (("spark", s), ("implicit", i)):
        quality = f"NDCG@{rc.k} {r['ndcg_at_k']:.4f}  precision {r['precision_at_k']:.4f}"
        print(f"  {name:<9} fit {r['fit_seconds']:7.1f} s  top {rc.k} {r['recommend_seconds']:7.1f} s  {quality}", flush=True)
    return result


def implicit_worker(job_path: str) -> None:
    """In its own process: fit implicit's ALS on the train rows, recommend for the test users, write Parquet."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    import scipy.sparse as sparse
    from implicit.cpu.als import AlternatingLeastSquares

    from ecomlake.metrics import peak_rss_mib

    job = read_json(Path(job_path))
    table = pq.read_table(job["split"]).to_pandas()
    n_users, n_items = int(table["user"].max()) + 1, int(table["item"].max()) + 1
    train = table[~table["is_test"]]
    confidence = (1.0 + job["alpha"] * train["rating"].to_numpy()).astype(np.float32)
    user_items = sparse.csr_matrix((confidence, (train["user"].to_numpy(), train["item"].to_numpy())), shape=(n_users, n_items))
    model = AlternatingLeastSquares(
        factors=job["rank"], regularization=job["reg_param"], iterations=job["iterations"], num_threads=2, random_state=job["seed"]
    )
    t = time.perf_counter()
    model.fit(user_items, show_progress=False)
    fit_s = time.perf_counter() - t
    users = np.unique(table.loc[table["is_test"], "user"].to_numpy())
    t = time.perf_counter()
    ids, _ = model.recommend(users, user_items[users], N=job["k"], filter_already_liked_items=True)
    rec_s = time.perf_counter() - t
    k = ids.shape[1]
    recs = pa.table({"user": np.repeat(users, k), "rank": np.tile(np.arange(1, k + 1), len(users)), "item": ids.ravel()})
    recs = recs.filter(pa.compute.greater_equal(recs["item"], 0))  # -1 pads users with fewer unseen items than k
    os.makedirs(job["out"], exist_ok=True)
    pq.write_table(recs, f"{job['out']}/part-0.parquet")
    import implicit

    write_json(
        Path(job["result"]),
        {
            "version": implicit.__version__,
            "fit_seconds": round(fit_s, 2),
            "recommend_seconds": round(rec_s, 2),
            "peak_rss_mib": peak_rss_mib(),
            "solver": "conjugate gradient (implicit's default)",
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interactions", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument(
        "--data", type=Path, default=Path(tempfile.gettempdir()) / "ecomlake-bench-data", help="generated interactions, kept and reused"
    )
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--implicit-job", help=argparse.SUPPRESS)  # internal: the implicit subprocess
    args = parser.parse_args()
    if args.implicit_job:
        implicit_worker(args.implicit_job)
        return
    from ecomlake.config import load_config

    work = Path(tempfile.mkdtemp(prefix="ecomlake-bench-als-"))
    config = load_config(None, overrides=[f"lake.root={work}/lake", f"spark.checkpoint_dir={work}/checkpoints"])
    results: dict[str, Any] = {"load_average_at_start": load_average()}
    try:
        with spark_session(config, "ecomlake-bench-als") as spark:
            for target in args.interactions:
                results[str(target)] = run_one(spark, config, target, args.data, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["load_average_at_end"] = load_average()
    if args.json:
        write_json(args.json, results)


if __name__ == "__main__":
    main()
