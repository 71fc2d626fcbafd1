"""KMeans on the standardised profile features, with k fixed or chosen by silhouette.

``profile.k`` fixes k; otherwise every k in ``k_min..k_max`` is fitted (same seed, same cached input)
and the one with the highest silhouette wins (ties: the smaller k). The silhouette (squared
euclidean, MLlib's ClusteringEvaluator) is computed on a deterministic sample of at most
``silhouette_sample`` users: those with the smallest ``xxhash64(user_id, seed)``. Every k's silhouette
is kept. The fitted model is one PipelineModel: the feature stages of :mod:`ecomlake.profile.features`
followed by the KMeans model, so scoring needs nothing else.

Small inputs, documented behaviour:

* k never exceeds the number of distinct feature vectors: with fewer users than ``k_min`` (or fewer
  distinct ones), the range is capped, e.g. 2 distinct users give k = 2 whatever ``k_min`` says.
* Fewer than 2 distinct feature vectors (a single user, or every user with the same features, e.g.
  all zero: the scaler then gives all zeros) cannot be segmented: MLlib's KMeans needs k >= 2.
  :class:`~ecomlake.errors.DataQualityError` (exit 4) says so, and nothing is written.
* MLlib may return fewer clusters than k when the data has few distinct points; the model's own
  cluster count is reported as k. With fewer than 2 clusters in the sample, the silhouette is None.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pyspark import StorageLevel
from pyspark.ml import PipelineModel
from pyspark.ml.clustering import KMeans, KMeansModel
from pyspark.ml.evaluation import ClusteringEvaluator
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ecomlake.config import ProfileConfig
from ecomlake.errors import DataQualityError
from ecomlake.profile.features import FEATURES_COL, feature_pipeline

log = logging.getLogger(__name__)

SEGMENT_COL = "segment_id"


@dataclass(frozen=True)
class KMeansFit:
    """The chosen model and what choosing it measured."""

    model: PipelineModel  # feature stages + KMeans
    k: int  # clusters of the chosen model
    silhouette: float | None  # of the chosen model, on the sample
    silhouettes: dict[int, float | None]  # every k tried -> its silhouette (None: fewer than 2 clusters)
    users: int  # users fitted on
    sample_users: int  # users the silhouettes were computed on


def k_candidates(config: ProfileConfig, distinct_vectors: int) -> list[int]:
    """The k values to try: ``config.k`` or ``k_min..k_max``, each capped at the distinct feature vectors.

    Example:
        >>> k_candidates(ProfileConfig(k_min=3, k_max=8), 4)
        [3, 4]
    """
    wanted = [config.k] if config.k is not None else range(config.k_min, config.k_max + 1)
    return sorted({min(k, distinct_vectors) for k in wanted})


def fit_kmeans(users: DataFrame, config: ProfileConfig, source: str) -> KMeansFit:
    """Fit the feature pipeline and KMeans on ``users`` (``user_id`` + the features, NULLs filled).

    ``source`` names the input in error messages (``gold.user_features as of 2019-10-28``). Raises
    DataQualityError when the users have fewer than 2 distinct feature vectors.
    """
    features = [c for c in users.columns if c != "user_id"]
    largest_k = config.k if config.k is not None else config.k_max
    distinct = users.select(*features).distinct().limit(largest_k + 1).count()
    if distinct < 2:
        raise DataQualityError(
            f"{source}: {users.count()} user(s) with {distinct} distinct value(s) of {features}; KMeans needs at least 2 distinct users "
            "to form segments (a single user, or the same features for everyone); nothing was written"
        )
    # KMeans' k-means|| initialisation depends on the partitions and the row order: hash-partition (a sort's range
    # boundaries come from a random sample and move between runs) and sort within, so a re-run gives the same model.
    partitions = int(users.sparkSession.conf.get("spark.sql.shuffle.partitions") or 1)
    ordered = users.repartition(partitions, "user_id").sortWithinPartitions("user_id")
    prep = feature_pipeline(features, config.log_features).fit(ordered)
    # Every k's fit iterates over the scaled users many times: scale them once.
    scaled = prep.transform(ordered).select("user_id", FEATURES_COL).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        n_users = scaled.count()
        # The silhouette of every k is measured on the same users: compute the sample once.
        sample = silhouette_sample(scaled, config.silhouette_sample, config.seed).persist(StorageLevel.MEMORY_AND_DISK)
        try:
            models: dict[int, KMeansModel] = {}
            silhouettes: dict[int, float | None] = {}
            for k in k_candidates(config, distinct):
                kmeans = KMeans(k=k, seed=config.seed, maxIter=config.max_iter, featuresCol=FEATURES_COL, predictionCol=SEGMENT_COL)
                models[k] = kmeans.fit(scaled)
                silhouettes[k] = silhouette(models[k].transform(sample))
                log.info("profile: k=%d -> %d clusters, silhouette %s", k, len(models[k].clusterCenters()), silhouettes[k])
            n_sample = sample.count()
        finally:
            sample.unpersist()
    finally:
        scaled.unpersist()
    best = choose_k(silhouettes)
    chosen = models[best]
    return KMeansFit(PipelineModel([*prep.stages, chosen]), len(chosen.clusterCenters()), silhouettes[best], silhouettes, n_users, n_sample)


def silhouette_sample(scaled: DataFrame, size: int, seed: int) -> DataFrame:
    """At most ``size`` users: those with the smallest ``xxhash64(user_id, seed)`` (the same users on every run)."""
    return scaled.orderBy(F.xxhash64("user_id", F.lit(seed)), "user_id").limit(size)


def silhouette(predictions: DataFrame) -> float | None:
    """Silhouette (squared euclidean) of the predictions; None with fewer than 2 clusters (undefined)."""
    if predictions.select(SEGMENT_COL).distinct().limit(2).count() < 2:
        return None
    evaluator = ClusteringEvaluator(featuresCol=FEATURES_COL, predictionCol=SEGMENT_COL, metricName="silhouette", distanceMeasure="squaredEuclidean")
    return evaluator.evaluate(predictions)


def choose_k(silhouettes: dict[int, float | None]) -> int:
    """The k with the highest silhouette (ties: the smaller k); the smallest k when none has one.

    Example:
        >>> choose_k({3: 0.41, 4: 0.47, 5: 0.47, 6: None})
        4
    """
    scored = [k for k, s in silhouettes.items() if s is not None]
    return max(scored, key=lambda k: (silhouettes[k], -k)) if scored else min(silhouettes)


def cluster_centers(model: PipelineModel) -> list[Any]:
    """The KMeans centres of a fitted profile pipeline (its last stage), in the standardised feature space."""
    kmeans = model.stages[-1]
    if not isinstance(kmeans, KMeansModel):
        raise TypeError(f"the profile pipeline's last stage is a {type(kmeans).__name__}, not a KMeansModel")
    return list(kmeans.clusterCenters())


def assign(model: PipelineModel, users: DataFrame) -> DataFrame:
    """``users`` (``user_id`` + filled features) with ``segment_id`` and ``distance`` to its centroid, in standard deviations.

    Example:
        >>> assign(fit.model, users).columns  # doctest: +SKIP
        ['user_id', 'segment_id', 'distance', 'recency_days', ...]
    """
    centers = cluster_centers(model)
    center_table = F.array(*[F.array(*[F.lit(float(x)) for x in c]) for c in centers])
    center = F.element_at(center_table, F.col(SEGMENT_COL) + 1)
    squared = F.zip_with(vector_to_array(F.col(FEATURES_COL)), center, lambda a, b: (a - b) * (a - b))
    distance = F.sqrt(F.aggregate(squared, F.lit(0.0), lambda acc, x: acc + x))
    return model.transform(users).select("user_id", SEGMENT_COL, distance.alias("distance"), *[c for c in users.columns if c != "user_id"])
