"""Explicit-ratings ALS on MovieLens 100K with the Microsoft Recommenders quick-start protocol.

The point is a check of the suite against published figures (Microsoft Recommenders' quick start), so the
protocol is MS's ``als_movielens`` notebook step for step:

- ratings ``u.data`` (user, item, rating, unix time; tab-separated);
- ``spark_random_split(data, ratio=0.75, seed=123)``, which is ``randomSplit([0.75, 0.25], 123)``;
- ``ALS(rank=10, maxIter=15, regParam=0.05, implicitPrefs=False, coldStartStrategy='drop',
  nonnegative=False, seed=42)`` on the training ratings;
- the top 10 of each training user over every training item not rated by the user in training (MS
  scores the users x items cross join and drops the training pairs; :func:`top_k_unseen` gives the
  same lists without the cross join), evaluated against all the user's test items, users in both;
- ``RankingMetrics`` precision@10, recall@10, NDCG@10 and MAP, and the RMSE of the test predictions.

MS's MAP is RankingMetrics' ``meanAveragePrecision`` over the top-10 lists (divided by all the user's
test items); MAP@10 divides by min(test items, 10). Both are reported.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from pyspark.ml.evaluation import RankingEvaluator, RegressionEvaluator
from pyspark.ml.recommendation import ALS
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ecomlake.errors import InputMissingError
from ecomlake.recommend.als import ITEM, RATING, USER, als_candidates, require_checkpoint_dir, top_k_unseen
from ecomlake.recommend.evaluate import ranking_metrics

# Microsoft Recommenders, examples/00_quick_start/als_movielens.ipynb, on MovieLens 100K.
PUBLISHED = {"precision_at_k": 0.0513, "recall_at_k": 0.0188, "ndcg_at_k": 0.0517, "map": 0.0065, "rmse": 0.967}
BANDED = ("precision_at_k", "ndcg_at_k", "rmse")  # must land within BAND of the published figure
BAND = 0.10
K = 10
SPLIT_RATIO, SPLIT_SEED, ALS_SEED = 0.75, 123, 42


@dataclass(frozen=True)
class MovieLensResult:
    """Our figures by name (those of PUBLISHED plus map_at_k), the split sizes and the time taken."""

    metrics: dict[str, float]
    train_rows: int
    test_rows: int
    seconds: float

    def relative_difference(self, name: str) -> float:
        """(ours - published) / published."""
        return (self.metrics[name] - PUBLISHED[name]) / PUBLISHED[name]


def read_ratings(spark: SparkSession, folder: str | Path) -> DataFrame:
    """``u.data`` as (USER int, ITEM int, RATING float, timestamp long); InputMissingError when absent."""
    path = Path(folder) / "u.data"
    if not path.is_file():
        raise InputMissingError(f"MovieLens 100K ratings not found: {path} (pass the folder holding u.data with --path)")
    schema = f"{USER} int, {ITEM} int, {RATING} float, timestamp long"
    return spark.read.csv(str(path), schema=schema, sep="\t")


def random_split(ratings: DataFrame, ratio: float = SPLIT_RATIO, seed: int = SPLIT_SEED) -> tuple[DataFrame, DataFrame]:
    """MS's ``spark_random_split``: ``randomSplit([ratio, 1 - ratio], seed)``.

    randomSplit sorts and samples each partition, so the split depends on the partitioning: one
    partition (the 2 MB file) makes it the same on any number of cores.
    """
    train, test = ratings.coalesce(1).randomSplit([ratio, 1 - ratio], seed=seed)
    return train, test


def movielens_quickstart(spark: SparkSession, folder: str | Path, split_seed: int = SPLIT_SEED, als_seed: int = ALS_SEED) -> MovieLensResult:
    """Run the MS quick-start protocol on MovieLens 100K in ``folder``; our figures next to PUBLISHED.

    Example:
        >>> movielens_quickstart(spark, ecomlake.datasets.movielens_100k()).metrics["precision_at_k"]  # doctest: +SKIP
        0.0509
    """
    t0 = time.perf_counter()
    require_checkpoint_dir(spark)
    train, test = random_split(read_ratings(spark, folder), seed=split_seed)
    # Both halves are read by the fit, the seen filter, the metrics and the RMSE: sample once.
    train, test = train.cache(), test.cache()
    try:
        als = ALS(
            rank=10, maxIter=15, regParam=0.05, implicitPrefs=False, coldStartStrategy="drop", nonnegative=False, seed=als_seed,
            userCol=USER, itemCol=ITEM, ratingCol=RATING,
        )  # fmt: skip
        model = als.fit(train)
        top = top_k_unseen(als_candidates(model), train.select(USER), seen=train, k=K)
        test_users = test.join(train.select(USER).distinct(), on=USER, how="left_semi")  # MS joins predictions and truth: users in both
        metrics = ranking_metrics(top, test_users, K)
        truth = test_users.groupBy(USER).agg(F.collect_list(F.col(ITEM).cast("double")).alias("label"))
        lists = top.groupBy(USER).agg(F.sort_array(F.collect_list(F.struct("rank", F.col(ITEM).cast("double").alias("i")))).alias("recs"))
        pairs = truth.join(lists, on=USER, how="inner").select("label", F.transform("recs", lambda r: r["i"]).alias("prediction"))
        metrics["map"] = RankingEvaluator(metricName="meanAveragePrecision").evaluate(pairs)
        predictions = model.transform(test)
        metrics["rmse"] = RegressionEvaluator(metricName="rmse", labelCol=RATING, predictionCol="prediction").evaluate(predictions)
        return MovieLensResult(
            metrics={"precision_at_k": metrics["precision_at_k"], "recall_at_k": metrics["recall_at_k"], "ndcg_at_k": metrics["ndcg_at_k"],
                     "map": metrics["map"], "map_at_k": metrics["map_at_k"], "rmse": metrics["rmse"]},
            train_rows=train.count(),
            test_rows=test.count(),
            seconds=time.perf_counter() - t0,
        )  # fmt: skip
    finally:
        train.unpersist()
        test.unpersist()
