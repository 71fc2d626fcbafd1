"""ecomlake propensity on the generated gold lake: metrics well above chance, calibration, reload, determinism, model
selection, failure modes.

The training run is the shared session fixture propensity_run (tests/spark/conftest.py), in propensity_lake: copies
of the job's two input tables (gold.labels and gold.user_features), small trees. Tests that write use lakes of their
own, so the shared gold_lake and propensity_lake stay as those runs left them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
import shutil
from pathlib import Path

import pytest
from pyspark.sql import Row, SparkSession
from pyspark.sql import functions as F

from ecomlake import artifacts, lake
from ecomlake.artifacts import ArtifactPathError
from ecomlake.catalog import LABELS, MODEL_RUNS, PROPENSITY_METRICS, PROPENSITY_SCORES, RUN_LEDGER, USER_FEATURES
from ecomlake.config import Config
from ecomlake.errors import DataQualityError, InputMissingError, NotDueError
from ecomlake.job import Context
from ecomlake.ml.registry import latest_run
from ecomlake.pipeline import job as pipeline
from ecomlake.propensity.dataset import NULLABLE_FEATURES, class_weights, feature_columns, labelled, with_split
from ecomlake.propensity.job import PropensityParams, PropensityResult, run
from ecomlake.propensity.selection import check_classes, class_counts, metric_records, metrics_table
from ecomlake.vocabulary import SPLITS
from tests.support import GOLD_CUTOFF, GOLD_HORIZON, GOLD_LAST_DAY, GOLD_START, PROPENSITY_SMALL, copy_tables, lake_config


def lake_copy(gold_lake: Config, root: Path, *overrides: str) -> Config:
    """A lake holding copies of the job's inputs, for tests that write."""
    cfg = lake_config(gold_lake, root, f"featurize.label_horizon_days={GOLD_HORIZON}", *PROPENSITY_SMALL, *overrides)
    copy_tables(gold_lake, cfg, LABELS, USER_FEATURES)
    return cfg


def relocate_models(spark: SparkSession, source: Config, target: Config) -> None:
    """Copy source's saved models into target's models folder and point target's ml.model_runs rows at the copies."""
    shutil.copytree(f"{source.lake.root}/models", f"{target.lake.root}/models")
    runs = lake.read(spark, target, MODEL_RUNS)
    moved = F.concat(F.lit(target.lake.root), F.expr(f"substring(artifact_path, {len(source.lake.root) + 1})"))
    lake.write(runs.withColumn("artifact_path", moved), target, MODEL_RUNS)


@pytest.fixture(scope="module")
def scores(spark: SparkSession, propensity_lake: Config, propensity_run: PropensityResult) -> list[Row]:
    """The training run's gold.propensity_scores, by target and user."""
    return lake.read(spark, propensity_lake, PROPENSITY_SCORES).orderBy("target", "user_id").collect()


def test_propensity_ranks_well_above_chance_and_is_calibrated(spark: SparkSession, propensity_lake: Config, propensity_run: PropensityResult) -> None:
    cfg, r = propensity_lake, propensity_run
    assert r.cutoff_date == GOLD_CUTOFF and r.horizon_days == GOLD_HORIZON and not r.score_only
    for t in r.targets:
        print(f"\n{t.target} (chosen {t.model_type}):\n{metrics_table(t.selection)}")
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
    df = lake.read(spark, cfg, PROPENSITY_SCORES)
    assert df.columns == PROPENSITY_SCORES.schema().names
    users = lake.read(spark, cfg, USER_FEATURES, {"as_of_date": GOLD_LAST_DAY}).count()
    stats = df.groupBy("target").agg(
        F.count("*").alias("n"), F.min("probability"), F.max("probability"), F.min("decile"), F.max("decile"), F.countDistinct("features_as_of")
    )
    for row in stats.collect():
        assert row["n"] == users and 0 <= row[2] <= row[3] <= 1 and (row[4], row[5], row[6]) == (1, 10, 1)
    assert all(t.scored_users == users for t in r.targets) and r.rows_out == 2 * users
    # Higher deciles hold lower raw probabilities.
    deciles = df.groupBy("target", "decile").agg(F.min("raw_probability").alias("lo"), F.max("raw_probability").alias("hi")).collect()
    for target in by_target:
        ds = sorted((d for d in deciles if d["target"] == target), key=lambda d: d["decile"])
        assert all(a["lo"] >= b["hi"] for a, b in zip(ds, ds[1:], strict=False))

    metrics = lake.read(spark, cfg, PROPENSITY_METRICS)
    assert metrics.columns == PROPENSITY_METRICS.schema().names
    assert metrics.count() == 2 * 3 * 3 and metrics.where("is_chosen").count() == 2 * 3
    runs = lake.read(spark, cfg, MODEL_RUNS).where(F.col("model").startswith("propensity_")).collect()
    assert sorted(r.model for r in runs) == ["propensity_churned", "propensity_purchased"]
    assert all(r.metrics["roc_auc"] >= 0.65 and Path(r.artifact_path).is_dir() for r in runs)
    # What the run record and the CLI get.
    assert r.figures() == {f"{t.target}_test_roc_auc": t.metrics[t.model_type]["test"].roc_auc for t in r.targets}
    assert r.summary().startswith(
        f"propensity {GOLD_LAST_DAY}: trained on labels of cut-off {GOLD_CUTOFF} (features as of {GOLD_CUTOFF}, horizon {GOLD_HORIZON} days)"
    )


def test_selection_chooses_by_validation_and_its_records_are_the_metrics_table(
    spark: SparkSession, propensity_lake: Config, propensity_run: PropensityResult
) -> None:
    cfg = propensity_lake
    stored = lake.read(spark, cfg, PROPENSITY_METRICS).collect()
    training = labelled(
        lake.read(spark, cfg, USER_FEATURES, {"as_of_date": GOLD_CUTOFF}), lake.read(spark, cfg, LABELS, {"cutoff_date": GOLD_CUTOFF})
    )
    counts = class_counts(with_split(training, cfg.propensity.seed, cfg.propensity.validation_fraction, cfg.propensity.test_fraction), ["churned"])
    for t in propensity_run.targets:
        s = t.selection
        assert s is not None and s.target == t.target and list(s.candidates) == list(cfg.propensity.models)  # config order
        aucs = s.validation_aucs()
        assert s.chosen.model_type == t.model_type == next(m for m in aucs if aucs[m] == max(aucs.values()))  # ties: the first
        assert all(set(c.metrics) == set(SPLITS) and c.metrics[split].split == split for c in s.candidates.values() for split in SPLITS)
        if t.target == "churned":  # the class weights balance the train users' classes
            assert s.class_weights == pytest.approx(
                class_weights(counts["train"]["rows"], counts["train"]["churned"], cfg.propensity.balance_classes)
            )
            assert {split: c["rows"] for split, c in counts.items()} == {split: m.rows for split, m in s.chosen.metrics.items()}
        records = metric_records(s, GOLD_LAST_DAY, GOLD_CUTOFF, t.model_version)
        assert len(records) == 3 * 3 and all(set(rec) == set(PROPENSITY_METRICS.schema().names) for rec in records)
        assert {(rec["model_type"], rec["split"]) for rec in records if rec["is_chosen"]} == {(t.model_type, split) for split in SPLITS}
        table = {(row.model_type, row.split): row for row in stored if row.target == t.target}
        for rec in records:
            row = table[rec["model_type"], rec["split"]]
            assert (row.run_date, row.cutoff_date, row.model_version, row.is_chosen) == (
                GOLD_LAST_DAY,
                GOLD_CUTOFF,
                t.model_version,
                rec["is_chosen"],
            )
            assert (row.rows, row.positives, row.roc_auc, row.lift_top_decile) == (
                rec["rows"],
                rec["positives"],
                rec["roc_auc"],
                rec["lift_top_decile"],
            )
            assert [tuple(x) for x in row.lift] == [tuple(x) for x in rec["lift"]] and [tuple(x) for x in row.top_features] == [
                tuple(x) for x in rec["top_features"]
            ]
        # The text table: a row per candidate and split, the chosen one starred, then its test lift and top features.
        lines = metrics_table(s).splitlines()
        assert len(lines) == 1 + 3 * 3 + 2 and sum(line.startswith("   *") for line in lines) == 3
        assert all(t.model_type in line for line in lines if line.startswith("   *"))
        assert lines[-2].startswith("    test lift by decile: ") and lines[-1].startswith("    top features: " + s.chosen.top_features[0][0])


def test_class_counts_and_the_one_class_check(spark: SparkSession) -> None:
    rows = [("train", True, False), ("train", False, False), ("train", True, True), ("validation", False, True), ("validation", True, None)]
    rows += [("test", True, True), ("test", False, False)]
    df = spark.createDataFrame(rows, "split string, churned boolean, purchased boolean")
    counts = class_counts(df, ["churned", "purchased"])
    assert counts == {
        "train": {"rows": 3, "churned": 2, "purchased": 1},
        "validation": {"rows": 2, "churned": 1, "purchased": 1},
        "test": {"rows": 2, "churned": 1, "purchased": 1},
    }
    for target in ("churned", "purchased"):
        check_classes(counts, target, GOLD_CUTOFF)  # both classes in every split
    one_class = {**counts, "validation": {"rows": 2, "churned": 2, "purchased": 0}}
    with pytest.raises(
        DataQualityError,
        match=r"^propensity target 'churned': the validation users \(2\) of labels cut-off 2019-10-21 are all of one class "
        r"\(5 of 7 users churned\); a classifier needs both\. Wait for more labelled days, or leave churned out of propensity\.targets$",
    ):
        check_classes(one_class, "churned", GOLD_CUTOFF)
    with pytest.raises(DataQualityError, match=r"'purchased': the validation users \(2\) .* \(2 of 7 users purchased\)"):
        check_classes(one_class, "purchased", GOLD_CUTOFF)
    no_test = {split: c for split, c in counts.items() if split != "test"}
    with pytest.raises(DataQualityError, match=r"'churned': the test users \(0\) of labels cut-off 2019-10-21"):
        check_classes(no_test, "churned", GOLD_CUTOFF)


def test_score_only_reloads_the_models_and_gives_the_same_scores(
    spark: SparkSession, propensity_lake: Config, propensity_run: PropensityResult, scores: list[Row], tmp_path: Path
) -> None:
    cfg = lake_config(propensity_lake, tmp_path, f"featurize.label_horizon_days={GOLD_HORIZON}", *PROPENSITY_SMALL)
    copy_tables(propensity_lake, cfg, USER_FEATURES, MODEL_RUNS)  # the model runs point at propensity_lake's saved models ...
    with pytest.raises(ArtifactPathError, match=r"^propensity_churned \d{8}-[0-9a-f]{8} \(run .*\): the recorded path .* is not inside "):
        run(Context(spark, cfg), PropensityParams(GOLD_LAST_DAY, score_only=True))  # ... outside this lake's models folder: refused
    relocate_models(spark, propensity_lake, cfg)
    again = run(Context(spark, cfg), PropensityParams(GOLD_LAST_DAY, score_only=True))
    r = propensity_run
    assert again.score_only and again.cutoff_date is None and [t.model_type for t in again.targets] == [t.model_type for t in r.targets]
    assert [t.model_version for t in again.targets] == [t.model_version for t in r.targets]
    assert all(t.selection is None and t.metrics == {} and t.top_features == [] for t in again.targets) and again.figures() == {}
    assert [t.scored_users for t in again.targets] == [t.scored_users for t in r.targets]
    reloaded = lake.read(spark, cfg, PROPENSITY_SCORES).orderBy("target", "user_id").collect()
    assert reloaded == scores
    assert not lake.exists(spark, cfg.lake, PROPENSITY_METRICS)  # nothing trained, nothing measured
    saved = latest_run(spark, cfg, "propensity_churned", GOLD_LAST_DAY)
    assert saved.params["cutoff_date"] == str(GOLD_CUTOFF)
    assert saved.files and list(saved.files) == artifacts.scan(saved.artifact_path)  # every file of the saved pipeline, hashed when saved
    assert again.summary().splitlines()[:2] == [
        f"propensity {GOLD_LAST_DAY} --score-only",
        f"  {again.targets[0].target}: {again.targets[0].model_type} {again.targets[0].model_version}, "
        f"{again.targets[0].scored_users:,} users scored as of {GOLD_LAST_DAY}",
    ]


def test_a_rerun_gives_the_same_metrics(spark: SparkSession, gold_lake: Config, propensity_run: PropensityResult, tmp_path: Path) -> None:
    """Seeded split and seeded forests: a candidate trained again on the same data gives the same figures."""
    cfg = lake_copy(gold_lake, tmp_path, "propensity.targets=[purchased]", "propensity.models=[random_forest]")
    again = run(Context(spark, cfg), PropensityParams(GOLD_LAST_DAY))
    before = next(t for t in propensity_run.targets if t.target == "purchased").metrics["random_forest"]
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
    features = feature_columns(lake.read(spark, gold_lake, USER_FEATURES).schema, None)
    assert "user_id" not in features and "r_score" in features and set(features) >= NULLABLE_FEATURES


def test_labelled_joins_the_cutoffs_features_to_its_labels(spark: SparkSession) -> None:
    """dataset.labelled: one row per user with both a snapshot and a label of the cut-off; the label's cut-off column dropped."""
    day = GOLD_CUTOFF
    features = spark.createDataFrame([(1, day, 3), (2, day, 0), (3, day, 5)], "user_id long, as_of_date date, orders int")
    labels = spark.createDataFrame([(1, day, 7, True, False), (3, day, 7, False, True), (4, day, 7, True, False)], LABELS.schema().struct())
    rows = labelled(features, labels)
    assert rows.columns == ["user_id", "as_of_date", "orders", "horizon_days", "churned", "purchased"]
    assert sorted(tuple(r) for r in rows.collect()) == [(1, day, 3, 7, True, False), (3, day, 5, 7, False, True)]


def test_labels_not_due_yet_versus_labels_missing(spark: SparkSession, gold_lake: Config) -> None:
    """Not due only while the lake is younger than the horizon; after that, absent labels are missing (featurize never wrote them)."""
    table = re.escape(LABELS.qualified_name(gold_lake.lake))
    young = GOLD_START + dt.timedelta(days=GOLD_HORIZON - 1)  # D - 7 = 09-30: the day before the lake's first
    with pytest.raises(
        NotDueError,
        match=rf"^{table} has no labels with a 7-day horizon for a cut-off on or before 2019-09-30 \(run date 2019-10-07 - "
        r"featurize.label_horizon_days\): not due yet, the lake's first day is 2019-10-01 and labels need 7 days of events after their "
        r"cut-off; the first ones \(cut-off 2019-10-01\) come with `ecomlake featurize --date 2019-10-08`$",
    ):
        run(Context(spark, gold_lake), PropensityParams(young))
    early = dt.date(2019, 10, 20)  # D - 7 = 10-13: after the lake's first day, before its first cut-off (10-14)
    with pytest.raises(
        InputMissingError,
        match=rf"^{table} has no labels with a 7-day horizon for a cut-off on or before 2019-10-13 \(run date 2019-10-20 - "
        r"featurize.label_horizon_days\): `ecomlake featurize --date 2019-10-20` writes the labels of cut-off 2019-10-13$",
    ) as missing:
        run(Context(spark, gold_lake), PropensityParams(early))
    assert not isinstance(missing.value, NotDueError)


def test_no_features_for_the_cutoff_is_input_missing(spark: SparkSession, gold_lake: Config) -> None:
    table = re.escape(USER_FEATURES.qualified_name(gold_lake.lake))
    # D = the cut-off day: its labels' cut-off is 10-14, whose user_features snapshot was never built.
    with pytest.raises(
        InputMissingError,
        match=rf"^no training rows: {table} as of 2019-10-14 has no users with labels of cut-off 2019-10-14; "
        r"run `ecomlake featurize --date 2019-10-14` to write its snapshot$",
    ) as no_rows:
        run(Context(spark, gold_lake), PropensityParams(GOLD_CUTOFF))
    with pytest.raises(
        InputMissingError, match=rf"^{table} has no rows with as_of_date = 2019-10-27; run `ecomlake featurize --date 2019-10-27` first$"
    ) as no_snapshot:
        run(Context(spark, gold_lake), PropensityParams(GOLD_LAST_DAY.replace(day=27)))
    assert not isinstance(no_rows.value, NotDueError) and not isinstance(no_snapshot.value, NotDueError)


def test_a_missing_features_table_fails_the_pipeline_step(spark: SparkSession, gold_lake: Config, tmp_path: Path) -> None:
    """The labels are due and there; gold.user_features is gone: the step fails (exit 3) naming it, it is not skipped."""
    cfg = lake_config(gold_lake, tmp_path, f"featurize.label_horizon_days={GOLD_HORIZON}")
    copy_tables(gold_lake, cfg, LABELS)
    table = re.escape(USER_FEATURES.qualified_name(cfg.lake))
    with pytest.raises(InputMissingError, match=rf"^step propensity for {GOLD_LAST_DAY} failed: InputMissingError: {table} does not exist at ") as e:
        pipeline.run(Context(spark, cfg), pipeline.PipelineParams(date=GOLD_LAST_DAY, only_step="propensity"))
    assert e.value.exit_code == 3
    recorded = lake.read(spark, cfg, RUN_LEDGER).where(F.col("status") != "running").collect()
    assert [(r.job, r.status) for r in recorded] == [("propensity", "failed")] and recorded[0].error.startswith("InputMissingError: ")


def test_a_single_class_target_is_a_data_quality_error(spark: SparkSession, gold_lake: Config, tmp_path: Path) -> None:
    cfg = lake_copy(gold_lake, tmp_path)
    labels = lake.read(spark, cfg, LABELS, {"cutoff_date": GOLD_CUTOFF})
    everybody_churned = labels.withColumn("churned", F.lit(True))
    lake.write(everybody_churned, cfg, LABELS, {"cutoff_date": GOLD_CUTOFF})
    with pytest.raises(
        DataQualityError,
        match=r"^propensity target 'churned': the train users \([\d,]+\) of labels cut-off 2019-10-21 are all of one class "
        r"\((?P<n>[\d,]+) of (?P=n) users churned\); a classifier needs both\. "
        r"Wait for more labelled days, or leave churned out of propensity\.targets$",
    ):
        run(Context(spark, cfg), PropensityParams(GOLD_LAST_DAY))
    assert not any(lake.exists(spark, cfg.lake, t) for t in (PROPENSITY_SCORES, PROPENSITY_METRICS, MODEL_RUNS))  # nothing written
    runs_table = re.escape(MODEL_RUNS.qualified_name(cfg.lake))
    with pytest.raises(
        InputMissingError,
        match=rf"^no propensity_churned model trained on or before 2019-10-28 in {runs_table}; "
        rf"run `ecomlake propensity --date D` \(D <= 2019-10-28\) first$",
    ):
        run(Context(spark, cfg), PropensityParams(GOLD_LAST_DAY, score_only=True))  # nothing trained yet


def test_all_zero_features_train_to_a_constant_model(spark: SparkSession, gold_lake: Config, tmp_path: Path) -> None:
    """Documented: no crash; AUC 0.5; every user gets the validation positive rate."""
    cfg = lake_copy(gold_lake, tmp_path, "propensity.targets=[churned]", "propensity.trees=3", "propensity.max_depth=2")
    uf = lake.read(spark, cfg, USER_FEATURES)
    features = feature_columns(uf.schema, None)
    zeros = uf.select(*[(F.lit(0).cast(uf.schema[c].dataType).alias(c) if c in features else F.col(c)) for c in uf.columns])
    lake.write(zeros, cfg, USER_FEATURES)
    r = run(Context(spark, cfg), PropensityParams(GOLD_LAST_DAY))
    t = r.targets[0]
    for by_split in t.metrics.values():
        assert by_split["validation"].roc_auc == pytest.approx(0.5) and by_split["test"].roc_auc == pytest.approx(0.5)
    assert t.model_type == cfg.propensity.models[0]  # every candidate ties: the first in config order
    assert t.top_features == []
    probabilities = [row[0] for row in lake.read(spark, cfg, PROPENSITY_SCORES).select("probability").distinct().collect()]
    assert probabilities == [pytest.approx(t.metrics[t.model_type]["validation"].positive_rate)]
