"""ecomlake propensity on the generated gold lake: metrics well above chance, calibration, reload, determinism, failure modes.

The job writes its tables and models into copies of the gold lake's two input tables (gold.labels and
gold.user_features), so the shared gold_lake stays read-only. Trees are kept small to stay quick.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from ecomlake import lake
from ecomlake.config import Config
from ecomlake.errors import DataQualityError, InputMissingError
from ecomlake.featurize import schemas as gold_schemas
from ecomlake.ml.registry import latest_run
from ecomlake.propensity import schemas
from ecomlake.propensity.dataset import NULLABLE_FEATURES, feature_columns, with_split
from ecomlake.propensity.job import PropensityResult, metrics_table, score, train
from tests.conftest import lake_config
from tests.spark.conftest import GOLD_CUTOFF, GOLD_HORIZON, GOLD_LAST_DAY

SMALL = ("propensity.trees=10", "propensity.max_depth=3")


def lake_copy(gold_lake: Config, root: Path, *overrides: str) -> Config:
    """A lake holding copies of the job's inputs, for tests that write."""
    for table in (lake.LABELS, lake.USER_FEATURES):
        shutil.copytree(table.path(gold_lake.lake), root / table.layer / table.name)
    return lake_config(gold_lake, root, f"featurize.label_horizon_days={GOLD_HORIZON}", *SMALL, *overrides)


@pytest.fixture(scope="module")
def trained(spark: SparkSession, gold_lake: Config, tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, PropensityResult, list]:
    """One training run for the last day: both targets, all three candidates."""
    cfg = lake_copy(gold_lake, tmp_path_factory.mktemp("propensity"))
    result = train(spark, cfg, GOLD_LAST_DAY)
    scores = lake.read_table(spark, cfg.lake, lake.PROPENSITY_SCORES).orderBy("target", "user_id").collect()
    return cfg, result, scores


def test_propensity_ranks_well_above_chance_and_is_calibrated(spark: SparkSession, trained: tuple[Config, PropensityResult, list]) -> None:
    cfg, r, scores = trained
    assert r.cutoff_date == GOLD_CUTOFF
    for t in r.targets:
        print(f"\n{t.target} (chosen {t.model_type}):\n{metrics_table(t)}")
    by_target = {t.target: t for t in r.targets}
    assert set(by_target) == {"churned", "purchased"}
    for target, floor in (("churned", 0.70), ("purchased", 0.65)):
        t = by_target[target]
        validation = {m: s["validation"].roc_auc for m, s in t.metrics.items()}
        assert t.model_type == max(validation, key=validation.__getitem__)
        test = t.metrics[t.model_type]["test"]
        assert test.roc_auc >= floor, f"{target}: test ROC-AUC {test.roc_auc:.3f}"
        assert test.pr_auc > test.positive_rate  # better than a random ranking
        assert test.lift_top_decile > 1.5 and len(test.lift) == 10 and sum(x.rows for x in test.lift) == test.rows
        # Calibrated on validation users, the mean probability on test users is their positive rate within sampling error.
        sd = math.sqrt(test.positive_rate * (1 - test.positive_rate) / test.rows)
        assert abs(test.mean_probability - test.positive_rate) <= 3 * sd, f"{target}: {test.mean_probability:.3f} vs {test.positive_rate:.3f}"
        assert 0 < t.top_features[0][1] <= 1 and t.scored_users > 2_500

    # The scores: every user as of the last day, each target, probabilities in [0, 1], deciles 1..10.
    df = lake.read_table(spark, cfg.lake, lake.PROPENSITY_SCORES)
    assert df.columns == schemas.PROPENSITY_SCORES.names
    users = lake.read_table(spark, cfg.lake, lake.USER_FEATURES).where(F.col("as_of_date") == F.lit(GOLD_LAST_DAY)).count()
    stats = df.groupBy("target").agg(
        F.count("*").alias("n"), F.min("probability"), F.max("probability"), F.min("decile"), F.max("decile"), F.countDistinct("features_as_of")
    )
    for row in stats.collect():
        assert row["n"] == users and 0 <= row[2] <= row[3] <= 1 and (row[4], row[5], row[6]) == (1, 10, 1)
    # Higher deciles hold lower raw probabilities.
    deciles = df.groupBy("target", "decile").agg(F.min("raw_probability").alias("lo"), F.max("raw_probability").alias("hi")).collect()
    for target in by_target:
        ds = sorted((d for d in deciles if d["target"] == target), key=lambda d: d["decile"])
        assert all(a["lo"] >= b["hi"] for a, b in zip(ds, ds[1:], strict=False))

    metrics = lake.read_table(spark, cfg.lake, lake.PROPENSITY_METRICS)
    assert metrics.columns == schemas.PROPENSITY_METRICS.names
    assert metrics.count() == 2 * 3 * 3 and metrics.where("is_chosen").count() == 2 * 3
    runs = lake.read_table(spark, cfg.lake, lake.MODEL_RUNS).where(F.col("model").startswith("propensity_")).collect()
    assert sorted(r.model for r in runs) == ["propensity_churned", "propensity_purchased"]
    assert all(r.metrics["roc_auc"] >= 0.65 and Path(r.artifact_path).is_dir() for r in runs)


def test_score_only_reloads_the_models_and_gives_the_same_scores(spark: SparkSession, trained: tuple[Config, PropensityResult, list]) -> None:
    cfg, r, scores = trained
    again = score(spark, cfg, GOLD_LAST_DAY)
    assert again.score_only and [t.model_type for t in again.targets] == [t.model_type for t in r.targets]
    reloaded = lake.read_table(spark, cfg.lake, lake.PROPENSITY_SCORES).orderBy("target", "user_id").collect()
    assert reloaded == scores
    assert latest_run(spark, cfg, "propensity_churned", GOLD_LAST_DAY).params["cutoff_date"] == str(GOLD_CUTOFF)


def test_a_rerun_gives_the_same_metrics(
    spark: SparkSession, gold_lake: Config, trained: tuple[Config, PropensityResult, list], tmp_path: Path
) -> None:
    """Seeded split and seeded forests: a candidate trained again on the same data gives the same figures."""
    _, first, _ = trained
    cfg = lake_copy(gold_lake, tmp_path, "propensity.targets=[purchased]", "propensity.models=[random_forest]")
    again = train(spark, cfg, GOLD_LAST_DAY)
    before = next(t for t in first.targets if t.target == "purchased").metrics["random_forest"]
    assert rounded(again.targets[0].metrics["random_forest"]) == rounded(before)


def rounded(value: object) -> object:
    """``value`` with every float rounded to 12 significant digits: sums of doubles may differ in the last bit with partitioning."""
    if isinstance(value, float):
        return float(f"{value:.12g}")
    if dataclasses.is_dataclass(value):
        return rounded(dataclasses.asdict(value))  # type: ignore[arg-type]
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(v) for v in value]
    return value


def test_split_is_deterministic_and_near_the_configured_fractions(spark: SparkSession, gold_lake: Config) -> None:
    users = spark.range(20_000).withColumnRenamed("id", "user_id")
    first = with_split(users, 42, 0.2, 0.2)
    second = with_split(users.repartition(7), 42, 0.2, 0.2)
    assert first.exceptAll(second).count() == 0
    shares = {r["split"]: r["count"] / 20_000 for r in first.groupBy("split").count().collect()}
    assert abs(shares["test"] - 0.2) < 0.02 and abs(shares["validation"] - 0.2) < 0.02
    features = feature_columns(lake.read_table(spark, gold_lake.lake, lake.USER_FEATURES).schema, None)
    assert "user_id" not in features and "r_score" in features and set(features) >= NULLABLE_FEATURES


def test_no_labels_for_a_complete_cutoff_names_the_table_and_the_featurize_run(spark: SparkSession, gold_lake: Config) -> None:
    import datetime as dt

    early = dt.date(2019, 10, 20)  # D - 7 = 10-13: before the first cut-off (10-14)
    with pytest.raises(InputMissingError, match=r"gold_labels .* on or before 2019-10-13.*ecomlake featurize --date 2019-10-20"):
        train(spark, gold_lake, early)


def test_no_features_for_the_cutoff_is_input_missing(spark: SparkSession, gold_lake: Config) -> None:
    # D = the cut-off day: its labels' cut-off is 10-14, whose user_features snapshot was never built.
    with pytest.raises(InputMissingError, match=r"no training rows.*ecomlake featurize --date 2019-10-14"):
        train(spark, gold_lake, GOLD_CUTOFF)
    with pytest.raises(InputMissingError, match=r"gold_user_features has no users as of 2019-10-27"):
        train(spark, gold_lake, GOLD_LAST_DAY.replace(day=27))


def test_a_single_class_target_is_a_data_quality_error(spark: SparkSession, gold_lake: Config, tmp_path: Path) -> None:
    cfg = lake_copy(gold_lake, tmp_path)
    labels = lake.read_table(spark, cfg.lake, lake.LABELS).where(F.col("cutoff_date") == F.lit(GOLD_CUTOFF))
    everybody_churned = labels.withColumn("churned", F.lit(True))
    lake.write_table(everybody_churned, cfg.lake, lake.LABELS, schema=gold_schemas.LABELS, replace_where=f"cutoff_date = '{GOLD_CUTOFF}'")
    with pytest.raises(DataQualityError, match=r"target 'churned'.*all of one class.*propensity.targets"):
        train(spark, cfg, GOLD_LAST_DAY)
    with pytest.raises(InputMissingError, match=r"no propensity_churned model trained on or before"):
        score(spark, cfg, GOLD_LAST_DAY)  # nothing trained yet


def test_all_zero_features_train_to_a_constant_model(spark: SparkSession, gold_lake: Config, tmp_path: Path) -> None:
    """Documented: no crash; AUC 0.5; every user gets the validation positive rate."""
    cfg = lake_copy(gold_lake, tmp_path, "propensity.targets=[churned]", "propensity.trees=3", "propensity.max_depth=2")
    uf = lake.read_table(spark, cfg.lake, lake.USER_FEATURES)
    features = feature_columns(uf.schema, None)
    zeros = uf.select(*[(F.lit(0).cast(uf.schema[c].dataType).alias(c) if c in features else F.col(c)) for c in uf.columns])
    lake.write_table(zeros, cfg.lake, lake.USER_FEATURES)
    r = train(spark, cfg, GOLD_LAST_DAY)
    t = r.targets[0]
    for by_split in t.metrics.values():
        assert by_split["validation"].roc_auc == pytest.approx(0.5) and by_split["test"].roc_auc == pytest.approx(0.5)
    assert t.top_features == []
    probabilities = [row[0] for row in lake.read_table(spark, cfg.lake, lake.PROPENSITY_SCORES).select("probability").distinct().collect()]
    assert probabilities == [pytest.approx(t.metrics[t.model_type]["validation"].positive_rate)]
