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

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from ecomlake import lake
from ecomlake.config import Config
from ecomlake.lstm import metrics
from ecomlake.lstm.model import FEATURES, predict

log = logging.getLogger(__name__)

CART_ID = 2  # event_types id of an add-to-cart (ecomlake.sequences.build.EVENT_TYPES)


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


def evaluate(spark: SparkSession, config: Config, model: object, dataset_dir: str) -> Evaluation:
    """The LSTM and the baselines on the test split of the dataset at ``dataset_dir`` (a local path)."""
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

    propensity = _propensity_scores(spark, config, churn)
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
    name: str, y_next: np.ndarray, predicted: np.ndarray, y_purchase: np.ndarray, purchase_score: np.ndarray, churn: pd.DataFrame, churn_column: str
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


def _churn_frame(test: pd.DataFrame, churn_probability: np.ndarray) -> pd.DataFrame:
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
    """The most likely next event per last event type, and the purchase rate per (last type, cart in context)."""
    by_last = transitions.groupby(["last_type", "next_event"])["samples"].sum().reset_index()
    next_by_last = {
        int(t): int(g.sort_values(["samples", "next_event"], ascending=[False, True])["next_event"].iloc[0]) for t, g in by_last.groupby("last_type")
    }
    rates = transitions.groupby(["last_type", "has_cart"])[["purchases", "samples"]].sum()
    purchase_by_last = {(int(t), bool(c)): float(r.purchases / r.samples) for (t, c), r in rates.iterrows() if r.samples}
    return next_by_last or {0: fallback}, purchase_by_last


def _propensity_scores(spark: SparkSession, config: Config, churn: pd.DataFrame) -> pd.DataFrame | None:
    """``churn`` joined to gold.propensity_scores (churned) of the same users and days; None without that table."""
    if churn.empty or not lake.table_exists(spark, config.lake, lake.PROPENSITY_SCORES):
        return None
    days = sorted({d if isinstance(d, dt.date) else pd.Timestamp(d).date() for d in churn["anchor_date"]})
    scores = (
        lake.read_table(spark, config.lake, lake.PROPENSITY_SCORES)
        .where((F.col("target") == "churned") & F.col("run_date").isin(days))
        .select("user_id", F.col("run_date").alias("anchor_date"), "probability")
        .toPandas()
    )
    if scores.empty:
        log.info("no gold.propensity_scores for %s: the propensity baseline is left out", days)
        return None
    churn = churn.assign(anchor_date=[d if isinstance(d, dt.date) else pd.Timestamp(d).date() for d in churn["anchor_date"]])
    return churn.merge(scores, on=["user_id", "anchor_date"], how="inner")
