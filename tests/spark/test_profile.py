"""ecomlake profile on real Spark and Delta: KMeans segments of generated users and of CDNOW customers,
printed and checked to separate users on monetary value; re-runs, transitions, scoring a saved model,
and the small-input failure modes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ecomlake import lake
from ecomlake.config import Config
from ecomlake.errors import DataQualityError, InputMissingError
from ecomlake.ml import registry
from ecomlake.profile import cdnow, schemas
from ecomlake.profile.features import filled_features
from ecomlake.profile.job import MODEL, ProfileResult, profile, profile_cdnow, read_user_features, summary
from ecomlake.profile.kmeans import assign, fit_kmeans
from ecomlake.profile.naming import name_segments
from ecomlake.profile.schemas import GONE, NEW
from tests.conftest import SHARED_DATA, lake_config
from tests.spark.conftest import GOLD_CUTOFF, GOLD_LAST_DAY

CDNOW_FILE = SHARED_DATA / "cdnow" / "CDNOW_master.txt"


def table(spark: SparkSession, cfg: Config, t: lake.Table) -> DataFrame:
    return lake.read_table(spark, cfg.lake, t)


def assignments(spark: SparkSession, cfg: Config, run_date: dt.date) -> list[tuple[Any, ...]]:
    rows = table(spark, cfg, lake.USER_SEGMENTS).where(F.col("run_date") == F.lit(run_date))
    return sorted(tuple(r) for r in rows.select("user_id", "segment_id", "segment_name", "distance", "model_version").collect())


def revenue_separation(users: DataFrame) -> tuple[list[float], float]:
    """(segments' mean revenue, highest first; share of the variance of log1p(revenue) that lies between segments)."""
    logged = users.withColumn("log_revenue", F.log1p("revenue"))
    per_segment = logged.groupBy("segment_id").agg(
        F.count(F.lit(1)).alias("n"),
        F.avg("revenue").alias("mean"),
        F.avg("log_revenue").alias("log_mean"),
        F.var_pop("log_revenue").alias("log_var"),
    )
    rows = per_segment.collect()
    n = sum(r.n for r in rows)
    grand = sum(r.n * r.log_mean for r in rows) / n
    within = sum(r.n * r.log_var for r in rows)
    between = sum(r.n * (r.log_mean - grand) ** 2 for r in rows)
    return sorted((r["mean"] for r in rows), reverse=True), between / (between + within)


# ---- generated data: two training runs a week apart, in a lake of their own -------------------------


@pytest.fixture(scope="module")
def runs(profile_runs: dict[str, ProfileResult]) -> dict[str, ProfileResult]:
    """The shared profile runs (tests/spark/conftest.py): trained as of the cut-off, the last day scored with it, then trained as of the last day."""
    return profile_runs


def test_generated_segments_are_described_and_recorded(spark: SparkSession, profile_lake: Config, runs: dict[str, ProfileResult]) -> None:
    last = runs["last"]
    cfg = profile_lake
    assert last.users == table(spark, cfg, lake.USER_FEATURES).where(F.col("as_of_date") == F.lit(GOLD_LAST_DAY)).count() == 3111
    assert set(last.silhouettes) == set(range(cfg.profile.k_min, cfg.profile.k_max + 1))  # every k measured
    assert last.silhouette == max(s for s in last.silhouettes.values() if s is not None) > 0.3
    assert len({s.name for s in last.segments}) == len(last.segments) == last.k  # unique names
    assert sum(s.users for s in last.segments) == last.users and abs(sum(s.share for s in last.segments) - 1) < 1e-9

    for t, schema in (
        (lake.USER_SEGMENTS, schemas.USER_SEGMENTS),
        (lake.SEGMENTS, schemas.SEGMENTS),
        (lake.SEGMENT_TRANSITIONS, schemas.SEGMENT_TRANSITIONS),
    ):
        assert table(spark, cfg, t).columns == schema.names
    seg_rows = table(spark, cfg, lake.SEGMENTS).where((F.col("run_date") == F.lit(GOLD_LAST_DAY)) & (F.col("model_version") == last.model_version))
    stored = {r.segment_id: r for r in seg_rows.collect()}
    for s in last.segments:  # centroids in original units: the segment's mean of the raw feature
        assert stored[s.segment_id].segment_name == s.name and stored[s.segment_id].users == s.users
        assert stored[s.segment_id].feature_means["revenue"] == pytest.approx(s.means["revenue"])
        assert stored[s.segment_id].silhouette == pytest.approx(last.silhouette)
    features = table(spark, cfg, lake.USER_FEATURES).where(F.col("as_of_date") == F.lit(GOLD_LAST_DAY))
    joined = table(spark, cfg, lake.USER_SEGMENTS).where(F.col("run_date") == F.lit(GOLD_LAST_DAY)).join(features, on="user_id", how="inner")
    views_by_segment = {r.segment_id: r.views for r in joined.groupBy("segment_id").agg(F.avg("views").alias("views")).collect()}
    assert views_by_segment == pytest.approx({s.segment_id: s.means["views"] for s in last.segments})

    run = registry.latest_run(spark, cfg, MODEL, GOLD_LAST_DAY)
    assert (run.version, run.metrics["k"], run.metrics["silhouette"]) == (last.model_version, last.k, pytest.approx(last.silhouette))
    assert all(f"silhouette_k{k}" in run.metrics for k in last.silhouettes)
    assert Path(run.artifact_path, "metadata").is_dir() and run.params["features"] == list(cfg.profile.features)


def test_generated_segments_separate_users_on_monetary_value(runs: dict[str, ProfileResult]) -> None:
    means, between_share = revenue_separation(runs["last"].assignments)
    print(
        f"\ngenerated: segment mean revenue {', '.join(f'{m:,.0f}' for m in means)}; "
        f"share of log1p(revenue) variance between segments {between_share:.2f}"
    )
    assert means[0] >= 10 * means[-1] and means[0] >= 1.5 * means[1] and between_share >= 0.6
    # The buyers are concentrated: the segments named for value hold most of the revenue with few of the users.
    value = [s for s in runs["last"].segments if s.name.startswith(("high-value", "big spenders", "at-risk"))]
    revenue = {s.segment_id: s.users * s.means["revenue"] for s in runs["last"].segments}
    assert sum(revenue[s.segment_id] for s in value) / sum(revenue.values()) >= 0.8 and sum(s.share for s in value) <= 0.25


def test_score_only_loads_the_saved_model(spark: SparkSession, profile_lake: Config, runs: dict[str, ProfileResult]) -> None:
    cutoff, scored = runs["cutoff"], runs["scored"]
    # A later day scored with the cut-off's model: its names, all the day's users, nothing retrained.
    assert scored.score_only and scored.model_version == cutoff.model_version and scored.silhouettes == {}
    assert {s.name for s in scored.segments} <= {s.name for s in cutoff.segments} and scored.users == runs["last"].users
    # The saved model, loaded, assigns the model's own day exactly as the training run did.
    model = PipelineModel.load(registry.latest_run(spark, profile_lake, MODEL, GOLD_CUTOFF).artifact_path)
    users = read_user_features(spark, profile_lake, GOLD_CUTOFF, cutoff.features)
    reloaded = sorted(tuple(r) for r in assign(model, users).select("user_id", "segment_id", "distance").collect())
    assert reloaded == [(u, s, pytest.approx(d)) for u, s, _, d, _ in assignments(spark, profile_lake, GOLD_CUTOFF)]
    with pytest.raises(InputMissingError, match="no kmeans_profile model trained on or before 2019-10-20"):
        profile(spark, profile_lake, GOLD_CUTOFF - dt.timedelta(days=1), score_only=True)


def test_rerun_gives_the_same_segments(spark: SparkSession, profile_lake: Config, runs: dict[str, ProfileResult]) -> None:
    before = assignments(spark, profile_lake, GOLD_CUTOFF)
    again = profile(spark, profile_lake, GOLD_CUTOFF)
    assert again.silhouettes == runs["cutoff"].silhouettes and again.model_version == runs["cutoff"].model_version
    assert again.segments == runs["cutoff"].segments
    assert assignments(spark, profile_lake, GOLD_CUTOFF) == before


def test_transitions_add_up_to_the_users_of_both_runs(spark: SparkSession, profile_lake: Config, runs: dict[str, ProfileResult]) -> None:
    cutoff, last = runs["cutoff"], runs["last"]
    moves = table(spark, profile_lake, lake.SEGMENT_TRANSITIONS)
    first = moves.where(F.col("run_date") == F.lit(GOLD_CUTOFF)).collect()
    assert {(r.from_segment, r.previous_run_date) for r in first} == {(NEW, None)} and sum(r.users for r in first) == cutoff.users

    week = moves.where(F.col("run_date") == F.lit(GOLD_LAST_DAY)).collect()
    print(
        "\ntransitions "
        + f"{GOLD_CUTOFF} -> {GOLD_LAST_DAY}:\n"
        + "\n".join(f"  {r.from_segment:>40} -> {r.to_segment:<40} {r.users:>5,}" for r in week)
    )
    assert {r.previous_run_date for r in week} == {GOLD_CUTOFF}
    assert sum(r.users for r in week if r.from_segment != NEW) == cutoff.users == 2739
    assert sum(r.users for r in week if r.to_segment != GONE) == last.users == 3111
    both = (
        table(spark, profile_lake, lake.USER_SEGMENTS).where(F.col("run_date").isin(GOLD_CUTOFF, GOLD_LAST_DAY)).select("user_id").distinct().count()
    )
    assert sum(r.users for r in week) == both
    assert {r.from_segment for r in week} - {NEW} <= {s.name for s in cutoff.segments}
    assert {r.to_segment for r in week} - {GONE} == {s.name for s in last.segments}


# ---- CDNOW: real transactions ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cdnow_run(spark: SparkSession, config: Config) -> ProfileResult:
    r = profile_cdnow(spark, config, str(CDNOW_FILE))
    print(f"\nprofile CDNOW as of {cdnow.AS_OF} ({r.seconds:.1f} s):\n{summary(r)}")
    return r


def test_cdnow_features(spark: SparkSession) -> None:
    tx = cdnow.read_cdnow(spark, str(CDNOW_FILE))
    users = cdnow.cdnow_user_features(tx).collect()
    assert (tx.count(), len(users)) == (69_659, 23_570)
    assert sum(u.orders for u in users) == 69_659 and min(u.tenure_days for u in users) >= cdnow.AS_OF.toordinal() - dt.date(1997, 3, 31).toordinal()
    assert sum(u.revenue for u in users) == pytest.approx(tx.agg(F.sum("revenue")).first()[0])
    with pytest.raises(InputMissingError, match="CDNOW file not found"):
        cdnow.read_cdnow(spark, "/nonexistent/CDNOW_master.txt")


def test_cdnow_segments_separate_customers_on_monetary_value(cdnow_run: ProfileResult) -> None:
    r = cdnow_run
    assert r.users == sum(s.users for s in r.segments) == 23_570 and len({s.name for s in r.segments}) == len(r.segments) == r.k >= 2
    assert set(r.silhouettes) == set(range(3, 9)) and r.silhouette is not None and r.silhouette > 0.3
    means, between_share = revenue_separation(r.assignments)
    print(f"\nCDNOW: segment mean revenue {', '.join(f'{m:,.2f}' for m in means)}; between-segment share of log revenue variance {between_share:.2f}")
    assert means[0] >= 5 * means[-1] and means[0] >= 1.5 * means[1] and between_share >= 0.5


# ---- failure modes and small inputs ------------------------------------------------------------------

FEATURES = ("recency_days", "orders", "revenue")


def small_users(spark: SparkSession, rows: list[tuple[int, int | None, int | None, float | None]]) -> DataFrame:
    df = spark.createDataFrame(rows, "user_id long, recency_days int, orders long, revenue double")
    return filled_features(df, FEATURES)


def small_config(config: Config, root: Path, *overrides: str) -> Config:
    return lake_config(config, root, f"profile.features=[{', '.join(FEATURES)}]", "profile.log_features=[orders, revenue]", *overrides)


def test_no_user_features_for_the_date_is_input_missing(spark: SparkSession, profile_lake: Config, config: Config, tmp_path: Path) -> None:
    with pytest.raises(InputMissingError, match=r"gold_user_features has no snapshot as of 2019-09-01; run `ecomlake featurize --date 2019-09-01`"):
        profile(spark, profile_lake, dt.date(2019, 9, 1))
    with pytest.raises(InputMissingError, match=r"gold_user_features has no snapshot as of 2019-10-28"):  # no table at all
        profile(spark, lake_config(config, tmp_path), GOLD_LAST_DAY)


def test_a_single_user_is_a_clear_error_and_writes_nothing(spark: SparkSession, config: Config, tmp_path: Path) -> None:
    cfg = small_config(config, tmp_path)
    one = spark.createDataFrame([(7, GOLD_LAST_DAY, 3, 1, 25.0)], "user_id long, as_of_date date, recency_days int, orders long, revenue double")
    lake.write_table(one, cfg.lake, lake.USER_FEATURES)
    with pytest.raises(DataQualityError, match=r"as of 2019-10-28: 1 user\(s\) with 1 distinct value\(s\).*KMeans needs at least 2 distinct users"):
        profile(spark, cfg, GOLD_LAST_DAY)
    assert not any(lake.table_exists(spark, cfg.lake, t) for t in (lake.USER_SEGMENTS, lake.SEGMENTS, lake.SEGMENT_TRANSITIONS, lake.MODEL_RUNS))


def test_all_zero_features_are_a_clear_error(spark: SparkSession, config: Config, tmp_path: Path) -> None:
    zeros = small_users(spark, [(u, 0, 0, None if u % 2 else 0.0) for u in range(50)])  # NULL revenue is 0 too
    with pytest.raises(DataQualityError, match=r"50 user\(s\) with 1 distinct value\(s\) of \['recency_days', 'orders', 'revenue'\]"):
        fit_kmeans(zeros, small_config(config, tmp_path).profile, "zeros")


def test_fewer_users_than_k_min_caps_k(spark: SparkSession, config: Config, tmp_path: Path) -> None:
    users = small_users(spark, [(1, 0, 3, 300.0), (2, 20, 0, 0.0), (3, 20, 0, 0.0), (4, 1, 2, 150.0)])  # 3 distinct users
    fit = fit_kmeans(users, small_config(config, tmp_path, "profile.k_min=4", "profile.k_max=6").profile, "three")
    assert set(fit.silhouettes) == {3} and fit.k == 3 and fit.users == 4
    fixed = fit_kmeans(users.where(F.col("user_id") <= 2), small_config(config, tmp_path, "profile.k=5").profile, "two")
    assert set(fixed.silhouettes) == {2} and fixed.k == 2 and fixed.silhouette == pytest.approx(0.0)  # singleton clusters score 0


def test_names_are_unique_and_follow_the_rules() -> None:
    means = {
        0: {"recency_days": 2.0, "tenure_days": 25.0, "active_days": 12.0, "orders": 2.0, "revenue": 600.0, "views": 90.0},
        1: {"recency_days": 20.0, "tenure_days": 21.0, "active_days": 1.0, "orders": 1.0, "revenue": 300.0, "views": 6.0},
        2: {"recency_days": 5.0, "tenure_days": 20.0, "active_days": 3.0, "orders": 0.0, "revenue": 0.0, "views": 14.0},
        3: {"recency_days": 6.0, "tenure_days": 19.0, "active_days": 1.0, "orders": 0.0, "revenue": 0.0, "views": 1.0},
        4: {"recency_days": 4.0, "tenure_days": 5.0, "active_days": 1.0, "orders": 0.0, "revenue": 0.0, "views": 6.0},
    }
    names = name_segments(means, {0: 100, 1: 50, 2: 400, 3: 400, 4: 300})
    assert names == {0: "high-value loyal", 1: "at-risk", 2: "browsers (views high)", 3: "browsers (views low)", 4: "new"}
    # Four browsers: the spread feature ranks them; the two in the middle are numbered by value, then id.
    browsers = {s: {**means[2], "views": v, "revenue": r} for s, v, r in ((10, 14.0, 0.0), (11, 12.0, 0.2), (12, 11.0, 0.1), (13, 9.0, 0.0))}
    assert name_segments({**browsers, 0: means[0]}, {10: 100, 11: 100, 12: 100, 13: 100, 0: 10}) == {
        0: "high-value loyal",
        10: "browsers (views high)",
        11: "browsers (views mid)",
        12: "browsers (views mid) #2",
        13: "browsers (views low)",
    }
    assert name_segments({5: means[0]}, {5: 9}) == {5: "all users"}
    # With sessions among the features, under 2 views per session is a bounce, whatever else holds.
    sessions = {0: 30.0, 1: 2.0, 2: 4.0, 3: 1.0, 4: 2.0}
    with_sessions = {s: {**m, "sessions": sessions[s]} for s, m in means.items()}
    assert name_segments(with_sessions, {0: 100, 1: 50, 2: 400, 3: 400, 4: 300})[3] == "bounced"
