"""``ecomlake propensity``: churn and purchase propensity models on gold.user_features + gold.labels.

For ``--date D`` with horizon H (``featurize.label_horizon_days``), the models train on the labels of
cut-off C, the latest gold.labels cut-off on or before D - H, with the features as of C (see
:mod:`ecomlake.propensity.dataset`). Per target (``propensity.targets``) the candidates are fitted,
calibrated and compared (:mod:`ecomlake.propensity.selection`); the chosen one is saved under
``registry.artifact_path`` as ``propensity_<target>`` and recorded in ml.model_runs with its test metrics.

Outputs: ml.propensity_metrics (every candidate x split; the run's rows replace those of the same
run date and model version) and gold.propensity_scores: the users of gold.user_features as of D
scored with the chosen models (the slice of run date D and the targets replaced in one commit).
``--score-only`` loads the newest models trained on or before D and only scores; a model is loaded only
from under ``<lake.root>/models/propensity_<target>/`` and only when its files are byte for byte those whose
sha256 its training run recorded in ml.model_runs (its SQLTransformer statement runs on the users).

Not due: no labels for a cut-off <= D - H while the lake's first day (gold.sessions' first session
date, from which featurize writes labels) is after D - H -> NotDueError (the pipeline skips the step;
alone, exit 3). Degenerate data: no such labels although the lake began on or before D - H, or no
features -> InputMissingError naming the table and the featurize run; a target with one class in a
split -> DataQualityError naming the target.
All-zero (or constant) features train without error: every model predicts a constant, the ROC-AUC is
0.5, lift is about 1 and the calibrated probability is the validation positive rate.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from pyspark import StorageLevel
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ecomlake import lake
from ecomlake.catalog import LABELS, PROPENSITY_METRICS, PROPENSITY_SCORES, USER_FEATURES
from ecomlake.errors import InputMissingError, NotDueError
from ecomlake.job import Context, SparkJob, iso_date
from ecomlake.ml import registry
from ecomlake.pipeline import due
from ecomlake.propensity.calibration import CALIBRATED
from ecomlake.propensity.dataset import feature_columns, labelled, with_split
from ecomlake.propensity.metrics import SplitMetrics, with_deciles
from ecomlake.propensity.models import with_raw_probability
from ecomlake.propensity.selection import Selection, check_classes, class_counts, metric_records, metrics_table, select


@dataclass(frozen=True)
class PropensityParams:
    date: dt.date  # train on the newest labels complete by this day; score its users
    score_only: bool = False  # score with the newest saved models; no training


@dataclass(frozen=True)
class TargetResult:
    """One target's model: the chosen candidate and, when trained, the comparison of every candidate."""

    target: str
    model_type: str
    model_version: str
    selection: Selection | None  # None with --score-only
    scored_users: int

    @property
    def metrics(self) -> dict[str, dict[str, SplitMetrics]]:
        """model type -> split -> metrics; empty with --score-only."""
        return {m: c.metrics for m, c in self.selection.candidates.items()} if self.selection else {}

    @property
    def top_features(self) -> list[tuple[str, float]]:
        """Of the chosen model; empty with --score-only."""
        return self.selection.chosen.top_features if self.selection else []


@dataclass(frozen=True)
class PropensityResult:
    run_date: dt.date
    cutoff_date: dt.date | None  # labels trained on; None with --score-only
    horizon_days: int
    score_only: bool
    targets: tuple[TargetResult, ...]

    @property
    def rows_in(self) -> None:
        return None

    @property
    def rows_out(self) -> int:
        return sum(t.scored_users for t in self.targets)

    def figures(self) -> Mapping[str, float]:
        return {f"{t.target}_test_roc_auc": t.metrics[t.model_type]["test"].roc_auc for t in self.targets if t.metrics}

    def summary(self) -> str:
        if self.score_only:
            lines = [f"propensity {self.run_date} --score-only"]
        else:
            lines = [
                f"propensity {self.run_date}: trained on labels of cut-off {self.cutoff_date} (features as of {self.cutoff_date}, "
                f"horizon {self.horizon_days} days)"
            ]
        for t in self.targets:
            lines.append(f"  {t.target}: {t.model_type} {t.model_version}, {t.scored_users:,} users scored as of {self.run_date}")
            if t.selection is not None:
                lines.append(metrics_table(t.selection))
        return "\n".join(lines)


def model_name(target: str) -> str:
    """The registry name of a target's model."""
    return f"propensity_{target}"


def run(ctx: Context, params: PropensityParams) -> PropensityResult:
    """Train, choose, calibrate, save and record a model per target, then score the users as of the date; or only score.

    Example:
        >>> r = run(ctx, PropensityParams(dt.date(2019, 10, 28)))  # doctest: +SKIP
        >>> r.cutoff_date, r.targets[0].metrics[r.targets[0].model_type]["test"].roc_auc  # doctest: +SKIP
        (datetime.date(2019, 10, 21), 0.87)
    """
    return _score(ctx, params.date) if params.score_only else _train(ctx, params.date)


def _users(ctx: Context, run_date: dt.date) -> DataFrame:
    """gold.user_features as of the run date: the users to score."""
    return lake.read(ctx.spark, ctx.config, USER_FEATURES, {"as_of_date": run_date})


def _train(ctx: Context, run_date: dt.date) -> PropensityResult:
    spark, config, pc = ctx.spark, ctx.config, ctx.config.propensity
    cutoff, horizon = _label_cutoff(ctx, run_date), config.featurize.label_horizon_days
    users = _users(ctx, run_date)  # fail before training when there is nothing to score
    features = feature_columns(users.schema, pc.features)
    version = registry.model_version(run_date, pc)
    training = labelled(
        lake.read(spark, config, USER_FEATURES, {"as_of_date": cutoff}, missing="empty"), lake.read(spark, config, LABELS, {"cutoff_date": cutoff})
    )
    rows = (
        with_split(training, pc.seed, pc.validation_fraction, pc.test_fraction)
        .select("user_id", "split", *pc.targets, *features)
        .repartition("user_id")
        .sortWithinPartitions("user_id")  # the same rows in the same order each run: seeded tree sampling repeats
        .persist(StorageLevel.MEMORY_AND_DISK)  # every candidate of every target reads them several times
    )
    try:
        counts = class_counts(rows, pc.targets)
        if not counts:
            raise InputMissingError(
                f"no training rows: {USER_FEATURES.qualified_name(config.lake)} as of {cutoff} has no users with labels of "
                f"cut-off {cutoff}; run `ecomlake featurize --date {cutoff}` to write its snapshot"
            )
        selections = []
        for target in pc.targets:
            check_classes(counts, target, cutoff)
            selections.append(select(rows, target, features, counts, config))
    finally:
        rows.unpersist()
    for s in selections:
        _save_and_record(ctx, s, version, run_date, cutoff, features)
    records = [r for s in selections for r in metric_records(s, run_date, cutoff, version)]
    lake.append(spark, config, PROPENSITY_METRICS, records, {"run_date": run_date, "model_version": version})
    scored = _write_scores(ctx, [_scores(s.chosen.model, users, s.target, version, s.chosen.model_type, run_date) for s in selections], run_date)
    targets = tuple(TargetResult(s.target, s.chosen.model_type, version, s, scored) for s in selections)
    return PropensityResult(run_date, cutoff, horizon, False, targets)


def _score(ctx: Context, run_date: dt.date) -> PropensityResult:
    """Score the users as of the date with the newest saved models trained on or before it (no training)."""
    users = _users(ctx, run_date)
    targets = ctx.config.propensity.targets
    runs = [registry.latest_run(ctx.spark, ctx.config, model_name(t), run_date, trained_by="propensity") for t in targets]
    frames = [
        _scores(registry.load_pipeline(ctx.config, r), users, t, r.version, r.params["model_type"], run_date)  # checked before its SQL runs
        for t, r in zip(targets, runs, strict=True)
    ]
    scored = _write_scores(ctx, frames, run_date)
    results = tuple(TargetResult(t, r.params["model_type"], r.version, None, scored) for t, r in zip(targets, runs, strict=True))
    return PropensityResult(run_date, None, ctx.config.featurize.label_horizon_days, True, results)


def _label_cutoff(ctx: Context, run_date: dt.date) -> dt.date:
    """The latest gold.labels cut-off C <= run_date - horizon with the configured horizon: the labels to train on.

    None there: NotDueError while the lake is younger than the horizon (:func:`ecomlake.pipeline.due.labels`),
    InputMissingError after that (featurize should have written them).
    """
    spark, config, horizon = ctx.spark, ctx.config, ctx.config.featurize.label_horizon_days
    latest = run_date - dt.timedelta(days=horizon)
    labels = lake.read(spark, config, LABELS, {"horizon_days": horizon}, missing="empty")
    cutoff: dt.date | None = labels.where(F.col("cutoff_date") <= F.lit(latest)).agg(F.max("cutoff_date")).collect()[0][0]
    if cutoff is not None:
        return cutoff
    none = (
        f"{LABELS.qualified_name(config.lake)} has no labels with a {horizon}-day horizon for a cut-off on or before {latest} (run date "
        f"{run_date} - featurize.label_horizon_days)"
    )
    reason = due.labels(spark, config, run_date)
    if reason is not None:
        raise NotDueError(f"{none}: not due yet, {reason}")
    raise InputMissingError(f"{none}: `ecomlake featurize --date {run_date}` writes the labels of cut-off {latest}")


def _scores(model: PipelineModel, users: DataFrame, target: str, model_version: str, model_type: str, run_date: dt.date) -> DataFrame:
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


def _save_and_record(ctx: Context, s: Selection, version: str, run_date: dt.date, cutoff: dt.date, features: tuple[str, ...]) -> None:
    """The chosen model saved, and its row in ml.model_runs with its test metrics."""
    config, chosen, test = ctx.config, s.chosen, s.chosen.metrics["test"]
    files = registry.save_pipeline(chosen.model, config, model_name(s.target), version)  # hashed as saved
    aucs = s.validation_aucs()
    params = {
        "target": s.target, "model_type": chosen.model_type, "cutoff_date": cutoff, "label_horizon_days": config.featurize.label_horizon_days,
        "validation_roc_auc": aucs, "features": list(features), "class_weights": dict(zip(("positive", "negative"), s.class_weights, strict=True)),
        "top_features": chosen.top_features, "config": dataclasses.asdict(config.propensity),
    }  # fmt: skip
    metrics = {
        "roc_auc": test.roc_auc, "pr_auc": test.pr_auc, "log_loss": test.log_loss, "brier": test.brier, "positive_rate": test.positive_rate,
        "mean_probability": test.mean_probability, "lift_top_decile": test.lift_top_decile, "validation_roc_auc": aucs[chosen.model_type],
    }  # fmt: skip
    registry.record_run(ctx.spark, config, model_name(s.target), version, run_date, ctx.run_id, chosen.metrics["train"].rows, params, metrics, files)


def _write_scores(ctx: Context, frames: list[DataFrame], run_date: dt.date) -> int:
    """Replace the slice of (run_date, these targets) in one commit; returns the users scored per target (every target scores them all)."""
    targets = list(ctx.config.propensity.targets)
    df = frames[0]
    for f in frames[1:]:
        df = df.unionByName(f)
    return lake.write(df, ctx.config, PROPENSITY_SCORES, {"run_date": run_date, "target": targets}) // len(targets)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--date", type=iso_date, required=True, help="train on the newest labels complete by this day; score its users (YYYY-MM-DD)")
    parser.add_argument("--score-only", action="store_true", help="score with the newest saved models trained on or before --date; no training")


JOB = SparkJob(
    "propensity", "Train churn and purchase propensity models (LR, RF, GBT; calibrated) and score users", PropensityParams, run, add_arguments
)
