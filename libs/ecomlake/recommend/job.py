"""``ecomlake recommend``: implicit ALS on gold.interactions; ``ecomlake als-movielens``: the published-figures check.

``recommend --date D`` reads gold.interactions as of D and

1. evaluates: an ALS fitted on the per-user chronological split (ecomlake.recommend.evaluate) and
   the popularity baseline on the same split, top k among unseen products, into ml.als_metrics;
2. fits the final ALS on all interactions as of D and writes gold.recommendations (top_n per user)
   and gold.similar_items (cosine of the item factors) with ``run_date = D``, each slice replaced in
   one commit;
3. saves the model and its id maps under ``registry.artifact_path`` and records the run ("als") in
   ml.model_runs with the ALS evaluation metrics.

``--score-only`` loads the newest model trained on or before D and only writes D's recommendations;
users the model never saw get none (their number is printed).

Graceful limits: fewer than 2 users as of D, or no user with ``min_user_items`` products, skips
the evaluation (with the reason printed; ml.als_metrics gets no rows for the run) but still trains,
saves and recommends; a single user has seen every product the model knows, so with exclude_seen
they get no recommendations. No interactions as of D is an InputMissingError.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import logging
import time
from dataclasses import dataclass

from pyspark import StorageLevel
from pyspark.ml.recommendation import ALSModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ecomlake import lake
from ecomlake.config import Config, RecommendConfig
from ecomlake.errors import InputMissingError
from ecomlake.job import Job, iso_date
from ecomlake.ml import registry
from ecomlake.recommend import explicit, schemas
from ecomlake.recommend.als import (
    ITEM,
    RATING,
    SCORE,
    USER,
    IdMaps,
    als_candidates,
    fit_als,
    index_ids,
    popularity_candidates,
    require_checkpoint_dir,
    top_k_unseen,
    with_ids,
    with_indexes,
)
from ecomlake.recommend.evaluate import coverage, ranking_metrics, with_test_flag
from ecomlake.recommend.similar import similar_items
from ecomlake.runinfo import new_run_id

log = logging.getLogger(__name__)

MODEL = "als"


@dataclass(frozen=True)
class RecommendResult:
    """What one recommend run did: the model, the evaluation (one row per model, or why it was skipped) and rows written."""

    run_date: dt.date
    model_version: str
    score_only: bool
    evaluation: list[dict[str, object]]  # ml.als_metrics rows: als, popularity
    evaluation_skipped: str | None  # the reason, when there is no evaluation
    interactions: int  # user-product rows as of the date
    rows: dict[str, int]  # rows written per table
    unknown_users: int  # score-only: users of the date the model never saw (no recommendations)
    seconds: float


def read_interactions(spark: SparkSession, config: Config, run_date: dt.date) -> DataFrame:
    """gold.interactions as of ``run_date`` (user_id, product_id, strength, first_interaction_time); InputMissingError if absent."""
    missing = f"run `ecomlake featurize --date {run_date}` first"
    if not lake.table_exists(spark, config.lake, lake.INTERACTIONS):
        raise InputMissingError(f"table {lake.INTERACTIONS.qualified_name(config.lake)} does not exist; {missing}")
    return (
        lake.read_table(spark, config.lake, lake.INTERACTIONS)
        .where(F.col("as_of_date") == F.lit(run_date))
        .select("user_id", "product_id", "strength", "first_interaction_time")
    )


def evaluate(ratings: DataFrame, rc: RecommendConfig, run_date: dt.date, version: str) -> tuple[list[dict[str, object]], str | None]:
    """ALS and popularity on the chronological split of ``ratings``: ml.als_metrics rows, or none and the reason."""
    split = with_test_flag(ratings, rc.test_fraction, rc.min_user_items)
    # The split (a window over all rows) feeds the counts, the fit, both baselines' seen filters and the metrics: compute it once.
    split = split.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        is_test = F.col("is_test")
        sizes = split.agg(
            F.sum(F.when(~is_test, 1).otherwise(0)).alias("train_rows"),
            F.sum(F.when(is_test, 1).otherwise(0)).alias("test_rows"),
            F.countDistinct(F.when(~is_test, F.col(USER))).alias("train_users"),
            F.countDistinct(F.when(~is_test, F.col(ITEM))).alias("train_items"),
            F.countDistinct(F.when(is_test, F.col(USER))).alias("users_evaluated"),
        ).first()
        if sizes.train_users < 2:
            return [], f"{sizes.train_users} user(s) in training: ranking needs at least 2 (collaborative filtering learns from other users)"
        if sizes.users_evaluated == 0:
            return [], f"no user has {rc.min_user_items} or more products (recommend.min_user_items): nothing to hold out"
        train, test = split.where(~is_test).select(USER, ITEM, RATING), split.where(is_test).select(USER, ITEM)
        model = fit_als(train, rc)
        rows = []
        for name, candidates in (("als", als_candidates(model)), ("popularity", popularity_candidates(train))):
            # Read twice: by the metrics and by the coverage.
            recs = top_k_unseen(candidates, test.select(USER), seen=train, k=rc.k).cache()
            try:
                metrics = ranking_metrics(recs, test, rc.k) | {"coverage": coverage(recs, train)}
            finally:
                recs.unpersist()
            rows.append({"run_date": run_date, "model_version": version, "model": name, "k": rc.k, **metrics, **sizes.asDict()})
        return rows, None
    finally:
        split.unpersist()


def recommend(spark: SparkSession, config: Config, run_date: dt.date) -> RecommendResult:
    """Evaluate, train, recommend and record the ALS model of ``run_date`` (see the module doc).

    Example:
        >>> recommend(spark, config, dt.date(2019, 10, 28)).evaluation[0]["ndcg_at_k"]  # doctest: +SKIP
        0.21
    """
    t0, rc = time.perf_counter(), config.recommend
    require_checkpoint_dir(spark)
    version = registry.model_version(run_date, rc)
    interactions = read_interactions(spark, config, run_date)
    maps = index_ids(interactions)
    # The id maps are a sort + zipWithIndex job each time they are computed; the ratings, the output and the artifact read them.
    maps = IdMaps(maps.users.persist(StorageLevel.MEMORY_AND_DISK), maps.items.persist(StorageLevel.MEMORY_AND_DISK))
    ratings = with_indexes(interactions, maps).select(USER, ITEM, F.col("strength").alias(RATING), "first_interaction_time")
    # A deterministic input read by the evaluation, the final fit and the seen filter: cached once, so every pass sees the same rows
    # and Delta is read once.
    ratings = ratings.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        n_rows = ratings.count()
        if n_rows == 0:
            raise InputMissingError(
                f"{lake.INTERACTIONS.qualified_name(config.lake)} has no rows as of {run_date}; run `ecomlake featurize --date {run_date}` first"
            )
        evaluation, skipped = evaluate(ratings, rc, run_date, version)
        if skipped:
            log.warning("recommend %s: evaluation skipped: %s", run_date, skipped)
        model = fit_als(ratings.select(USER, ITEM, RATING), rc)
        path = registry.artifact_path(config, MODEL, version)
        save_model(model, maps, path)
        rows = {
            "gold.recommendations": write_recommendations(model, maps, ratings, rc, config, run_date, version),
            "gold.similar_items": write_similar_items(model, maps, rc, config, run_date, version),
        }
        metrics_df = spark.createDataFrame(evaluation, schemas.ALS_METRICS.struct())  # no rows when skipped: replaces a stale evaluation
        lake.write_table(
            metrics_df,
            config.lake,
            lake.ALS_METRICS,
            schema=schemas.ALS_METRICS,
            replace_where=f"run_date = '{run_date}' AND model_version = '{version}'",
        )
        rows["ml.als_metrics"] = len(evaluation)
        als_metrics = {k: v for k, v in evaluation[0].items() if k.endswith("_at_k") or k == "coverage"} if evaluation else {}
        params = dataclasses.asdict(rc)
        registry.record_run(spark, config, MODEL, version, run_date, new_run_id(), n_rows, params, als_metrics)
        return RecommendResult(run_date, version, False, evaluation, skipped, n_rows, rows, 0, time.perf_counter() - t0)
    finally:
        ratings.unpersist()
        maps.users.unpersist()
        maps.items.unpersist()


def score_only(spark: SparkSession, config: Config, run_date: dt.date) -> RecommendResult:
    """Recommendations for ``run_date`` from the newest saved model trained on or before it (no training)."""
    t0, rc = time.perf_counter(), config.recommend
    run = registry.latest_run(spark, config, MODEL, run_date)
    model, maps = load_model(spark, run.artifact_path)
    interactions = read_interactions(spark, config, run_date)
    # Users and seen products of the date, read by the unknown-user count, the candidates and the seen filter: read Delta once.
    interactions = interactions.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        n_rows = interactions.count()
        if n_rows == 0:
            raise InputMissingError(
                f"{lake.INTERACTIONS.qualified_name(config.lake)} has no rows as of {run_date}; run `ecomlake featurize --date {run_date}` first"
            )
        unknown = interactions.select("user_id").distinct().join(maps.users, on="user_id", how="left_anti").count()
        ratings = with_indexes(interactions, maps).select(USER, ITEM)  # products the model does not know cannot be recommended anyway
        written = write_recommendations(model, maps, ratings, rc, config, run_date, run.version)
        return RecommendResult(
            run_date, run.version, True, [], "score-only", n_rows, {"gold.recommendations": written}, unknown, time.perf_counter() - t0
        )
    finally:
        interactions.unpersist()


def write_recommendations(
    model: ALSModel, maps: IdMaps, ratings: DataFrame, rc: RecommendConfig, config: Config, run_date: dt.date, version: str
) -> int:
    """gold.recommendations for ``run_date``: top_n unseen (or any, without exclude_seen) per user of ``ratings``; rows written."""
    top = top_k_unseen(als_candidates(model), ratings.select(USER), ratings if rc.exclude_seen else None, rc.top_n)
    out = with_ids(top, maps).select(
        "user_id", "rank", "product_id", F.col(SCORE).alias("score"), F.lit(version).alias("model_version"), F.lit(run_date).alias("run_date")
    )
    lake.write_table(out, config.lake, lake.RECOMMENDATIONS, schema=schemas.RECOMMENDATIONS, replace_where=f"run_date = '{run_date}'")
    return lake.last_commit_rows(out.sparkSession, config.lake, lake.RECOMMENDATIONS)


def write_similar_items(model: ALSModel, maps: IdMaps, rc: RecommendConfig, config: Config, run_date: dt.date, version: str) -> int:
    """gold.similar_items for ``run_date``: ``similar_items`` per product by cosine of the item factors; rows written."""
    similar = similar_items(model, rc.similar_items)
    other = maps.items.select(F.col(ITEM).alias("similar_item"), F.col("product_id").alias("similar_product_id"))
    out = (
        similar.join(maps.items, on=ITEM, how="inner")
        .join(other, on="similar_item", how="inner")
        .select("product_id", "rank", "similar_product_id", "similarity", F.lit(version).alias("model_version"), F.lit(run_date).alias("run_date"))
    )
    lake.write_table(out, config.lake, lake.SIMILAR_ITEMS, schema=schemas.SIMILAR_ITEMS, replace_where=f"run_date = '{run_date}'")
    return lake.last_commit_rows(out.sparkSession, config.lake, lake.SIMILAR_ITEMS)


def save_model(model: ALSModel, maps: IdMaps, path: str) -> None:
    """The model (MLlib format) and its id maps (Parquet) under ``path``: model/, users/, items/."""
    model.write().overwrite().save(f"{path}/model")
    maps.users.write.mode("overwrite").parquet(f"{path}/users")
    maps.items.write.mode("overwrite").parquet(f"{path}/items")


def load_model(spark: SparkSession, path: str) -> tuple[ALSModel, IdMaps]:
    """What :func:`save_model` saved."""
    return ALSModel.load(f"{path}/model"), IdMaps(spark.read.parquet(f"{path}/users"), spark.read.parquet(f"{path}/items"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--date", type=iso_date, required=True, help="train on gold.interactions as of this day (YYYY-MM-DD) and recommend for it")
    parser.add_argument("--score-only", action="store_true", help="no training: recommend with the newest model trained on or before --date")


def run(spark: SparkSession | None, config: Config, args: argparse.Namespace) -> RecommendResult:
    assert spark is not None
    r = score_only(spark, config, args.date) if args.score_only else recommend(spark, config, args.date)
    mode = "score-only" if r.score_only else "trained"
    print(f"recommend {r.run_date}: model {MODEL} {r.model_version} ({mode}), {r.interactions:,} user-product interactions, {r.seconds:.1f} s")
    if r.score_only:
        print(f"  {r.unknown_users:,} user(s) of {r.run_date} unknown to the model: no recommendations for them")
    elif r.evaluation:
        first = r.evaluation[0]
        print(
            f"  evaluation (chronological split): {first['users_evaluated']:,} users, train {first['train_rows']:,} rows, "
            f"test {first['test_rows']:,} rows, {first['train_items']:,} products"
        )
        k = first["k"]
        print(f"  {'model':<11} {f'prec@{k}':>8} {f'recall@{k}':>9} {f'NDCG@{k}':>8} {f'MAP@{k}':>8} {'coverage':>8}")
        for row in r.evaluation:
            print(
                f"  {row['model']:<11} {row['precision_at_k']:>8.4f} {row['recall_at_k']:>9.4f} {row['ndcg_at_k']:>8.4f} "
                f"{row['map_at_k']:>8.4f} {row['coverage']:>8.1%}"
            )
    else:
        print(f"  evaluation skipped: {r.evaluation_skipped}")
    for table, n in r.rows.items():
        print(f"  {table:<22} {n:>12,} rows written")
    return r


recommend_job = Job(
    "recommend", "Train ALS on gold.interactions, evaluate it against popularity, write recommendations and similar products", add_arguments, run
)


def add_movielens_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--path", default="../shared/data/movielens-100k", help="folder holding MovieLens 100K u.data (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=explicit.SPLIT_SEED, help="random split seed (default: MS's %(default)s)")


def run_movielens(spark: SparkSession | None, config: Config, args: argparse.Namespace) -> explicit.MovieLensResult:
    assert spark is not None
    r = explicit.movielens_quickstart(spark, args.path, split_seed=args.seed)
    print(
        f"ALS on MovieLens 100K, Microsoft Recommenders quick-start protocol (split seed {args.seed}): "
        f"{r.train_rows:,} train / {r.test_rows:,} test ratings, {r.seconds:.1f} s"
    )
    print(f"  {'metric':<16} {'ours':>8} {'published':>9} {'diff':>7}")
    for name, published in explicit.PUBLISHED.items():
        band = f"  (must be within {explicit.BAND:.0%})" if name in explicit.BANDED else ""
        print(f"  {name:<16} {r.metrics[name]:>8.4f} {published:>9.4f} {r.relative_difference(name):>+7.1%}{band}")
    print(f"  {'map_at_k':<16} {r.metrics['map_at_k']:>8.4f} {'':>9}          (MAP@10: divided by min(test items, 10))")
    return r


movielens_job = Job(
    "als-movielens",
    "Check explicit ALS on MovieLens 100K against the published Microsoft Recommenders figures",
    add_movielens_arguments,
    run_movielens,
)

JOBS = (recommend_job, movielens_job)
