"""``ecomlake recommend``: implicit ALS on gold.interactions, evaluated against popularity.

``recommend --date D`` reads gold.interactions as of D and

1. evaluates: an ALS fitted on the per-user chronological split and the popularity baseline on the
   same split, top k among unseen products (:mod:`ecomlake.recommend.evaluate`), into ml.als_metrics;
2. fits the final ALS on all interactions as of D and writes gold.recommendations (top_n per user)
   and gold.similar_items (cosine of the item factors) with ``run_date = D``, each slice replaced in
   one commit;
3. saves the model and its id maps (:mod:`ecomlake.recommend.persistence`) and records the run
   ("als") in ml.model_runs with the ALS evaluation metrics.

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
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ecomlake import lake
from ecomlake.catalog import ALS_METRICS, INTERACTIONS, RECOMMENDATIONS, SIMILAR_ITEMS
from ecomlake.job import Context, SparkJob, iso_date
from ecomlake.ml import registry
from ecomlake.recommend.als import ITEM, RATING, USER, IdMaps, fit_als, index_ids, recommendations, require_checkpoint_dir, with_indexes
from ecomlake.recommend.evaluate import evaluate
from ecomlake.recommend.persistence import load_model, save_model
from ecomlake.recommend.similar import similar_products

log = logging.getLogger(__name__)

MODEL = "als"


@dataclass(frozen=True)
class RecommendParams:
    date: dt.date  # train on gold.interactions as of this day and recommend for it
    score_only: bool = False  # recommend with the newest saved model; no training


@dataclass(frozen=True)
class RecommendResult:
    """What one recommend run did: the model, the evaluation (one row per model, or why it was skipped) and rows written."""

    run_date: dt.date
    model_version: str
    score_only: bool
    evaluation: list[dict[str, Any]]  # ml.als_metrics records: als, popularity
    evaluation_skipped: str | None  # the reason, when there is no evaluation
    interactions: int  # user-product rows as of the date
    rows: dict[str, int]  # rows written per table
    unknown_users: int  # score-only: users of the date the model never saw (no recommendations)

    @property
    def rows_in(self) -> int:
        return self.interactions

    @property
    def rows_out(self) -> int:
        return sum(self.rows.values())

    def als_metrics(self) -> dict[str, float]:
        """The ALS row's ranking metrics and coverage (empty without an evaluation)."""
        als = next((r for r in self.evaluation if r["model"] == "als"), {})
        return {k: v for k, v in als.items() if k.endswith("_at_k") or k == "coverage"}

    def figures(self) -> Mapping[str, float]:
        return self.als_metrics() | {"unknown_users": self.unknown_users}

    def summary(self) -> str:
        mode = "score-only" if self.score_only else "trained"
        lines = [f"recommend {self.run_date}: model {MODEL} {self.model_version} ({mode}), {self.interactions:,} user-product interactions"]
        if self.score_only:
            lines.append(f"  {self.unknown_users:,} user(s) of {self.run_date} unknown to the model: no recommendations for them")
        elif self.evaluation:
            first, k = self.evaluation[0], self.evaluation[0]["k"]
            lines.append(
                f"  evaluation (chronological split): {first['users_evaluated']:,} users, train {first['train_rows']:,} rows, "
                f"test {first['test_rows']:,} rows, {first['train_items']:,} products"
            )
            lines.append(f"  {'model':<11} {f'prec@{k}':>8} {f'recall@{k}':>9} {f'NDCG@{k}':>8} {f'MAP@{k}':>8} {'coverage':>8}")
            lines += [
                f"  {row['model']:<11} {row['precision_at_k']:>8.4f} {row['recall_at_k']:>9.4f} {row['ndcg_at_k']:>8.4f} "
                f"{row['map_at_k']:>8.4f} {row['coverage']:>8.1%}"
                for row in self.evaluation
            ]
        else:
            lines.append(f"  evaluation skipped: {self.evaluation_skipped}")
        lines += [f"  {table:<22} {n:>12,} rows written" for table, n in self.rows.items()]
        return "\n".join(lines)


def run(ctx: Context, params: RecommendParams) -> RecommendResult:
    """Evaluate, train, recommend and record the ALS model of the date, or with ``score_only`` recommend with the saved one.

    Example:
        >>> run(ctx, RecommendParams(dt.date(2019, 10, 28))).evaluation[0]["ndcg_at_k"]  # doctest: +SKIP
        0.21
    """
    interactions = lake.read(ctx.spark, ctx.config, INTERACTIONS, {"as_of_date": params.date}).select(
        "user_id", "product_id", "strength", "first_interaction_time"
    )
    return _score_only(ctx, params.date, interactions) if params.score_only else _train(ctx, params.date, interactions)


def _train(ctx: Context, run_date: dt.date, interactions: DataFrame) -> RecommendResult:
    spark, config, rc = ctx.spark, ctx.config, ctx.config.recommend
    require_checkpoint_dir(spark)
    version = registry.model_version(run_date, rc)
    maps = index_ids(interactions)
    # The id maps are a sort + zipWithIndex job each time they are computed; the ratings, the output and the artifact read them.
    maps = IdMaps(maps.users.persist(StorageLevel.MEMORY_AND_DISK), maps.items.persist(StorageLevel.MEMORY_AND_DISK))
    # A deterministic input read by the evaluation, the final fit and the seen filter: cached once, so every pass sees the same rows
    # and Delta is read once.
    ratings = with_indexes(interactions, maps).select(USER, ITEM, F.col("strength").alias(RATING), "first_interaction_time")
    ratings = ratings.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        n_rows = ratings.count()
        evaluation, skipped = evaluate(ratings, rc, run_date, version)
        if skipped:
            log.warning("recommend %s: evaluation skipped: %s", run_date, skipped)
        model = fit_als(ratings.select(USER, ITEM, RATING), rc)
        save_model(model, maps, registry.artifact_path(config, MODEL, version))
        slice_ = {"run_date": run_date}
        rows = {
            RECOMMENDATIONS.key: lake.write(
                recommendations(model, maps, ratings, rc.top_n, rc.exclude_seen, version, run_date), config, RECOMMENDATIONS, slice_
            ),
            SIMILAR_ITEMS.key: lake.write(similar_products(model, maps, rc.similar_items, version, run_date), config, SIMILAR_ITEMS, slice_),
            # No records when skipped: that replaces a stale evaluation of the same version.
            ALS_METRICS.key: lake.append(spark, config, ALS_METRICS, evaluation, {"run_date": run_date, "model_version": version}),
        }
        result = RecommendResult(run_date, version, False, evaluation, skipped, n_rows, rows, 0)
        registry.record_run(spark, config, MODEL, version, run_date, ctx.run_id, n_rows, dataclasses.asdict(rc), result.als_metrics())
        return result
    finally:
        ratings.unpersist()
        maps.users.unpersist()
        maps.items.unpersist()


def _score_only(ctx: Context, run_date: dt.date, interactions: DataFrame) -> RecommendResult:
    """Recommendations for the date from the newest saved model trained on or before it (no training)."""
    saved = registry.latest_run(ctx.spark, ctx.config, MODEL, run_date, trained_by="recommend")
    model, maps = load_model(ctx.spark, saved.artifact_path)
    # Users and seen products of the date, read by the unknown-user count, the candidates and the seen filter: read Delta once.
    interactions = interactions.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        n_rows = interactions.count()
        unknown = interactions.select("user_id").distinct().join(maps.users, on="user_id", how="left_anti").count()
        ratings = with_indexes(interactions, maps).select(USER, ITEM)  # products the model does not know cannot be recommended anyway
        rc = ctx.config.recommend
        out = recommendations(model, maps, ratings, rc.top_n, rc.exclude_seen, saved.version, run_date)
        written = lake.write(out, ctx.config, RECOMMENDATIONS, {"run_date": run_date})
        return RecommendResult(run_date, saved.version, True, [], "score-only", n_rows, {RECOMMENDATIONS.key: written}, unknown)
    finally:
        interactions.unpersist()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--date", type=iso_date, required=True, help="train on gold.interactions as of this day (YYYY-MM-DD) and recommend for it")
    parser.add_argument("--score-only", action="store_true", help="no training: recommend with the newest model trained on or before --date")


JOB = SparkJob(
    "recommend",
    "Train ALS on gold.interactions, evaluate it against popularity, write recommendations and similar products",
    RecommendParams,
    run,
    add_arguments,
)
