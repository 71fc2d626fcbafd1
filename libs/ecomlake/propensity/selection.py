"""Model selection per target: every candidate fitted, calibrated and evaluated on each split; the best on validation wins.

Every candidate of ``propensity.models`` (logistic regression, random forest, gradient-boosted trees)
is fitted on the train users with class weights, calibrated by isotonic regression on the validation
users and evaluated on train, validation and test users; the best validation ROC-AUC is chosen (ties:
the first in config order). A target with one class in a split (say everybody churned) is a
DataQualityError naming the target.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pyspark import StorageLevel
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ecomlake.config import Config, PropensityModel
from ecomlake.errors import DataQualityError
from ecomlake.propensity.calibration import CALIBRATED, calibrated
from ecomlake.propensity.dataset import class_weights, with_label
from ecomlake.propensity.metrics import SplitMetrics, evaluate
from ecomlake.propensity.models import candidate, fit, importances, with_raw_probability
from ecomlake.vocabulary import SPLITS

log = logging.getLogger(__name__)

TOP_FEATURES = 10  # feature importances kept per candidate
ClassCounts = dict[str, dict[str, int]]  # split -> {"rows": n, <target>: positives}


@dataclass(frozen=True)
class Candidate:
    """One fitted, calibrated candidate and how it did on each split."""

    model_type: PropensityModel
    model: PipelineModel
    metrics: dict[str, SplitMetrics]  # split -> metrics
    top_features: list[tuple[str, float]]


@dataclass(frozen=True)
class Selection:
    """A target's candidates and the one chosen."""

    target: str
    candidates: dict[PropensityModel, Candidate]  # model type -> candidate, in config order
    class_weights: tuple[float, float]  # (positive, negative)

    @property
    def chosen(self) -> Candidate:
        """The best validation ROC-AUC; the first in config order on ties."""
        return max(self.candidates.values(), key=lambda c: c.metrics["validation"].roc_auc)

    def validation_aucs(self) -> dict[PropensityModel, float]:
        return {m: c.metrics["validation"].roc_auc for m, c in self.candidates.items()}


def class_counts(labelled: DataFrame, targets: Sequence[str]) -> ClassCounts:
    """{split: {"rows": n, <target>: positives}} (one small job)."""
    aggs = [F.count(F.lit(1)).alias("rows"), *[F.sum(F.col(t).cast("long")).alias(t) for t in targets]]
    return {r["split"]: {k: int(v) for k, v in r.asDict().items() if k != "split"} for r in labelled.groupBy("split").agg(*aggs).collect()}


def check_classes(counts: ClassCounts, target: str, cutoff: dt.date) -> None:
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


def select(labelled: DataFrame, target: str, features: tuple[str, ...], counts: ClassCounts, config: Config) -> Selection:
    """Every candidate fitted on train, calibrated on validation and evaluated on each split."""
    pc = config.propensity
    weights = class_weights(counts["train"]["rows"], counts["train"][target], pc.balance_classes)
    rows = with_label(labelled, target, *weights)
    train_rows, validation_rows = rows.where(F.col("split") == "train"), rows.where(F.col("split") == "validation")
    candidates = {}
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
        candidates[model_type] = Candidate(model_type, model, by_split, importances(model, features, TOP_FEATURES))
        log.info("propensity %s %s: validation ROC-AUC %.4f in %.1f s", target, model_type, by_split["validation"].roc_auc, time.perf_counter() - t)
    return Selection(target, candidates, weights)


def metric_records(selection: Selection, run_date: dt.date, cutoff: dt.date, version: str) -> list[dict[str, Any]]:
    """ml.propensity_metrics records: every candidate x split of a target."""
    chosen = selection.chosen.model_type
    return [
        {
            "run_date": run_date, "cutoff_date": cutoff, "model_version": version, "target": selection.target, "model_type": c.model_type,
            "is_chosen": c.model_type == chosen, "split": m.split, "rows": m.rows, "positives": m.positives, "positive_rate": m.positive_rate,
            "mean_probability": m.mean_probability, "roc_auc": m.roc_auc, "pr_auc": m.pr_auc, "log_loss": m.log_loss, "brier": m.brier,
            "lift_top_decile": m.lift_top_decile,
            "lift": [(x.decile, x.rows, x.positives, x.positive_rate, x.lift) for x in m.lift],
            "top_features": c.top_features,
        }
        for c in selection.candidates.values()
        for m in c.metrics.values()
    ]  # fmt: skip


def metrics_table(selection: Selection) -> str:
    """A target's candidates by split, the chosen model's test lift by decile and its top features, as text."""
    columns = ("rows", 6), ("pos.rate", 8), ("mean p", 7), ("ROC-AUC", 7), ("PR-AUC", 7), ("logloss", 7), ("brier", 6), ("lift@1", 6)
    lines = [f"    {'model':<20} {'split':<10} " + " ".join(f"{name:>{width}}" for name, width in columns)]
    chosen = selection.chosen
    for c in selection.candidates.values():
        mark = "*" if c.model_type == chosen.model_type else " "
        for s in SPLITS:
            m = c.metrics[s]
            lines.append(
                f"   {mark}{c.model_type:<20} {s:<10} {m.rows:>6,} {m.positive_rate:>8.3f} {m.mean_probability:>7.3f} {m.roc_auc:>7.3f} "
                f"{m.pr_auc:>7.3f} {m.log_loss:>7.3f} {m.brier:>6.3f} {m.lift_top_decile:>6.2f}"
            )
    test = chosen.metrics["test"]
    lines.append("    test lift by decile: " + " ".join(f"{x.lift:.2f}" for x in test.lift))
    lines.append("    top features: " + ", ".join(f"{n} {w:.2f}" for n, w in chosen.top_features[:5]))
    return "\n".join(lines)
