"""Evaluation of scored users: ROC-AUC, PR-AUC, log loss, Brier score and lift by decile, per split.

Ranking metrics (ROC-AUC and PR-AUC by MLlib's BinaryClassificationEvaluator, deciles and lift) use
the raw probability; isotonic calibration is monotone, so it keeps that order. Probability metrics
(log loss, Brier, mean probability) use the calibrated probability, clipped to [EPS, 1 - EPS] for the
log loss: an isotonic step of 0 met by a positive costs -ln(EPS) = 13.8 nats instead of infinity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.sql import DataFrame, Row, Window
from pyspark.sql import functions as F

from ecomlake.propensity.calibration import CALIBRATED

EPS = 1e-6
DECILES = 10


@dataclass(frozen=True)
class Lift:
    """One decile of the ranking (1 = most likely)."""

    decile: int
    rows: int
    positives: int
    positive_rate: float
    lift: float  # positive_rate / the split's positive rate


@dataclass(frozen=True)
class SplitMetrics:
    """How a model does on one split of users."""

    split: str
    rows: int
    positives: int
    positive_rate: float
    mean_probability: float
    roc_auc: float
    pr_auc: float
    log_loss: float
    brier: float
    lift_top_decile: float
    lift: tuple[Lift, ...]


def with_deciles(df: DataFrame, by: Sequence[str] = ()) -> DataFrame:
    """``decile`` 1..10 of ``raw_probability`` within each group of ``by`` (1 = highest; ties by user_id, so stable).

    An unpartitioned window sorts on one task: fine for millions of users, the scale of a user table.
    """
    ranking = Window.partitionBy(*by).orderBy(F.col("raw_probability").desc(), F.col("user_id").asc())
    return df.withColumn("decile", F.ntile(DECILES).over(ranking))


def evaluate(scored: DataFrame) -> dict[str, SplitMetrics]:
    """Metrics per ``split`` of ``scored`` (columns user_id, split, label, raw_probability, calibrated_probability).

    Every split must hold both classes (the caller checks). Runs a few small Spark jobs per split.

    Example:
        >>> evaluate(scored)["test"].roc_auc  # doctest: +SKIP
        0.83
    """
    p = F.least(F.greatest(F.col(CALIBRATED), F.lit(EPS)), F.lit(1 - EPS))
    label = F.col("label")
    totals = {
        r["split"]: r
        for r in scored.groupBy("split")
        .agg(
            F.count(F.lit(1)).alias("rows"),
            F.sum(label).alias("positives"),
            F.avg(CALIBRATED).alias("mean_probability"),
            (-F.avg(label * F.log(p) + (1 - label) * F.log(1 - p))).alias("log_loss"),
            F.avg((F.col(CALIBRATED) - label) ** 2).alias("brier"),
        )
        .collect()
    }
    by_decile: dict[str, list[Row]] = {}
    deciles = with_deciles(scored, ["split"]).groupBy("split", "decile").agg(F.count(F.lit(1)).alias("rows"), F.sum(label).alias("positives"))
    for r in deciles.collect():
        by_decile.setdefault(r["split"], []).append(r)
    result = {}
    for split, t in sorted(totals.items()):
        rows, positives = int(t["rows"]), int(t["positives"])
        base = positives / rows
        lift = tuple(
            Lift(int(d["decile"]), int(d["rows"]), int(d["positives"]), d["positives"] / d["rows"], d["positives"] / d["rows"] / base)
            for d in sorted(by_decile[split], key=lambda d: d["decile"])
        )
        rows_of_split = scored.where(F.col("split") == F.lit(split))
        result[split] = SplitMetrics(
            split=split,
            rows=rows,
            positives=positives,
            positive_rate=base,
            mean_probability=float(t["mean_probability"]),
            roc_auc=_auc(rows_of_split, "areaUnderROC"),
            pr_auc=_auc(rows_of_split, "areaUnderPR"),
            log_loss=float(t["log_loss"]),
            brier=float(t["brier"]),
            lift_top_decile=lift[0].lift,
            lift=lift,
        )
    return result


def _auc(df: DataFrame, metric: Literal["areaUnderROC", "areaUnderPR"]) -> float:
    evaluator = BinaryClassificationEvaluator(rawPredictionCol="raw_probability", labelCol="label", metricName=metric)
    return float(evaluator.evaluate(df))
