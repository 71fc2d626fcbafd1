"""ecomlake recommend: the split, exact unseen top k, the evaluation, ALS against popularity, the tables, persistence,
re-runs, scoring, MovieLens, failures."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
from pathlib import Path

import numpy as np
import pytest
from pyspark.ml.recommendation import ALS
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from ecomlake import lake
from ecomlake.catalog import ALS_METRICS, INTERACTIONS, MODEL_RUNS, RECOMMENDATIONS, SIMILAR_ITEMS, Table
from ecomlake.config import Config
from ecomlake.errors import ConfigError, InputMissingError
from ecomlake.job import Context
from ecomlake.ml import registry
from ecomlake.recommend import explicit, movielens_job
from ecomlake.recommend.als import (
    ITEM,
    RATING,
    USER,
    als_candidates,
    check_checkpoint_dir,
    fit_als,
    index_ids,
    popularity_candidates,
    require_checkpoint_dir,
    top_k_unseen,
    with_indexes,
)
from ecomlake.recommend.evaluate import coverage, evaluate, ranking_metrics, with_test_flag
from ecomlake.recommend.job import RecommendParams, RecommendResult, run
from ecomlake.recommend.persistence import load_model, save_model
from ecomlake.recommend.similar import similar_items
from tests.support import GOLD_HORIZON, GOLD_LAST_DAY, copy_tables, lake_config

T0 = dt.datetime(2019, 10, 1)


def interactions_frame(spark: SparkSession, rows: list[tuple[int, int, float, dt.datetime | None]], as_of: dt.date) -> DataFrame:
    """gold.interactions rows from (user_id, product_id, strength, first_interaction_time)."""
    full = [(u, p, as_of, 1, 0, 0, 0, t, t, s) for u, p, s, t in rows]
    return spark.createDataFrame(full, INTERACTIONS.schema().struct())


def write_interactions(df: DataFrame, cfg: Config, as_of: dt.date) -> None:
    lake.write(df, cfg, INTERACTIONS, {"as_of_date": as_of})


def own_lake(rec_lake: Config, root: Path, *tables: Table) -> Config:
    """A lake holding copies of rec_lake's ``tables``: a test that writes leaves the shared lake as the first run left it."""
    cfg = lake_config(rec_lake, root, f"featurize.label_horizon_days={GOLD_HORIZON}")
    copy_tables(rec_lake, cfg, *tables)
    return cfg


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


# ---- the evaluation (ecomlake.recommend.evaluate) ----------------------------------------------------


def test_ranking_metrics_and_coverage_match_hand_computed_values(spark: SparkSession) -> None:
    # User 1 holds out 10 and 20 and gets [10, 30, 20]: hits at ranks 1 and 3. User 2 holds out 40 and gets nothing: 0 everywhere.
    recs = spark.createDataFrame([(1, 1, 10), (1, 2, 30), (1, 3, 20)], f"{USER} int, rank int, {ITEM} int")
    test = spark.createDataFrame([(1, 10), (1, 20), (2, 40)], f"{USER} int, {ITEM} int")
    got = ranking_metrics(recs, test, 3)
    ndcg_1 = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    assert got == pytest.approx({"precision_at_k": (2 / 3) / 2, "recall_at_k": 1 / 2, "ndcg_at_k": ndcg_1 / 2, "map_at_k": ((1 + 2 / 3) / 2) / 2})
    train = spark.createDataFrame([(1, 30), (2, 10), (2, 50), (3, 60)], f"{USER} int, {ITEM} int")
    assert coverage(recs, train) == pytest.approx(3 / 4)  # 10, 20 and 30 recommended; 4 products in training
    assert coverage(recs, train.limit(0)) == 0.0


def taste_ratings(spark: SparkSession, users: int = 40) -> DataFrame:
    """Users of 3 tastes, each with 6 to 11 products mostly of their taste (10 products per taste), first touched an hour apart."""
    rng = np.random.default_rng(3)
    rows = []
    for u in range(users):
        taste = u % 3
        n = int(rng.integers(6, 12))
        products = rng.permutation([*rng.choice(np.arange(10) + 10 * taste, size=n - 1, replace=False), rng.integers(0, 30)]).tolist()
        rows += [(u, int(p), float(rng.integers(1, 4)), T0 + dt.timedelta(hours=h)) for h, p in enumerate(dict.fromkeys(products))]
    return spark.createDataFrame(rows, f"{USER} int, {ITEM} int, {RATING} double, first_interaction_time timestamp")


def test_evaluate_scores_als_and_popularity_on_the_same_chronological_split(spark: SparkSession, config: Config) -> None:
    ratings = taste_ratings(spark)
    rc = dataclasses.replace(config.recommend, rank=4, max_iter=5, k=5)
    day = dt.date(2019, 10, 5)
    rows, skipped = evaluate(ratings, rc, day, "20191005-test")
    assert skipped is None and [r["model"] for r in rows] == ["als", "popularity"]
    split = with_test_flag(ratings, rc.test_fraction, rc.min_user_items).toPandas()
    train, test = split[~split["is_test"]], split[split["is_test"]]
    sizes = {
        "train_rows": len(train), "test_rows": len(test), "train_users": train[USER].nunique(), "train_items": train[ITEM].nunique(),
        "users_evaluated": test[USER].nunique(),
    }  # fmt: skip
    assert sizes["users_evaluated"] == 40 and sizes["test_rows"] >= 40
    for r in rows:
        assert set(r) == set(ALS_METRICS.schema().names)  # ml.als_metrics records, nothing else
        assert (r["run_date"], r["model_version"], r["k"]) == (day, "20191005-test", 5) and {k: r[k] for k in sizes} == sizes
        assert all(0 <= r[m] <= 1 for m in ("precision_at_k", "recall_at_k", "ndcg_at_k", "map_at_k", "coverage"))
    # The popularity row is what the split's training rows give, measured the same way (it is deterministic).
    train_df = spark.createDataFrame(train[[USER, ITEM, RATING]])
    test_df = spark.createDataFrame(test[[USER, ITEM]])
    popular = top_k_unseen(popularity_candidates(train_df), test_df.select(USER), seen=train_df, k=5)
    expected = ranking_metrics(popular, test_df, 5) | {"coverage": coverage(popular, train_df)}
    assert {m: rows[1][m] for m in expected} == pytest.approx(expected)
    # The tastes are learnable: ALS finds the held-out products of a user's taste better than the best sellers do.
    assert rows[0]["ndcg_at_k"] > rows[1]["ndcg_at_k"] and rows[0]["coverage"] > rows[1]["coverage"]


def test_evaluate_skips_with_the_reason_when_there_is_nothing_to_rank(spark: SparkSession, config: Config) -> None:
    rc = config.recommend
    one = spark.createDataFrame([(0, i, 1.0, T0) for i in range(5)], f"{USER} int, {ITEM} int, {RATING} double, first_interaction_time timestamp")
    assert evaluate(one, rc, GOLD_LAST_DAY, "v") == (
        [],
        "1 user(s) in training: ranking needs at least 2 (collaborative filtering learns from other users)",
    )
    few = spark.createDataFrame(
        [(u, i, 1.0, T0) for u in range(3) for i in range(2)], f"{USER} int, {ITEM} int, {RATING} double, first_interaction_time timestamp"
    )
    assert evaluate(few, rc, GOLD_LAST_DAY, "v") == ([], "no user has 3 or more products (recommend.min_user_items): nothing to hold out")


# ---- persistence (ecomlake.recommend.persistence) ----------------------------------------------------


def test_a_saved_model_loads_back_with_its_id_maps(spark: SparkSession, config: Config, tmp_path: Path) -> None:
    interactions = interactions_frame(
        spark, [(100 + u, 5_000 + (u + 3 * p) % 17, float(p), T0) for u in range(12) for p in range(1, 6)], GOLD_LAST_DAY
    )
    maps = index_ids(interactions)
    ratings = with_indexes(interactions, maps).select(USER, ITEM, F.col("strength").alias(RATING))
    rc = dataclasses.replace(config.recommend, rank=3, max_iter=3)
    model = fit_als(ratings, rc)
    path = str(tmp_path / "als" / "v1")
    save_model(model, maps, path)
    save_model(model, maps, path)  # over an existing version: replaced
    assert sorted(p.name for p in Path(path).iterdir()) == ["items", "model", "users"]
    loaded, loaded_maps = load_model(spark, path)
    assert loaded.rank == 3
    assertDataFrameEqual(loaded_maps.users, maps.users)
    assertDataFrameEqual(loaded_maps.items, maps.items)
    for theirs, ours in ((loaded.userFactors, model.userFactors), (loaded.itemFactors, model.itemFactors)):
        assert sorted((r.id, list(r.features)) for r in theirs.collect()) == sorted((r.id, list(r.features)) for r in ours.collect())
    users = ratings.select(USER)
    again = top_k_unseen(als_candidates(loaded), users, seen=ratings, k=3)
    assertDataFrameEqual(again, top_k_unseen(als_candidates(model), users, seen=ratings, k=3))


# ---- the recommend job on the generated lake ---------------------------------------------------------


def test_als_beats_popularity_on_generated_tastes(first_run: RecommendResult) -> None:
    als, popularity = first_run.evaluation
    for row in (als, popularity):
        print({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})
    assert (als["model"], popularity["model"]) == ("als", "popularity")
    assert als["users_evaluated"] > 1000 and als["test_rows"] > als["users_evaluated"]
    assert als["ndcg_at_k"] > 1.5 * popularity["ndcg_at_k"] and als["ndcg_at_k"] - popularity["ndcg_at_k"] > 0.05
    assert als["recall_at_k"] > popularity["recall_at_k"] and als["coverage"] > popularity["coverage"]
    # What the run record and the CLI get.
    metrics = {k: als[k] for k in ("precision_at_k", "recall_at_k", "ndcg_at_k", "map_at_k", "coverage")}
    assert first_run.als_metrics() == metrics and first_run.figures() == metrics | {"unknown_users": 0}
    assert (first_run.rows_in, first_run.rows_out) == (first_run.interactions, sum(first_run.rows.values()))
    text = first_run.summary()
    assert text.startswith(f"recommend {GOLD_LAST_DAY}: model als {first_run.model_version} (trained), {first_run.interactions:,} user-product")
    assert f"evaluation (chronological split): {als['users_evaluated']:,} users" in text and "gold.recommendations" in text


def test_tables_follow_their_schemas_and_hold_the_run(spark: SparkSession, rec_lake: Config, first_run: RecommendResult) -> None:
    rc, version = rec_lake.recommend, first_run.model_version
    recs = lake.read(spark, rec_lake, RECOMMENDATIONS)
    similar = lake.read(spark, rec_lake, SIMILAR_ITEMS)
    metrics = lake.read(spark, rec_lake, ALS_METRICS)
    for df, table in ((recs, RECOMMENDATIONS), (similar, SIMILAR_ITEMS), (metrics, ALS_METRICS)):
        assert df.columns == table.schema().names
        assert [f.dataType for f in df.schema.fields] == [f.dataType for f in table.schema().struct().fields]
    assert recs.select("model_version", "run_date").distinct().collect() == [(version, GOLD_LAST_DAY)]
    interactions = lake.read(spark, rec_lake, INTERACTIONS, {"as_of_date": GOLD_LAST_DAY})
    assert recs.join(interactions, on=["user_id", "product_id"], how="left_semi").count() == 0  # nothing seen is recommended
    per_user = recs.groupBy("user_id").agg(F.count("*").alias("n"), F.max("rank").alias("top"))
    assert per_user.where((F.col("n") != rc.top_n) | (F.col("top") != rc.top_n)).count() == 0
    assert per_user.count() == interactions.select("user_id").distinct().count()
    assert similar.where(F.col("product_id") == F.col("similar_product_id")).count() == 0
    assert similar.where(F.col("similarity") > 1.0 + 1e-6).count() == 0
    assert sorted(r.model for r in metrics.collect()) == ["als", "popularity"]
    assert first_run.rows == {RECOMMENDATIONS.key: recs.count(), SIMILAR_ITEMS.key: similar.count(), ALS_METRICS.key: 2}
    run_ = registry.latest_run(spark, rec_lake, "als", GOLD_LAST_DAY)
    assert run_.version == version and run_.metrics["ndcg_at_k"] == pytest.approx(first_run.evaluation[0]["ndcg_at_k"])
    assert Path(run_.artifact_path, "model").is_dir() and run_.params["rank"] == rc.rank


def test_rerun_gives_the_same_metrics_and_recommendations(spark: SparkSession, rec_lake: Config, first_run: RecommendResult, tmp_path: Path) -> None:
    cfg = own_lake(rec_lake, tmp_path, INTERACTIONS, RECOMMENDATIONS, SIMILAR_ITEMS, ALS_METRICS, MODEL_RUNS)
    before = lake.read(spark, cfg, RECOMMENDATIONS).collect()
    again = run(Context(spark, cfg), RecommendParams(GOLD_LAST_DAY))
    assert again.model_version == first_run.model_version
    assert again.evaluation == first_run.evaluation
    assertDataFrameEqual(lake.read(spark, cfg, RECOMMENDATIONS), before)
    assert lake.read(spark, cfg, ALS_METRICS).count() == 2  # replaced, not appended
    assert lake.read(spark, cfg, MODEL_RUNS).where(F.col("model") == "als").count() == 1  # the same version's record, replaced


def test_score_only_reloads_the_model_for_a_later_day(spark: SparkSession, rec_lake: Config, first_run: RecommendResult, tmp_path: Path) -> None:
    cfg = own_lake(rec_lake, tmp_path, INTERACTIONS, MODEL_RUNS)  # the model runs point at rec_lake's saved model
    next_day = GOLD_LAST_DAY + dt.timedelta(days=1)
    day = lake.read(spark, cfg, INTERACTIONS, {"as_of_date": GOLD_LAST_DAY})
    newcomer = interactions_frame(spark, [(1, 1_000_001, 1.0, T0)], next_day)
    write_interactions(day.withColumn("as_of_date", F.lit(next_day)).unionByName(newcomer), cfg, next_day)
    scored = run(Context(spark, cfg), RecommendParams(next_day, score_only=True))
    assert scored.score_only and scored.model_version == first_run.model_version and scored.unknown_users == 1
    assert (scored.evaluation, scored.evaluation_skipped, scored.interactions) == ([], "score-only", day.count() + 1)
    recs = lake.read(spark, cfg, RECOMMENDATIONS)
    assert scored.rows == {RECOMMENDATIONS.key: recs.count()} and not lake.exists(spark, cfg.lake, SIMILAR_ITEMS)
    assert scored.summary() == (
        f"recommend {next_day}: model als {first_run.model_version} (score-only), {day.count() + 1:,} user-product interactions\n"
        f"  1 user(s) of {next_day} unknown to the model: no recommendations for them\n"
        f"  {RECOMMENDATIONS.key:<22} {recs.count():>12,} rows written"
    )
    # The same model on the same interactions: the first run's recommendations; the newcomer gets none.
    first = lake.read(spark, rec_lake, RECOMMENDATIONS, {"run_date": GOLD_LAST_DAY}).drop("run_date")
    assertDataFrameEqual(recs.where(F.col("run_date") == F.lit(next_day)).drop("run_date"), first)


# ---- MovieLens 100K: the published figures -----------------------------------------------------------


def test_movielens_within_ten_percent_of_published(spark: SparkSession, config: Config) -> None:
    check = movielens_job.run(Context(spark, config), movielens_job.MovieLensParams())
    r = check.result
    print(f"\n{check.summary()}")
    assert (r.train_rows, r.test_rows) == (75_018, 24_982)  # randomSplit([0.75, 0.25], 123) of one partition
    for name in explicit.BANDED:
        assert abs(r.relative_difference(name)) <= explicit.BAND, name
    assert check.seed == explicit.SPLIT_SEED and (check.rows_in, check.rows_out) == (100_000, None) and check.figures() == r.metrics
    assert set(r.metrics) == {*explicit.PUBLISHED, "map_at_k"} and not movielens_job.JOB.records  # writes nothing, records nothing
    lines = check.summary().splitlines()
    assert lines[0].endswith("(split seed 123): 75,018 train / 24,982 test ratings")
    assert [line.split()[0] for line in lines[2:]] == [*explicit.PUBLISHED, "map_at_k"]


def test_movielens_folder_without_ratings_is_input_missing(spark: SparkSession, config: Config, tmp_path: Path) -> None:
    path = re.escape(str(tmp_path / "u.data"))
    with pytest.raises(InputMissingError, match=rf"MovieLens 100K ratings not found: {path} \(pass the folder holding u.data with --path\)"):
        movielens_job.run(Context(spark, config), movielens_job.MovieLensParams(path=str(tmp_path)))


# ---- failure modes and small inputs ------------------------------------------------------------------


def test_no_interactions_for_the_date_is_input_missing(spark: SparkSession, rec_lake: Config, tmp_path: Path) -> None:
    table = re.escape(INTERACTIONS.qualified_name(rec_lake.lake))
    with pytest.raises(
        InputMissingError, match=rf"^{table} has no rows with as_of_date = 2019-09-01; run `ecomlake featurize --date 2019-09-01` first$"
    ):
        run(Context(spark, rec_lake), RecommendParams(dt.date(2019, 9, 1)))
    empty = lake_config(rec_lake, tmp_path)
    path = re.escape(INTERACTIONS.path(empty.lake))
    with pytest.raises(InputMissingError, match=rf"^{table} does not exist at {path}; run `ecomlake featurize --date 2019-10-28` first$"):
        run(Context(spark, empty), RecommendParams(GOLD_LAST_DAY))


def test_a_single_user_trains_and_recommends_without_evaluation(spark: SparkSession, config: Config, tmp_path: Path) -> None:
    cfg = lake_config(config, tmp_path)
    day = dt.date(2019, 10, 5)
    write_interactions(interactions_frame(spark, [(7, p, float(p), T0 + dt.timedelta(hours=p)) for p in range(1, 6)], day), cfg, day)
    runs_table = re.escape(MODEL_RUNS.qualified_name(cfg.lake))
    with pytest.raises(
        InputMissingError,
        match=rf"^no als model trained on or before 2019-10-05 in {runs_table}; "
        rf"run `ecomlake recommend --date D` \(D <= 2019-10-05\) first$",
    ):
        run(Context(spark, cfg), RecommendParams(day, score_only=True))  # nothing trained yet: nothing to load
    r = run(Context(spark, cfg), RecommendParams(day))
    assert r.evaluation == [] and r.evaluation_skipped == (
        "1 user(s) in training: ranking needs at least 2 (collaborative filtering learns from other users)"
    )
    assert r.rows == {"gold.recommendations": 0, "gold.similar_items": 5 * 4, "ml.als_metrics": 0}  # every product seen; 4 others each
    assert registry.latest_run(spark, cfg, "als", day).metrics == {}
    assert f"evaluation skipped: {r.evaluation_skipped}" in r.summary() and r.als_metrics() == {}


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
