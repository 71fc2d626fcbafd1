"""The trained LSTM on the test split, beside baselines that need no deep learning.

- ``most_frequent``: always the train split's most frequent next event (the floor for macro-F1);
- ``last_event``: from the train split, the most likely next event and the purchase rate given the
  sequence's last event type (and whether the context holds a cart): a first-order Markov chain;
- ``propensity``: the MLlib churn model's calibrated probability (gold.propensity_scores of the test
  days), on the test users it scored: the gold-feature model against the sequence model.

Next-event and purchase metrics are over test samples. Churn is a per-user, per-day label, so it is
measured on each user's last sample of each test day (one row per label, as gold.labels has).
The test split is read on the driver with pyarrow (it is the last ``sequences.test_days`` days); the
baselines' tables are aggregated in Spark over the train split.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from numpy.typing import NDArray
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ecomlake.config import LstmConfig
from ecomlake.lstm import metrics
from ecomlake.lstm.model import FEATURES, SequenceModel, predict
from ecomlake.vocabulary import CART, EVENT_TYPES

log = logging.getLogger(__name__)

CART_ID = EVENT_TYPES.index(CART) + 1  # event_types id of an add-to-cart (ids start at 1; 0 is padding)


@dataclasses.dataclass(frozen=True)
class ModelMetrics:
    """One row of ml.lstm_metrics' metric columns; NaN where a metric does not apply (one class in the labels)."""

    model: str
    test_rows: int
    next_event_accuracy: float | None
    next_event_macro_f1: float | None
    purchase_roc_auc: float | None
    churn_roc_auc: float | None
    churn_rows: int


@dataclasses.dataclass(frozen=True)
class Evaluation:
    models: tuple[ModelMetrics, ...]
    lstm_churn_on_propensity_users: float | None  # the LSTM's churn ROC-AUC on exactly the users the propensity row covers

    def by_model(self) -> dict[str, ModelMetrics]:
        return {m.model: m for m in self.models}


def read_split(dataset_dir: str, split: str) -> pd.DataFrame:
    """A split's rows on the driver (features as columns of arrays)."""
    columns = ["user_id", "anchor_time", "anchor_date", *FEATURES, "next_event", "purchase_label", "churn_label"]
    return pq.read_table(f"{dataset_dir}/{split}", columns=columns).to_pandas()


def evaluate(spark: SparkSession, model: SequenceModel, dataset_dir: str, propensity_scores: DataFrame) -> Evaluation:
    """The LSTM and the baselines on the test split of the dataset at ``dataset_dir`` (a local path).

    ``propensity_scores`` is gold.propensity_scores (may be empty): the MLlib churn baseline's scores.
    """
    test = read_split(dataset_dir, "test")
    probs = predict(model, {c: test[c].to_numpy() for c in FEATURES})
    y_next, y_purchase = test["next_event"].to_numpy(), test["purchase_label"].to_numpy()
    last_type = np.array([a[-1] for a in test["event_types"]])
    has_cart = np.array([bool((a == CART_ID).any()) for a in test["event_types"]])
    transitions = _train_transitions(spark, dataset_dir)

    churn = _churn_frame(test, probs["churn_probability"])
    rows = [
        _metrics("lstm", y_next, probs["next_event_probs"].argmax(axis=1), y_purchase, probs["purchase_probability"], churn, "lstm"),
    ]
    most_frequent = int(transitions.groupby("next_event")["samples"].sum().idxmax())
    constant = np.full(len(test), 0.5)
    rows.append(_metrics("most_frequent", y_next, np.full(len(test), most_frequent), y_purchase, constant, churn.assign(score=0.5), "score"))
    next_by_last, purchase_by_last = _markov(transitions, most_frequent)
    markov_next = np.array([next_by_last.get(int(t), most_frequent) for t in last_type])
    overall_rate = float((transitions["purchases"].sum()) / max(transitions["samples"].sum(), 1))
    markov_purchase = np.array([purchase_by_last.get((int(t), bool(c)), overall_rate) for t, c in zip(last_type, has_cart, strict=True)])
    rows.append(_metrics("last_event", y_next, markov_next, y_purchase, markov_purchase, churn.assign(score=0.5), "score"))

    propensity = _propensity_scores(propensity_scores, churn)
    lstm_on_same = None
    if propensity is not None and len(propensity):
        lstm_on_same = metrics.roc_auc(propensity["churn_label"].to_numpy(), propensity["lstm"].to_numpy())
        rows.append(
            ModelMetrics(
                "propensity",
                0,
                None,
                None,
                None,
                metrics.roc_auc(propensity["churn_label"].to_numpy(), propensity["probability"].to_numpy()),
                len(propensity),
            )
        )
    return Evaluation(tuple(rows), lstm_on_same)


def _metrics(
    name: str,
    y_next: NDArray[Any],
    predicted: NDArray[Any],
    y_purchase: NDArray[Any],
    purchase_score: NDArray[Any],
    churn: pd.DataFrame,
    churn_column: str,
) -> ModelMetrics:
    return ModelMetrics(
        name,
        len(y_next),
        metrics.accuracy(y_next, predicted),
        metrics.macro_f1(y_next, predicted),
        metrics.roc_auc(y_purchase, purchase_score),
        metrics.roc_auc(churn["churn_label"].to_numpy(), churn[churn_column].to_numpy()) if len(churn) else None,
        len(churn),
    )


def _churn_frame(test: pd.DataFrame, churn_probability: NDArray[Any]) -> pd.DataFrame:
    """Each labelled user's last test sample per day: (user_id, anchor_date, churn_label, lstm)."""
    frame = test[["user_id", "anchor_date", "anchor_time", "churn_label"]].assign(lstm=churn_probability)
    labelled = frame[frame["churn_label"] >= 0].sort_values(["user_id", "anchor_date", "anchor_time"])
    return labelled.groupby(["user_id", "anchor_date"], as_index=False).last()[["user_id", "anchor_date", "churn_label", "lstm"]]


def _train_transitions(spark: SparkSession, dataset_dir: str) -> pd.DataFrame:
    """(last event type, cart in context, next_event) -> samples and later purchases, over the train split."""
    train = spark.read.parquet(f"{dataset_dir}/train")
    return (
        train.groupBy(
            F.element_at("event_types", -1).alias("last_type"),
            F.array_contains("event_types", CART_ID).alias("has_cart"),
            "next_event",
        )
        .agg(F.count(F.lit(1)).alias("samples"), F.sum("purchase_label").alias("purchases"))
        .toPandas()
    )


def _markov(transitions: pd.DataFrame, fallback: int) -> tuple[dict[int, int], dict[tuple[int, bool], float]]:
    """The most likely next event per last event type (ties: the lowest class), and the purchase rate per (last type, cart in context)."""
    samples: dict[int, dict[int, int]] = {}
    purchases: dict[tuple[int, bool], tuple[float, float]] = {}
    for r in transitions.to_dict("records"):  # a few dozen rows: (last type, cart, next event) combinations
        last, cart, n = int(r["last_type"]), bool(r["has_cart"]), int(r["samples"])
        by_next = samples.setdefault(last, {})
        by_next[int(r["next_event"])] = by_next.get(int(r["next_event"]), 0) + n
        bought, seen = purchases.get((last, cart), (0.0, 0.0))
        purchases[(last, cart)] = (bought + float(r["purchases"]), seen + n)
    next_by_last = {last: min(by_next, key=lambda e: (-by_next[e], e)) for last, by_next in samples.items()}
    purchase_by_last = {key: bought / seen for key, (bought, seen) in purchases.items() if seen}
    return next_by_last or {0: fallback}, purchase_by_last


def _propensity_scores(propensity_scores: DataFrame, churn: pd.DataFrame) -> pd.DataFrame | None:
    """``churn`` joined to gold.propensity_scores (churned) of the same users and days; None when there are none."""
    if churn.empty:
        return None
    days = sorted({d if isinstance(d, dt.date) else pd.Timestamp(d).date() for d in churn["anchor_date"]})
    scores = (
        propensity_scores.where((F.col("target") == "churned") & F.col("run_date").isin(days))
        .select("user_id", F.col("run_date").alias("anchor_date"), "probability")
        .toPandas()
    )
    if scores.empty:
        log.info("no gold.propensity_scores for %s: the propensity baseline is left out", days)
        return None
    churn = churn.assign(
        anchor_date=pd.Series([d if isinstance(d, dt.date) else pd.Timestamp(d).date() for d in churn["anchor_date"]], index=churn.index)
    )
    return churn.merge(scores, on=["user_id", "anchor_date"], how="inner")


def metrics_records(
    evaluation: Evaluation, run_date: dt.date, version: str, dataset_version: str, training: dict[str, Any], train_seconds: float, lc: LstmConfig
) -> list[dict[str, Any]]:
    """ml.lstm_metrics records: one per model (the LSTM and the baselines); the training run's figures on the LSTM's."""
    history = training.get("history") or []
    rates = [h["samples_per_second"] for h in history if h.get("samples_per_second")]
    lstm_run = {
        "launcher": lc.launcher, "processes": int(training.get("world_size") or lc.num_proc), "reader": lc.reader,
        "epochs_run": int(training["epochs_run"]), "best_epoch": int(training["best_epoch"]),
        "best_validation_loss": float(min(h["val_loss"] for h in history)) if history else None, "train_seconds": train_seconds,
        "samples_per_second": float(sum(rates) / len(rates)) if rates else None,
    }  # fmt: skip
    return [
        {
            "run_date": run_date, "model_version": version, "dataset_version": dataset_version, "model": m.model, "test_rows": m.test_rows,
            "next_event_accuracy": finite(m.next_event_accuracy), "next_event_macro_f1": finite(m.next_event_macro_f1),
            "purchase_roc_auc": finite(m.purchase_roc_auc), "churn_roc_auc": finite(m.churn_roc_auc), "churn_rows": m.churn_rows,
            **(lstm_run if m.model == "lstm" else {}),
        }
        for m in evaluation.models
    ]  # fmt: skip


def metrics_table(evaluation: Evaluation) -> str:
    """The test metrics of the LSTM and the baselines, as text."""
    lines = [f"    {'model':<14} {'test rows':>9} {'next acc':>8} {'macro-F1':>8} {'purch AUC':>9} {'churn AUC':>9} {'churn rows':>10}"]

    def fmt(x: float | None) -> str:
        return "     n/a" if x is None or x != x else f"{x:8.4f}"

    for m in evaluation.models:
        lines.append(
            f"    {m.model:<14} {m.test_rows:>9,} {fmt(m.next_event_accuracy)} {fmt(m.next_event_macro_f1)} "
            f"{fmt(m.purchase_roc_auc):>9} {fmt(m.churn_roc_auc):>9} {m.churn_rows:>10,}"
        )
    if evaluation.lstm_churn_on_propensity_users is not None:
        lines.append(f"    lstm churn ROC-AUC on the propensity rows' users: {evaluation.lstm_churn_on_propensity_users:.4f}")
    return "\n".join(lines)


def finite(x: float | None) -> float | None:
    """None for a missing or NaN metric (one class in the labels): NULL in the tables."""
    return None if x is None or x != x else x
