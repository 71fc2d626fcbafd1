"""Implicit-feedback ALS: int32 ids, the fit, and the exact top k among a user's unseen products.

MLlib's ALS takes int32 user and item ids only, so the long ids of gold.interactions are indexed
(:func:`ecomlake.ml.ids.id_index`: sorted order, the same ids always the same indexes) and mapped
back on output. ``strength`` is the implicit rating: ALS fits preference 1 where strength > 0 with
confidence ``1 + alpha * strength`` (Hu, Koren & Volinsky 2008).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import reduce

from pyspark.ml.recommendation import ALS, ALSModel
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from ecomlake.config import RecommendConfig
from ecomlake.errors import ConfigError
from ecomlake.ml.ids import id_index

# What ALS sees: int32 ids and a rating; what it predicts: a score.
USER, ITEM, RATING, SCORE = "user", "item", "rating", "score"

# candidates(users, n): the n best (user, item, score) of each user in ``users`` (one column, USER).
Candidates = Callable[[DataFrame, int], DataFrame]


def check_checkpoint_dir(checkpoint_dir: str | None) -> str:
    """The checkpoint dir, or ConfigError: without one ALS silently ignores checkpointInterval and a
    long fit dies with StackOverflowError on its lineage."""
    if not checkpoint_dir:
        raise ConfigError(
            "spark.checkpoint_dir: ALS needs a Spark checkpoint directory (its lineage overflows the stack otherwise); "
            "start the session with ecomlake.session.start_session, which sets spark.checkpoint_dir (default <lake.root>/_checkpoints)"
        )
    return checkpoint_dir


def require_checkpoint_dir(spark: SparkSession) -> str:
    """The live session's checkpoint dir (``SparkContext.getCheckpointDir``), or ConfigError."""
    return check_checkpoint_dir(spark.sparkContext.getCheckpointDir())


@dataclass(frozen=True)
class IdMaps:
    """The id indexes of a model: users (user_id, user) and items (product_id, item)."""

    users: DataFrame
    items: DataFrame


def index_ids(interactions: DataFrame) -> IdMaps:
    """int32 indexes of the user and product ids of ``interactions`` (sorted order, deterministic)."""
    return IdMaps(id_index(interactions, "user_id", USER), id_index(interactions, "product_id", ITEM))


def with_indexes(df: DataFrame, maps: IdMaps) -> DataFrame:
    """``df`` (user_id, product_id, ...) with USER and ITEM added; rows with unknown ids are dropped."""
    return df.join(maps.users, on="user_id", how="inner").join(maps.items, on="product_id", how="inner")


def with_ids(df: DataFrame, maps: IdMaps) -> DataFrame:
    """``df`` (user, item, ...) with user_id and product_id added (the inverse of :func:`with_indexes`)."""
    return df.join(maps.users, on=USER, how="inner").join(maps.items, on=ITEM, how="inner")


def als_estimator(config: RecommendConfig) -> ALS:
    """The implicit ALS of ``config`` (rank, iterations, regularisation, alpha, blocks, seed)."""
    return ALS(
        rank=config.rank,
        maxIter=config.max_iter,
        regParam=config.reg_param,
        alpha=config.alpha,
        implicitPrefs=True,
        numUserBlocks=config.blocks,
        numItemBlocks=config.blocks,
        checkpointInterval=config.checkpoint_interval,
        coldStartStrategy="drop",  # transform() on unknown users or items yields no row rather than NaN (NaN would poison metrics)
        seed=config.seed,
        userCol=USER,
        itemCol=ITEM,
        ratingCol=RATING,
    )


def fit_als(ratings: DataFrame, config: RecommendConfig) -> ALSModel:
    """Fit implicit ALS on ``ratings`` (USER, ITEM, RATING); ConfigError without a checkpoint dir.

    Example:
        >>> ratings = spark.createDataFrame([(0, 0, 1.0), (0, 1, 3.0), (1, 1, 1.0)], "user int, item int, rating double")  # doctest: +SKIP
        >>> fit_als(ratings, RecommendConfig())  # doctest: +SKIP
        ALSModel: uid=ALS_..., rank=32
    """
    require_checkpoint_dir(ratings.sparkSession)
    return als_estimator(config).fit(ratings)


def als_candidates(model: ALSModel) -> Candidates:
    """Each user's n best items by the model's score (``recommendForUserSubset``: blocked, no cross join)."""

    def candidates(users: DataFrame, n: int) -> DataFrame:
        recs = model.recommendForUserSubset(users, n)
        return recs.select(USER, F.inline("recommendations")).select(USER, ITEM, F.col("rating").cast("double").alias(SCORE))

    return candidates


def popularity_candidates(train: DataFrame) -> Candidates:
    """The popularity baseline: items ranked by distinct users in ``train`` (ties by item), the same for everyone."""
    popular = train.groupBy(ITEM).agg(F.countDistinct(USER).cast("double").alias(SCORE))

    def candidates(users: DataFrame, n: int) -> DataFrame:
        return users.crossJoin(F.broadcast(popular.orderBy(F.col(SCORE).desc(), ITEM).limit(n)))

    return candidates


def top_k_unseen(candidates: Candidates, users: DataFrame, seen: DataFrame | None, k: int) -> DataFrame:
    """The exact top ``k`` (USER, rank, ITEM, SCORE) of each user among items not in ``seen`` (USER, ITEM).

    A user who has seen s items gets k + s' candidates, s' the power of two at or above s, before the
    seen ones are dropped: at least k unseen remain (or every unseen item). Users are grouped by s', so
    a heavy user costs more candidates without every user paying for it; there are about log2(items)
    groups. Ranks are by score, ties by item. ``seen`` None: nothing is excluded.
    Collects the distinct group sizes (a few numbers) to plan the candidate queries.

    Example:
        >>> top_k_unseen(als_candidates(model), users, seen=train.select(USER, ITEM), k=10)  # doctest: +SKIP
    """
    users = users.select(USER).distinct()
    if seen is None:
        ranked = candidates(users, k)
    else:
        seen = seen.select(USER, ITEM)
        seen_counts = seen.groupBy(USER).agg(F.count("*").alias("n_seen"))
        extra = F.when(F.col("n_seen") > 0, F.pow(F.lit(2), F.ceil(F.log2("n_seen")))).otherwise(F.lit(0)).cast("int")
        grouped = users.join(seen_counts, on=USER, how="left").select(USER, extra.alias("extra"))
        extras = sorted(r[0] for r in grouped.select("extra").distinct().collect()) or [0]
        ranked = reduce(DataFrame.unionByName, [candidates(grouped.where(F.col("extra") == e).select(USER), k + e) for e in extras]).join(
            seen, on=[USER, ITEM], how="left_anti"
        )
    rank = F.row_number().over(Window.partitionBy(USER).orderBy(F.col(SCORE).desc(), F.col(ITEM)))
    return ranked.withColumn("rank", rank).where(F.col("rank") <= k).select(USER, "rank", ITEM, SCORE)


def recommendations(model: ALSModel, maps: IdMaps, ratings: DataFrame, top_n: int, exclude_seen: bool, version: str, run_date: dt.date) -> DataFrame:
    """gold.recommendations rows: the top ``top_n`` products of each user of ``ratings`` (USER, ITEM), unseen ones only with ``exclude_seen``."""
    top = top_k_unseen(als_candidates(model), ratings.select(USER), ratings if exclude_seen else None, top_n)
    return with_ids(top, maps).select(
        "user_id", "rank", "product_id", F.col(SCORE).alias("score"), F.lit(version).alias("model_version"), F.lit(run_date).alias("run_date")
    )
