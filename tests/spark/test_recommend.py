"""ecomlake recommend: the split, exact unseen top k, ALS against popularity, the tables, re-runs, scoring, MovieLens, failures."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from pyspark.ml.recommendation import ALS
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from ecomlake import lake
from ecomlake.config import Config
from ecomlake.errors import ConfigError, InputMissingError
from ecomlake.featurize import schemas as gold_schemas
from ecomlake.ml import registry
from ecomlake.recommend import explicit, schemas
from ecomlake.recommend.als import (
    ITEM,
    RATING,
    USER,
    als_candidates,
    check_checkpoint_dir,
    popularity_candidates,
    require_checkpoint_dir,
    top_k_unseen,
)
from ecomlake.recommend.evaluate import with_test_flag
from ecomlake.recommend.job import RecommendResult, recommend, score_only
from ecomlake.recommend.similar import similar_items
from tests.conftest import SHARED_DATA, lake_config
from tests.spark.conftest import GOLD_LAST_DAY

T0 = dt.datetime(2019, 10, 1)


def interactions_frame(spark: SparkSession, rows: list[tuple[int, int, float, dt.datetime | None]], as_of: dt.date) -> DataFrame:
    """gold.interactions rows from (user_id, product_id, strength, first_interaction_time)."""
    full = [(u, p, as_of, 1, 0, 0, 0, t, t, s) for u, p, s, t in rows]
    return spark.createDataFrame(full, gold_schemas.INTERACTIONS.struct())


def write_interactions(df: DataFrame, cfg: Config, as_of: dt.date) -> None:
    lake.write_table(df, cfg.lake, lake.INTERACTIONS, schema=gold_schemas.INTERACTIONS, replace_where=f"as_of_date = '{as_of}'")


def test_split_holds_out_each_users_latest_first_touched_products(spark: SparkSession) -> None:
    hour = dt.timedelta(hours=1)
    rows = (
        [(1, i, T0 + i * hour) for i in range(5)]  # 5 products: floor(5 * 0.2) = 1 held out, the latest (4)
        + [(2, 10, T0), (2, 11, T0 + hour)]  # 2 products < min_user_items: never held out
        + [(3, i, T0 + min(i, 7) * hour) for i in range(10)]  # 10 products: 2 held out; 7, 8 and 9 tie, the highest ids go
        + [(4, 1, None), (4, 2, T0), (4, 3, T0 - hour)]  # an unknown time counts as oldest
    )  # fmt: skip
    df = spark.createDataFrame(rows, f"{USER} int, {ITEM} int, first_interaction_time timestamp")
    held_out = {(r[USER], r[ITEM]) for r in with_test_flag(df, 0.2, 3).where("is_test").collect()}
    assert held_out == {(1, 4), (3, 8), (3, 9), (4, 2)}


def test_top_k_unseen_is_exact_and_never_recommends_seen_items(spark: SparkSession) -> None:
    rng = np.random.default_rng(7)
    ratings = [(u, i, float(rng.integers(1, 5))) for u in range(8) for i in range(12) if rng.random() < 0.4]
    ratings += [(8, i, 1.0) for i in range(11)]  # a heavy user: one unseen item left
    df = spark.createDataFrame(ratings, f"{USER} int, {ITEM} int, {RATING} double")
    model = ALS(rank=4, maxIter=5, implicitPrefs=True, seed=1, userCol=USER, itemCol=ITEM, ratingCol=RATING, numUserBlocks=2, numItemBlocks=2).fit(df)
    k, seen = 4, {(u, i) for u, i, _ in ratings}
    users = {r.id: np.array(r.features) for r in model.userFactors.collect()}
    items = {r.id: np.array(r.features) for r in model.itemFactors.collect()}
    popularity = {i: len({u for u, j in seen if j == i}) for i in items}

    def brute_force(score: dict[tuple[int, int], float]) -> dict[int, list[int]]:
        best = {}
        for u in users:
            unseen = sorted((i for i in items if (u, i) not in seen), key=lambda i: (-score[u, i], i))
            best[u] = unseen[:k]
        return best

    def ours(candidates) -> dict[int, list[int]]:  # type: ignore[no-untyped-def]
        top = top_k_unseen(candidates, df.select(USER), seen=df, k=k).orderBy(USER, "rank").collect()
        assert all((r[USER], r[ITEM]) not in seen for r in top)
        return {u: [r[ITEM] for r in top if r[USER] == u] for u in users}

    als_scores = {(u, i): float(np.float32(users[u] @ items[i])) for u in users for i in items}
    got, expected = ours(als_candidates(model)), brute_force(als_scores)
    assert got == expected and got[8] == [11]
    assert ours(popularity_candidates(df)) == brute_force({(u, i): float(popularity[i]) for u in users for i in items})


def test_checkpoint_dir_is_required() -> None:
    with pytest.raises(ConfigError, match="spark.checkpoint_dir"):
        check_checkpoint_dir(None)
    with pytest.raises(ConfigError, match="spark.checkpoint_dir"):
        check_checkpoint_dir("")


def test_als_beats_popularity_on_generated_tastes(first_run: RecommendResult) -> None:
    als, popularity = first_run.evaluation
    for row in (als, popularity):
        print({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})
    assert (als["model"], popularity["model"]) == ("als", "popularity")
    assert als["users_evaluated"] > 1000 and als["test_rows"] > als["users_evaluated"]
    assert als["ndcg_at_k"] > 1.5 * popularity["ndcg_at_k"] and als["ndcg_at_k"] - popularity["ndcg_at_k"] > 0.05
    assert als["recall_at_k"] > popularity["recall_at_k"] and als["coverage"] > popularity["coverage"]


def test_tables_follow_their_schemas_and_hold_the_run(spark: SparkSession, rec_lake: Config, first_run: RecommendResult) -> None:
    rc, version = rec_lake.recommend, first_run.model_version
    recs = lake.read_table(spark, rec_lake.lake, lake.RECOMMENDATIONS)
    similar = lake.read_table(spark, rec_lake.lake, lake.SIMILAR_ITEMS)
    metrics = lake.read_table(spark, rec_lake.lake, lake.ALS_METRICS)
    for df, schema in ((recs, schemas.RECOMMENDATIONS), (similar, schemas.SIMILAR_ITEMS), (metrics, schemas.ALS_METRICS)):
        assert df.columns == schema.names
        assert [f.dataType for f in df.schema.fields] == [f.type for f in schema.fields]
    assert recs.select("model_version", "run_date").distinct().collect() == [(version, GOLD_LAST_DAY)]
    interactions = lake.read_table(spark, rec_lake.lake, lake.INTERACTIONS).where(F.col("as_of_date") == GOLD_LAST_DAY)
    assert recs.join(interactions, on=["user_id", "product_id"], how="left_semi").count() == 0  # nothing seen is recommended
    per_user = recs.groupBy("user_id").agg(F.count("*").alias("n"), F.max("rank").alias("top"))
    assert per_user.where((F.col("n") != rc.top_n) | (F.col("top") != rc.top_n)).count() == 0
    assert per_user.count() == interactions.select("user_id").distinct().count()
    assert similar.where(F.col("product_id") == F.col("similar_product_id")).count() == 0
    assert similar.where(F.col("similarity") > 1.0 + 1e-6).count() == 0
    assert sorted(r.model for r in metrics.collect()) == ["als", "popularity"]
    run = registry.latest_run(spark, rec_lake, "als", GOLD_LAST_DAY)
    assert run.version == version and run.metrics["ndcg_at_k"] == pytest.approx(first_run.evaluation[0]["ndcg_at_k"])


def test_rerun_gives_the_same_metrics_and_recommendations(spark: SparkSession, rec_lake: Config, first_run: RecommendResult) -> None:
    before = lake.read_table(spark, rec_lake.lake, lake.RECOMMENDATIONS).collect()
    again = recommend(spark, rec_lake, GOLD_LAST_DAY)
    assert again.model_version == first_run.model_version
    assert again.evaluation == first_run.evaluation
    assertDataFrameEqual(lake.read_table(spark, rec_lake.lake, lake.RECOMMENDATIONS), before)
    assert lake.read_table(spark, rec_lake.lake, lake.ALS_METRICS).count() == 2  # replaced, not appended


def test_score_only_reloads_the_model_for_a_later_day(spark: SparkSession, rec_lake: Config, first_run: RecommendResult) -> None:
    next_day = GOLD_LAST_DAY + dt.timedelta(days=1)
    day = lake.read_table(spark, rec_lake.lake, lake.INTERACTIONS).where(F.col("as_of_date") == GOLD_LAST_DAY)
    newcomer = interactions_frame(spark, [(1, 1_000_001, 1.0, T0)], next_day)
    write_interactions(day.withColumn("as_of_date", F.lit(next_day)).unionByName(newcomer), rec_lake, next_day)
    scored = score_only(spark, rec_lake, next_day)
    assert scored.score_only and scored.model_version == first_run.model_version and scored.unknown_users == 1
    recs = lake.read_table(spark, rec_lake.lake, lake.RECOMMENDATIONS)
    same_inputs = [recs.where(F.col("run_date") == d).drop("run_date") for d in (GOLD_LAST_DAY, next_day)]
    assertDataFrameEqual(same_inputs[1], same_inputs[0])  # the same model on the same interactions; the newcomer gets none


def test_movielens_within_ten_percent_of_published(spark: SparkSession) -> None:
    r = explicit.movielens_quickstart(spark, SHARED_DATA / "movielens-100k")
    for name, published in explicit.PUBLISHED.items():
        print(f"{name:<16} ours {r.metrics[name]:.4f}  published {published:.4f}  {r.relative_difference(name):+.1%}")
    assert (r.train_rows, r.test_rows) == (75_018, 24_982)  # randomSplit([0.75, 0.25], 123) of one partition
    for name in explicit.BANDED:
        assert abs(r.relative_difference(name)) <= explicit.BAND, name


def test_no_interactions_for_the_date_is_input_missing(spark: SparkSession, rec_lake: Config, tmp_path: Path) -> None:
    with pytest.raises(InputMissingError, match="featurize --date 2019-09-01"):
        recommend(spark, rec_lake, dt.date(2019, 9, 1))
    with pytest.raises(InputMissingError, match="does not exist"):
        recommend(spark, lake_config(rec_lake, tmp_path), GOLD_LAST_DAY)


def test_a_single_user_trains_and_recommends_without_evaluation(spark: SparkSession, config: Config, tmp_path: Path) -> None:
    cfg = lake_config(config, tmp_path)
    day = dt.date(2019, 10, 5)
    write_interactions(interactions_frame(spark, [(7, p, float(p), T0 + dt.timedelta(hours=p)) for p in range(1, 6)], day), cfg, day)
    r = recommend(spark, cfg, day)
    assert r.evaluation == [] and r.evaluation_skipped and "1 user(s)" in r.evaluation_skipped
    assert r.rows == {"gold.recommendations": 0, "gold.similar_items": 5 * 4, "ml.als_metrics": 0}  # every product seen; 4 others each
    assert registry.latest_run(spark, cfg, "als", day).metrics == {}


def test_require_checkpoint_dir_reads_the_session(spark: SparkSession) -> None:
    assert require_checkpoint_dir(spark) == spark.sparkContext.getCheckpointDir()


def test_similar_items_are_consistent_with_scores(spark: SparkSession) -> None:
    """Cosine is symmetric: if b is a's most similar with similarity s, a's top score is s too."""
    df = spark.createDataFrame(
        [(u, i, 1.0 + (u * i) % 3) for u in range(6) for i in range(5) if (u + i) % 3], f"{USER} int, {ITEM} int, {RATING} double"
    )
    model = ALS(rank=3, maxIter=5, implicitPrefs=True, seed=3, userCol=USER, itemCol=ITEM, ratingCol=RATING, numUserBlocks=1, numItemBlocks=1).fit(df)
    rows = similar_items(model, 10).collect()
    factors = {r.id: np.array(r.features) / np.linalg.norm(r.features) for r in model.itemFactors.collect()}
    assert len(rows) == 5 * 4
    for r in rows:
        assert r.similarity == pytest.approx(float(factors[r[ITEM]] @ factors[r.similar_item]), abs=1e-5)
    assert sorted((r[ITEM], r.rank) for r in rows) == [(i, k) for i in range(5) for k in range(1, 5)]
