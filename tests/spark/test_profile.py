"""ecomlake profile on real Spark and Delta: KMeans segments of generated users and of CDNOW customers,
printed and checked to separate users on monetary value; re-runs, transitions, scoring a saved model,
and the small-input failure modes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ecomlake import artifacts, lake
from ecomlake.artifacts import ArtifactPathError, TamperedArtifactError
from ecomlake.catalog import ALL_TABLES, MODEL_RUNS, SEGMENT_TRANSITIONS, SEGMENTS, USER_FEATURES, USER_SEGMENTS
from ecomlake.config import Config
from ecomlake.datasets import cdnow_master
from ecomlake.errors import ConfigError, DataQualityError, InputMissingError
from ecomlake.job import Context
from ecomlake.ml import registry
from ecomlake.profile import cdnow
from ecomlake.profile.features import filled_features
from ecomlake.profile.job import MODEL, ProfileParams, ProfileResult, run
from ecomlake.profile.kmeans import assign, fit_kmeans
from ecomlake.profile.naming import name_segments
from ecomlake.vocabulary import GONE_SEGMENT, NEW_SEGMENT
from tests.support import GOLD_CUTOFF, GOLD_LAST_DAY, lake_config


def assignments(spark: SparkSession, cfg: Config, run_date: dt.date) -> list[tuple[Any, ...]]:
    rows = lake.read(spark, cfg, USER_SEGMENTS, {"run_date": run_date})
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
    assert last.users == lake.read(spark, cfg, USER_FEATURES, {"as_of_date": GOLD_LAST_DAY}).count() == 3111
    assert set(last.silhouettes) == set(range(cfg.profile.k_min, cfg.profile.k_max + 1))  # every k measured
    assert last.silhouette == max(s for s in last.silhouettes.values() if s is not None) > 0.3
    assert len({s.name for s in last.segments}) == len(last.segments) == last.k  # unique names
    assert sum(s.users for s in last.segments) == last.users and abs(sum(s.share for s in last.segments) - 1) < 1e-9
    assert (last.rows_in, last.rows_out) == (last.users, last.users)
    assert last.figures() == {"k": last.k, "silhouette": last.silhouette, "segments": len(last.segments)}

    for t in (USER_SEGMENTS, SEGMENTS, SEGMENT_TRANSITIONS):
        df = lake.read(spark, cfg, t)
        assert df.columns == t.schema().names
        assert [f.dataType for f in df.schema.fields] == [f.dataType for f in t.schema().struct().fields], t.key
    seg_rows = lake.read(spark, cfg, SEGMENTS, {"run_date": GOLD_LAST_DAY, "model_version": last.model_version})
    stored = {r.segment_id: r for r in seg_rows.collect()}
    assert set(stored) == {s.segment_id for s in last.segments}
    for s in last.segments:  # centroids in original units: the segment's mean of the raw feature
        assert stored[s.segment_id].segment_name == s.name and stored[s.segment_id].users == s.users
        assert stored[s.segment_id].feature_means["revenue"] == pytest.approx(s.means["revenue"])
        assert stored[s.segment_id].silhouette == pytest.approx(last.silhouette)
    features = lake.read(spark, cfg, USER_FEATURES, {"as_of_date": GOLD_LAST_DAY})
    joined = lake.read(spark, cfg, USER_SEGMENTS, {"run_date": GOLD_LAST_DAY}).join(features, on="user_id", how="inner")
    views_by_segment = {r.segment_id: r.views for r in joined.groupBy("segment_id").agg(F.avg("views").alias("views")).collect()}
    assert views_by_segment == pytest.approx({s.segment_id: s.means["views"] for s in last.segments})

    run_ = registry.latest_run(spark, cfg, MODEL, GOLD_LAST_DAY)
    assert (run_.version, run_.metrics["k"], run_.metrics["silhouette"]) == (last.model_version, last.k, pytest.approx(last.silhouette))
    assert all(f"silhouette_k{k}" in run_.metrics for k in last.silhouettes)
    assert Path(run_.artifact_path, "metadata").is_dir() and run_.params["features"] == list(cfg.profile.features)
    assert run_.files and {f.path for f in run_.files} == {f.path for f in artifacts.scan(run_.artifact_path)}  # every file, hashed
    # The summary the CLI prints: the headline, the silhouettes, one line per segment and the transitions.
    text = last.summary()
    assert text.startswith(f"profile {GOLD_LAST_DAY}: trained {last.model_version}, {last.users:,} users in {last.k} segments")
    assert f"silhouette {last.silhouette:.3f} at k = {last.k}" in text and f"transitions since {GOLD_CUTOFF}:" in text
    assert all(s.name in text for s in last.segments) and "(all users)" in text


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
    assert scored.silhouette == pytest.approx(cutoff.silhouette) and scored.features == cutoff.features
    assert scored.summary().startswith(f"profile {GOLD_LAST_DAY}: scored with {cutoff.model_version}, {scored.users:,} users")
    # Its segments went to ml.segments under the cut-off's model (the day's own training run has another version) ...
    stored = lake.read(spark, profile_lake, SEGMENTS, {"run_date": GOLD_LAST_DAY, "model_version": cutoff.model_version}).collect()
    assert sorted((r.segment_id, r.segment_name, r.users) for r in stored) == [(s.segment_id, s.name, s.users) for s in scored.segments]
    assert all(r.silhouette == pytest.approx(cutoff.silhouette) for r in stored)
    # ... and no model was recorded: ml.model_runs holds the two training runs only.
    recorded = lake.read(spark, profile_lake, MODEL_RUNS).where(F.col("model") == MODEL).select("run_date", "model_version").collect()
    assert sorted(tuple(r) for r in recorded) == sorted([(GOLD_CUTOFF, cutoff.model_version), (GOLD_LAST_DAY, runs["last"].model_version)])
    # The saved model, loaded, assigns the model's own day exactly as the training run did.
    model = PipelineModel.load(registry.latest_run(spark, profile_lake, MODEL, GOLD_CUTOFF).artifact_path)
    users = filled_features(lake.read(spark, profile_lake, USER_FEATURES, {"as_of_date": GOLD_CUTOFF}), cutoff.features)
    reloaded = sorted(tuple(r) for r in assign(model, users).select("user_id", "segment_id", "distance").collect())
    assert reloaded == [(u, s, pytest.approx(d)) for u, s, _, d, _ in assignments(spark, profile_lake, GOLD_CUTOFF)]
    runs_table = re.escape(MODEL_RUNS.qualified_name(profile_lake.lake))
    with pytest.raises(
        InputMissingError,
        match=rf"no kmeans_profile model trained on or before 2019-10-20 in {runs_table}; "
        rf"run `ecomlake profile --date D` \(D <= 2019-10-20\) first",
    ):
        run(Context(spark, profile_lake), ProfileParams(GOLD_CUTOFF - dt.timedelta(days=1), score_only=True))


def test_a_saved_model_loads_only_as_its_training_run_recorded_it(
    spark: SparkSession, profile_lake: Config, runs: dict[str, ProfileResult], tmp_path: Path
) -> None:
    """One byte changed in the saved SQLTransformer stage (whose statement scoring runs): refused before Spark loads anything."""
    saved = registry.latest_run(spark, profile_lake, MODEL, GOLD_CUTOFF, trained_by="profile")
    assert saved.version == runs["cutoff"].model_version and list(saved.files) == artifacts.scan(saved.artifact_path)
    cfg = lake_config(profile_lake, tmp_path)  # a lake of its own holding a copy of the model: the shared one stays as it is
    copy = Path(registry.artifact_path(cfg, MODEL, saved.version))
    shutil.copytree(saved.artifact_path, copy)
    moved = dataclasses.replace(saved, artifact_path=str(copy))
    assert [type(s).__name__ for s in registry.load_pipeline(cfg, moved).stages][0] == "SQLTransformer"  # as saved, it loads
    stage = next(copy.glob("stages/*SQLTransformer*/metadata/part-*"))  # Spark 4: part-00000-<uuid>-c000.txt
    text = stage.read_bytes()
    at = text.index(b"SELECT")
    stage.write_bytes(text[:at] + b"s" + text[at + 1 :])  # one byte, the same size: still valid SQL, still refused
    relative = re.escape(stage.relative_to(copy).as_posix())
    with pytest.raises(
        TamperedArtifactError,
        match=rf"^{MODEL} {saved.version} \(run {saved.run_id}\) at {re.escape(str(copy))}: {relative} has sha256 [0-9a-f]{{16}}\.\.\. but .* "
        rf"changed after it was written; refusing to read it\. Re-run `ecomlake profile --date {GOLD_CUTOFF}` to write it again\.$",
    ):
        registry.load_pipeline(cfg, moved)
    with pytest.raises(
        ArtifactPathError, match=rf"the recorded path {re.escape(saved.artifact_path)} is not inside {re.escape(str(cfg.lake.root))}/models"
    ):
        registry.load_pipeline(cfg, saved)  # the shared lake's folder, from this lake's point of view: elsewhere


def test_rerun_gives_the_same_segments(spark: SparkSession, profile_lake: Config, runs: dict[str, ProfileResult]) -> None:
    before = assignments(spark, profile_lake, GOLD_CUTOFF)
    again = run(Context(spark, profile_lake), ProfileParams(GOLD_CUTOFF))
    assert again.silhouettes == runs["cutoff"].silhouettes and again.model_version == runs["cutoff"].model_version
    assert again.segments == runs["cutoff"].segments
    assert assignments(spark, profile_lake, GOLD_CUTOFF) == before


def test_transitions_add_up_to_the_users_of_both_runs(spark: SparkSession, profile_lake: Config, runs: dict[str, ProfileResult]) -> None:
    cutoff, last = runs["cutoff"], runs["last"]
    first = lake.read(spark, profile_lake, SEGMENT_TRANSITIONS, {"run_date": GOLD_CUTOFF}).collect()
    assert {(r.from_segment, r.previous_run_date) for r in first} == {(NEW_SEGMENT, None)} and sum(r.users for r in first) == cutoff.users

    week = lake.read(spark, profile_lake, SEGMENT_TRANSITIONS, {"run_date": GOLD_LAST_DAY}).collect()
    print(
        "\ntransitions "
        + f"{GOLD_CUTOFF} -> {GOLD_LAST_DAY}:\n"
        + "\n".join(f"  {r.from_segment:>40} -> {r.to_segment:<40} {r.users:>5,}" for r in week)
    )
    assert {r.previous_run_date for r in week} == {GOLD_CUTOFF}
    assert sum(r.users for r in week if r.from_segment != NEW_SEGMENT) == cutoff.users == 2739
    assert sum(r.users for r in week if r.to_segment != GONE_SEGMENT) == last.users == 3111
    both = lake.read(spark, profile_lake, USER_SEGMENTS, {"run_date": [GOLD_CUTOFF, GOLD_LAST_DAY]}).select("user_id").distinct().count()
    assert sum(r.users for r in week) == both
    assert {r.from_segment for r in week} - {NEW_SEGMENT} <= {s.name for s in cutoff.segments}
    assert {r.to_segment for r in week} - {GONE_SEGMENT} == {s.name for s in last.segments}
    # The result's transitions are the table's rows, most users first.
    assert last.previous_run_date == GOLD_CUTOFF and sorted(last.transitions) == sorted((r.from_segment, r.to_segment, r.users) for r in week)
    assert [n for _, _, n in last.transitions] == sorted((n for _, _, n in last.transitions), reverse=True)


# ---- CDNOW: real transactions ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cdnow_lake(config: Config, tmp_path_factory: pytest.TempPathFactory) -> Config:
    """An empty lake: the CDNOW run must leave it so."""
    return lake_config(config, tmp_path_factory.mktemp("cdnow"))


@pytest.fixture(scope="module")
def cdnow_run(spark: SparkSession, cdnow_lake: Config) -> ProfileResult:
    r = run(Context(spark, cdnow_lake), ProfileParams(cdnow=str(cdnow_master())))
    print(f"\n{r.summary()}")
    return r


def test_cdnow_features(spark: SparkSession) -> None:
    tx = cdnow.read_cdnow(spark, str(cdnow_master()))
    users = cdnow.cdnow_user_features(tx).collect()
    assert (tx.count(), len(users)) == (69_659, 23_570)
    assert sum(u.orders for u in users) == 69_659 and min(u.tenure_days for u in users) >= cdnow.AS_OF.toordinal() - dt.date(1997, 3, 31).toordinal()
    assert sum(u.revenue for u in users) == pytest.approx(tx.agg(F.sum("revenue")).first()[0])
    with pytest.raises(InputMissingError, match="CDNOW file not found: /nonexistent/CDNOW_master.txt"):
        cdnow.read_cdnow(spark, "/nonexistent/CDNOW_master.txt")


def test_cdnow_segments_separate_customers_on_monetary_value(spark: SparkSession, cdnow_lake: Config, cdnow_run: ProfileResult) -> None:
    r = cdnow_run
    assert r.users == sum(s.users for s in r.segments) == 23_570 and len({s.name for s in r.segments}) == len(r.segments) == r.k >= 2
    assert set(r.silhouettes) == set(range(3, 9)) and r.silhouette is not None and r.silhouette > 0.3
    means, between_share = revenue_separation(r.assignments)
    print(f"\nCDNOW: segment mean revenue {', '.join(f'{m:,.2f}' for m in means)}; between-segment share of log revenue variance {between_share:.2f}")
    assert means[0] >= 5 * means[-1] and means[0] >= 1.5 * means[1] and between_share >= 0.5
    # CDNOW's own features, not the configured gold ones; nothing saved, nothing written.
    assert r.features == cdnow.FEATURES and all(set(s.means) == set(cdnow.FEATURES) for s in r.segments)
    assert (r.run_date, r.model_version, r.previous_run_date, r.transitions, r.rows_out) == (None, None, None, [], 0)
    assert r.source == str(cdnow_master())
    assert r.summary().startswith(f"profile CDNOW ({cdnow_master()}) as of {cdnow.AS_OF}: 23,570 customers, k = {r.k}")
    assert not [t.key for t in ALL_TABLES if lake.exists(spark, cdnow_lake.lake, t)]


def test_cdnow_segment_takes_cdnow_features_and_the_as_of_date(spark: SparkSession, config: Config) -> None:
    """cdnow.segment: the configured k, seed and iterations with CDNOW's features; only the customers who bought by ``as_of``."""
    as_of = dt.date(1997, 1, 31)  # the first month: few customers, quick
    pc = dataclasses.replace(config.profile, k=3)  # the config's features are gold.user_features columns CDNOW lacks
    fit, segments, assigned = cdnow.segment(spark, pc, str(cdnow_master()), as_of)
    tx = cdnow.read_cdnow(spark, str(cdnow_master())).where(F.col("order_date") <= F.lit(as_of))
    customers = tx.select("user_id").distinct().count()
    assert 0 < customers < 23_570 and fit.users == customers == sum(s.users for s in segments) == assigned.count()
    assert (fit.k, set(fit.silhouettes)) == (3, {3}) and len({s.name for s in segments}) == len(segments) == 3
    assert all(set(s.means) == set(cdnow.FEATURES) for s in segments)
    assert assigned.columns == ["user_id", "segment_id", "distance", *cdnow.FEATURES]
    stats = assigned.agg(F.max("tenure_days"), F.min("recency_days"), F.sum("revenue")).first()
    assert stats[0] <= 30 and stats[1] >= 0 and stats[2] == pytest.approx(tx.agg(F.sum("revenue")).first()[0])
    by_segment = {r.segment_id: r["count"] for r in assigned.groupBy("segment_id").count().collect()}
    assert by_segment == {s.segment_id: s.users for s in segments}


# ---- parameters, failure modes and small inputs ------------------------------------------------------

FEATURES = ("recency_days", "orders", "revenue")


def test_params_take_a_date_or_a_cdnow_file() -> None:
    with pytest.raises(ConfigError, match=r"profile takes --date D or --cdnow PATH"):
        ProfileParams()
    with pytest.raises(ConfigError, match=r"profile takes --date D or --cdnow PATH"):
        ProfileParams(GOLD_LAST_DAY, cdnow="CDNOW_master.txt")
    with pytest.raises(ConfigError, match=r"--score-only goes with --date \(a saved model\), not with --cdnow"):
        ProfileParams(cdnow="CDNOW_master.txt", score_only=True)


def small_users(spark: SparkSession, rows: list[tuple[int, int | None, int | None, float | None]]) -> DataFrame:
    df = spark.createDataFrame(rows, "user_id long, recency_days int, orders long, revenue double")
    return filled_features(df, FEATURES)


def small_config(config: Config, root: Path, *overrides: str) -> Config:
    return lake_config(config, root, f"profile.features=[{', '.join(FEATURES)}]", "profile.log_features=[orders, revenue]", *overrides)


def test_no_user_features_for_the_date_is_input_missing(spark: SparkSession, profile_lake: Config, config: Config, tmp_path: Path) -> None:
    table = re.escape(USER_FEATURES.qualified_name(profile_lake.lake))
    with pytest.raises(
        InputMissingError, match=rf"^{table} has no rows with as_of_date = 2019-09-01; run `ecomlake featurize --date 2019-09-01` first$"
    ):
        run(Context(spark, profile_lake), ProfileParams(dt.date(2019, 9, 1)))
    empty = lake_config(config, tmp_path)  # no table at all
    path = re.escape(USER_FEATURES.path(empty.lake))
    with pytest.raises(InputMissingError, match=rf"^{table} does not exist at {path}; run `ecomlake featurize --date 2019-10-28` first$"):
        run(Context(spark, empty), ProfileParams(GOLD_LAST_DAY))


def test_a_single_user_is_a_clear_error_and_writes_nothing(spark: SparkSession, config: Config, tmp_path: Path) -> None:
    cfg = small_config(config, tmp_path)
    lake.append(spark, cfg, USER_FEATURES, [{"user_id": 7, "as_of_date": GOLD_LAST_DAY, "recency_days": 3, "orders": 1, "revenue": 25.0}])
    table = re.escape(USER_FEATURES.qualified_name(cfg.lake))
    with pytest.raises(
        DataQualityError, match=rf"^{table} as of 2019-10-28: 1 user\(s\) with 1 distinct value\(s\).*KMeans needs at least 2 distinct users"
    ):
        run(Context(spark, cfg), ProfileParams(GOLD_LAST_DAY))
    assert not any(lake.exists(spark, cfg.lake, t) for t in (USER_SEGMENTS, SEGMENTS, SEGMENT_TRANSITIONS, MODEL_RUNS))


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
