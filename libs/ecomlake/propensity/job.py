"""``ecomlake propensity``: churn and purchase propensity models on gold.user_features + gold.labels.

For ``--date D`` with horizon H (``featurize.label_horizon_days``), the models train on the labels of
cut-off C, the latest gold.labels cut-off on or before D - H, with the features as of C (see
``propensity.dataset``). Per target (``propensity.targets``), every candidate of ``propensity.models``
(logistic regression, random forest, gradient-boosted trees) is fitted on the train users with class
weights, calibrated by isotonic regression on the validation users and evaluated on train, validation
and test users; the best validation ROC-AUC is chosen (ties: the first in config order), saved under
``registry.artifact_path`` as ``propensity_<target>`` and recorded in ml.model_runs with its test metrics.

Outputs: ml.propensity_metrics (every candidate x split; the run's rows replace those of the same
run date and model version) and gold.propensity_scores: the users of gold.user_features as of D
scored with the chosen models (the slice of run date D and the targets replaced in one commit).
``--score-only`` loads the newest models trained on or before D and only scores.

Degenerate data: no labels for a cut-off <= D - H or no features -> InputMissingError naming the
table and the featurize run; a target with one class in a split (say everybody churned) ->
DataQualityError naming the target. All-zero (or constant) features train without error: every
model predicts a constant, the ROC-AUC is 0.5, lift is about 1 and the calibrated probability is the
validation positive rate.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import logging
import time

from pyspark import StorageLevel
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ecomlake import lake
from ecomlake.config import Config
from ecomlake.errors import DataQualityError, InputMissingError
from ecomlake.featurize.labels import training_set
from ecomlake.job import Job, iso_date
from ecomlake.ml import registry
from ecomlake.propensity import schemas
from ecomlake.propensity.calibration import CALIBRATED, calibrated
from ecomlake.propensity.dataset import (
    SPLITS,
    class_weights,
    feature_columns,
    features_as_of,
    label_cutoff,
    with_label,
    with_split,
)
from ecomlake.propensity.metrics import SplitMetrics, evaluate, with_deciles
from ecomlake.propensity.models import candidate, fit, importances, with_raw_probability
from ecomlake.runinfo import new_run_id

log = logging.getLogger(__name__)

TOP_FEATURES = 10  # feature importances kept per candidate


@dataclasses.dataclass(frozen=True)
class TargetResult:
    """One target's model: the chosen candidate and, when trained, every candidate's metrics by split."""

    target: str
    model_type: str
    model_version: str
    metrics: dict[str, dict[str, SplitMetrics]]  # model type -> split -> metrics; empty with --score-only
    top_features: list[tuple[str, float]]  # of the chosen model; empty with --score-only
    scored_users: int


@dataclasses.dataclass(frozen=True)
class PropensityResult:
    run_date: dt.date
    cutoff_date: dt.date | None  # labels trained on; None with --score-only
    score_only: bool
    targets: tuple[TargetResult, ...]
    seconds: float


def model_name(target: str) -> str:
    """The registry name of a target's model."""
    return f"propensity_{target}"


def user_scores(model: PipelineModel, users: DataFrame, target: str, model_version: str, model_type: str, run_date: dt.date) -> DataFrame:
    """gold.propensity_scores rows: ``users`` (user_features rows) scored by a calibrated pipeline."""
    scored = with_deciles(with_raw_probability(model.transform(users)))
    return scored.select(
        "user_id",
        F.lit(target).alias("target"),
        F.col(CALIBRATED).alias("probability"),
        "raw_probability",
        "decile",
        F.lit(model_version).alias("model_version"),
        F.lit(model_type).alias("model_type"),
        F.lit(run_date).alias("run_date"),
        F.col("as_of_date").alias("features_as_of"),
    )


def train(spark: SparkSession, config: Config, run_date: dt.date) -> PropensityResult:
    """Train, choose, calibrate, save and record a model per target; score the users as of ``run_date``.

    Example:
        >>> r = train(spark, config, dt.date(2019, 10, 28))  # doctest: +SKIP
        >>> r.cutoff_date, r.targets[0].metrics[r.targets[0].model_type]["test"].roc_auc  # doctest: +SKIP
        (datetime.date(2019, 10, 21), 0.87)
    """
    t0, run_id, pc = time.perf_counter(), new_run_id(), config.propensity
    cutoff = label_cutoff(spark, config, run_date)
    users = features_as_of(spark, config, run_date)  # fail before training when there is nothing to score
    features = feature_columns(users.schema, pc.features)
    version = registry.model_version(run_date, pc)
    labelled = (
        with_split(training_set(spark, config, cutoff), pc.seed, pc.validation_fraction, pc.test_fraction)
        .select("user_id", "split", *pc.targets, *features)
        .repartition("user_id")
        .sortWithinPartitions("user_id")  # the same rows in the same order each run: seeded tree sampling repeats
    )
    # Every candidate of every target reads these rows several times (fit, calibration, evaluation).
    labelled = labelled.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        counts = _class_counts(labelled, pc.targets)
        if not counts:
            raise InputMissingError(
                f"no training rows: {lake.USER_FEATURES.qualified_name(config.lake)} as of {cutoff} has no users with labels of "
                f"cut-off {cutoff}; run `ecomlake featurize --date {cutoff}` to write its snapshot"
            )
        results, metric_rows, score_frames = [], [], []
        for target in pc.targets:
            _check_classes(counts, target, cutoff)
            trained = _train_target(labelled, target, features, counts, config)
            chosen = max(pc.models, key=lambda m: trained[m][1]["validation"].roc_auc)  # first in config order on ties
            model, chosen_metrics, top = trained[chosen]
            path = registry.artifact_path(config, model_name(target), version)
            model.write().overwrite().save(path)
            test, validation_aucs = chosen_metrics["test"], {m: trained[m][1]["validation"].roc_auc for m in pc.models}
            registry.record_run(
                spark,
                config,
                model_name(target),
                version,
                run_date,
                run_id,
                chosen_metrics["train"].rows,
                params={
                    "target": target,
                    "model_type": chosen,
                    "cutoff_date": cutoff,
                    "label_horizon_days": config.featurize.label_horizon_days,
                    "validation_roc_auc": validation_aucs,
                    "features": list(features),
                    "class_weights": dict(zip(("positive", "negative"), _weights(counts, target, pc.balance_classes), strict=True)),
                    "top_features": top,
                    "config": dataclasses.asdict(pc),
                },
                metrics={
                    "roc_auc": test.roc_auc,
                    "pr_auc": test.pr_auc,
                    "log_loss": test.log_loss,
                    "brier": test.brier,
                    "positive_rate": test.positive_rate,
                    "mean_probability": test.mean_probability,
                    "lift_top_decile": test.lift_top_decile,
                    "validation_roc_auc": validation_aucs[chosen],
                },
            )
            for model_type, (_, by_split, top_m) in trained.items():
                metric_rows += [_metric_row(run_date, cutoff, version, target, model_type, model_type == chosen, s, top_m) for s in by_split.values()]
            score_frames.append(user_scores(model, users, target, version, chosen, run_date))
            results.append((target, chosen, {m: t[1] for m, t in trained.items()}, top))
    finally:
        labelled.unpersist()
    _write_metrics(spark, config, metric_rows, run_date, version)
    scored = _write_scores(spark, config, score_frames, run_date)
    targets = tuple(TargetResult(t, chosen, version, m, top, scored[t]) for t, chosen, m, top in results)
    return PropensityResult(run_date, cutoff, False, targets, time.perf_counter() - t0)


def score(spark: SparkSession, config: Config, run_date: dt.date) -> PropensityResult:
    """Score the users as of ``run_date`` with the newest saved models trained on or before it (no training)."""
    t0 = time.perf_counter()
    users = features_as_of(spark, config, run_date)
    runs = [registry.latest_run(spark, config, model_name(t), run_date) for t in config.propensity.targets]
    frames = [
        user_scores(PipelineModel.load(r.artifact_path), users, t, r.version, r.params["model_type"], run_date)
        for t, r in zip(config.propensity.targets, runs, strict=True)
    ]
    scored = _write_scores(spark, config, frames, run_date)
    targets = tuple(
        TargetResult(t, r.params["model_type"], r.version, {}, [], scored[t]) for t, r in zip(config.propensity.targets, runs, strict=True)
    )
    return PropensityResult(run_date, None, True, targets, time.perf_counter() - t0)


def _train_target(
    labelled: DataFrame, target: str, features: tuple[str, ...], counts: dict[str, dict[str, int]], config: Config
) -> dict[str, tuple[PipelineModel, dict[str, SplitMetrics], list[tuple[str, float]]]]:
    """Every candidate fitted on train, calibrated on validation and evaluated on each split."""
    pc = config.propensity
    rows = with_label(labelled, target, *_weights(counts, target, pc.balance_classes))
    train_rows, validation_rows = rows.where(F.col("split") == "train"), rows.where(F.col("split") == "validation")
    trained = {}
    for model_type in pc.models:
        t = time.perf_counter()
        scratch = f"{config.spark.checkpoint_dir}/propensity/{target}/{model_type}"
        model = calibrated(fit(candidate(model_type, features, pc), train_rows, scratch), validation_rows)
        scored = with_raw_probability(model.transform(rows)).select("user_id", "split", "label", "raw_probability", CALIBRATED)
        # evaluate reads the scored users several times (totals, deciles, two AUCs per split).
        scored = scored.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            by_split = evaluate(scored)
        finally:
            scored.unpersist()
        trained[model_type] = (model, by_split, importances(model, features, TOP_FEATURES))
        log.info("propensity %s %s: validation ROC-AUC %.4f in %.1f s", target, model_type, by_split["validation"].roc_auc, time.perf_counter() - t)
    return trained


def _class_counts(labelled: DataFrame, targets: tuple[str, ...]) -> dict[str, dict[str, int]]:
    """{split: {"rows": n, <target>: positives}} (one small job)."""
    aggs = [F.count(F.lit(1)).alias("rows"), *[F.sum(F.col(t).cast("long")).alias(t) for t in targets]]
    return {r["split"]: {k: int(v) for k, v in r.asDict().items() if k != "split"} for r in labelled.groupBy("split").agg(*aggs).collect()}


def _check_classes(counts: dict[str, dict[str, int]], target: str, cutoff: dt.date) -> None:
    """Each split needs positives and negatives of ``target``: to fit, to calibrate and to measure."""
    for split in SPLITS:
        rows, positives = counts.get(split, {}).get("rows", 0), counts.get(split, {}).get(target, 0)
        if positives == 0 or positives == rows:
            everyone = sum(c["rows"] for c in counts.values())
            total = sum(c[target] for c in counts.values())
            raise DataQualityError(
                f"propensity target {target!r}: the {split} users ({rows:,}) of labels cut-off {cutoff} are all of one class "
                f"({total:,} of {everyone:,} users {target}); a classifier needs both. Wait for more labelled days, "
                f"or leave {target} out of propensity.targets"
            )


def _weights(counts: dict[str, dict[str, int]], target: str, balance: bool) -> tuple[float, float]:
    return class_weights(counts["train"]["rows"], counts["train"][target], balance)


def _metric_row(
    run_date: dt.date, cutoff: dt.date, version: str, target: str, model_type: str, is_chosen: bool, m: SplitMetrics, top: list[tuple[str, float]]
) -> tuple:
    lift = [(x.decile, x.rows, x.positives, x.positive_rate, x.lift) for x in m.lift]
    return (
        run_date, cutoff, version, target, model_type, is_chosen, m.split, m.rows, m.positives, m.positive_rate,
        m.mean_probability, m.roc_auc, m.pr_auc, m.log_loss, m.brier, m.lift_top_decile, lift, top,
    )  # fmt: skip


def _write_metrics(spark: SparkSession, config: Config, rows: list[tuple], run_date: dt.date, version: str) -> None:
    df = spark.createDataFrame(rows, schemas.PROPENSITY_METRICS.struct())
    where = f"run_date = '{run_date}' AND model_version = '{version}'"
    lake.write_table(df, config.lake, lake.PROPENSITY_METRICS, schema=schemas.PROPENSITY_METRICS, replace_where=where)


def _write_scores(spark: SparkSession, config: Config, frames: list[DataFrame], run_date: dt.date) -> dict[str, int]:
    """Replace the slice of (run_date, these targets) in one commit; returns the users scored per target."""
    df = frames[0]
    for f in frames[1:]:
        df = df.unionByName(f)
    targets = ", ".join(repr(t) for t in config.propensity.targets)
    where = f"run_date = '{run_date}' AND target IN ({targets})"
    lake.write_table(df, config.lake, lake.PROPENSITY_SCORES, schema=schemas.PROPENSITY_SCORES, replace_where=where)
    written = lake.read_table(spark, config.lake, lake.PROPENSITY_SCORES).where(F.col("run_date") == F.lit(run_date))
    return {r["target"]: r["count"] for r in written.groupBy("target").count().collect()}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--date", type=iso_date, required=True, help="train on the newest labels complete by this day; score its users (YYYY-MM-DD)")
    parser.add_argument("--score-only", action="store_true", help="score with the newest saved models trained on or before --date; no training")


def run(spark: SparkSession | None, config: Config, args: argparse.Namespace) -> PropensityResult:
    assert spark is not None
    r = score(spark, config, args.date) if args.score_only else train(spark, config, args.date)
    if r.score_only:
        print(f"propensity {r.run_date} --score-only in {r.seconds:.1f} s")
    else:
        print(
            f"propensity {r.run_date}: trained on labels of cut-off {r.cutoff_date} (features as of {r.cutoff_date}, "
            f"horizon {config.featurize.label_horizon_days} days) in {r.seconds:.1f} s"
        )
    for t in r.targets:
        print(f"  {t.target}: {t.model_type} {t.model_version}, {t.scored_users:,} users scored as of {r.run_date}")
        if t.metrics:
            print(metrics_table(t))
    return r


def metrics_table(t: TargetResult) -> str:
    """A target's candidates by split, the chosen model's test lift by decile and its top features, as text."""
    columns = ("rows", 6), ("pos.rate", 8), ("mean p", 7), ("ROC-AUC", 7), ("PR-AUC", 7), ("logloss", 7), ("brier", 6), ("lift@1", 6)
    lines = [f"    {'model':<20} {'split':<10} " + " ".join(f"{name:>{width}}" for name, width in columns)]
    for model_type, by_split in t.metrics.items():
        mark = "*" if model_type == t.model_type else " "
        for s in SPLITS:
            m = by_split[s]
            lines.append(
                f"   {mark}{model_type:<20} {s:<10} {m.rows:>6,} {m.positive_rate:>8.3f} {m.mean_probability:>7.3f} {m.roc_auc:>7.3f} "
                f"{m.pr_auc:>7.3f} {m.log_loss:>7.3f} {m.brier:>6.3f} {m.lift_top_decile:>6.2f}"
            )
    test = t.metrics[t.model_type]["test"]
    lines.append("    test lift by decile: " + " ".join(f"{x.lift:.2f}" for x in test.lift))
    lines.append("    top features: " + ", ".join(f"{n} {w:.2f}" for n, w in t.top_features[:5]))
    return "\n".join(lines)


JOB = Job("propensity", "Train churn and purchase propensity models (LR, RF, GBT; calibrated) and score users", add_arguments, run)
