"""Offline evaluation: the per-user chronological split and ranking metrics at k.

The split trains on the past and tests on each user's later products: for every user with at least
``min_user_items`` products, the latest first-touched ``test_fraction`` of them (at least one; ties
by item) are held out; everything else, of every user, is training data. Recommendations are the
top k among the items the user has no training interaction with, so a held-out product can be hit.

Metrics are Spark's :class:`~pyspark.ml.evaluation.RankingEvaluator` (the ``RankingMetrics`` of
pyspark.mllib), averaged over the evaluated users, relevance binary (a held-out product):
precision@k = hits in the top k / k (k even when fewer are recommended); recall@k = hits / held-out;
NDCG@k = DCG (1/log2(rank+1) per hit) / the ideal DCG of min(held-out, k) hits;
MAP@k = sum of precision@i over hit ranks i <= k / min(held-out, k).
Coverage = distinct items recommended to the evaluated users / distinct items in training.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pyspark import StorageLevel
from pyspark.ml.evaluation import RankingEvaluator
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from ecomlake.config import RecommendConfig
from ecomlake.recommend.als import ITEM, RATING, USER, als_candidates, fit_als, popularity_candidates, top_k_unseen

# RankingEvaluator metric names -> ours.
RankingMetric = Literal["meanAveragePrecision", "meanAveragePrecisionAtK", "precisionAtK", "ndcgAtK", "recallAtK"]
METRICS: dict[RankingMetric, str] = {
    "precisionAtK": "precision_at_k",
    "recallAtK": "recall_at_k",
    "ndcgAtK": "ndcg_at_k",
    "meanAveragePrecisionAtK": "map_at_k",
}


def with_test_flag(interactions: DataFrame, test_fraction: float, min_user_items: int, time_column: str = "first_interaction_time") -> DataFrame:
    """``interactions`` (USER, ITEM, ``time_column``, ...) with ``is_test``: the held-out rows of the chronological split.

    Example:
        >>> with_test_flag(ratings, 0.2, 3).where("is_test").count()  # doctest: +SKIP
        2735
    """
    per_user = Window.partitionBy(USER)
    n_items = F.count(F.lit(1)).over(per_user)
    n_test = F.greatest(F.lit(1), F.floor(n_items * F.lit(test_fraction)))
    newest_first = F.row_number().over(per_user.orderBy(F.col(time_column).desc_nulls_last(), F.col(ITEM).desc()))
    return interactions.withColumn("is_test", (n_items >= F.lit(min_user_items)) & (newest_first <= n_test))


def ranking_metrics(recommendations: DataFrame, test: DataFrame, k: int) -> dict[str, float]:
    """precision@k, recall@k, NDCG@k and MAP@k of ``recommendations`` (USER, rank, ITEM) against ``test`` (USER, ITEM).

    Every user in ``test`` counts; one without recommendations scores 0. Runs a Spark job per metric.
    """
    truth = test.groupBy(USER).agg(F.collect_list(F.col(ITEM).cast("double")).alias("label"))
    ranked = recommendations.groupBy(USER).agg(F.sort_array(F.collect_list(F.struct("rank", F.col(ITEM).cast("double").alias("i")))).alias("recs"))
    predicted = F.coalesce(F.transform("recs", lambda r: r["i"]), F.array().cast("array<double>"))
    joined = truth.join(ranked, on=USER, how="left").select("label", predicted.alias("prediction"))
    # One row per evaluated user, read once per metric: compute the joins once.
    joined = joined.cache()
    try:
        return {ours: RankingEvaluator(metricName=name, k=k).evaluate(joined) for name, ours in METRICS.items()}
    finally:
        joined.unpersist()


def coverage(recommendations: DataFrame, train: DataFrame) -> float:
    """Distinct items in ``recommendations`` / distinct items in ``train`` (0 when training is empty)."""
    catalogue = train.select(ITEM).distinct().count()
    return recommendations.select(ITEM).distinct().count() / catalogue if catalogue else 0.0


def evaluate(ratings: DataFrame, rc: RecommendConfig, run_date: dt.date, version: str) -> tuple[list[dict[str, Any]], str | None]:
    """ALS and popularity on the chronological split of ``ratings``: ml.als_metrics records, or none and the reason."""
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
        ).collect()[0]  # an aggregate: one row
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
