"""The sequence model end to end on the generated gold lake: sequences -> train-lstm with Horovod (horovod.spark.run)
and with TorchDistributor, 2 processes each -> test metrics beside the baselines -> score-lstm into Delta.

The dataset is built for the labels' cut-off day, so the test day has churn labels and the MLlib propensity
model (trained here with logistic regression only, to stay quick) scores the same users: the propensity
baseline row exists. The model is small and trains 3 epochs; launcher mechanics (crash and resume, early
stopping, horovodrun, row checks) are tested on synthetic data in tests/dl.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from ecomlake import lake
from ecomlake.errors import InputMissingError
from ecomlake.lstm.job import TrainResult, checkpoint_dir, score_lstm, train_lstm
from ecomlake.ml.registry import latest_run
from tests.spark.conftest import GOLD_CUTOFF

pytestmark = pytest.mark.dl


@pytest.fixture(scope="module")
def trained(lstm_trained: dict[str, object]) -> dict[str, object]:
    """The shared LSTM runs (tests/spark/conftest.py): both launchers, 2 processes each, on the cut-off day's dataset."""
    return lstm_trained


def test_both_launchers_train_and_the_loss_goes_down(trained: dict[str, object]) -> None:
    cfg, runs = trained["cfg"], trained["runs"]
    for launcher, r in runs.items():
        t = r.training
        assert t["world_size"] == 2 and t["epochs_run"] == 3, launcher
        losses = [h["train_loss"] for h in t["history"]]
        assert losses[-1] < losses[0], f"{launcher}: train loss {losses}"
        assert min(h["val_loss"] for h in t["history"]) < t["history"][0]["val_loss"] or t["best_epoch"] == 1
        folder = Path(checkpoint_dir(cfg, r.model_version))
        assert {"last.pt", "best.pt", "epoch-001.pt", "epoch-003.pt"} <= {p.name for p in folder.iterdir()}, launcher
    # The same data, seed and model: the launchers agree (they shard and reduce the same way).
    h, d = (runs[k].evaluation.by_model()["lstm"] for k in ("horovod", "torch_distributor"))
    assert abs(h.next_event_macro_f1 - d.next_event_macro_f1) < 0.05 and abs(h.next_event_accuracy - d.next_event_accuracy) < 0.03
    assert abs(h.purchase_roc_auc - d.purchase_roc_auc) < 0.05


def test_lstm_beats_the_baselines_and_metrics_are_recorded(spark: SparkSession, trained: dict[str, object]) -> None:
    cfg, runs = trained["cfg"], trained["runs"]
    r: TrainResult = runs["torch_distributor"]
    m = r.evaluation.by_model()
    assert set(m) == {"lstm", "most_frequent", "last_event", "propensity"}
    assert m["lstm"].next_event_macro_f1 > m["most_frequent"].next_event_macro_f1 + 0.05
    assert m["lstm"].purchase_roc_auc > 0.75 and m["lstm"].churn_roc_auc > 0.6
    assert m["most_frequent"].purchase_roc_auc == 0.5 and m["propensity"].churn_rows > 100
    assert m["lstm"].test_rows == trained["dataset"].manifest["splits"]["test"]["rows"]
    table = lake.read_table(spark, cfg.lake, lake.LSTM_METRICS)
    assert table.count() == 8 and table.where(F.col("model") == "lstm").select("launcher").distinct().count() == 2
    row = table.where((F.col("model") == "lstm") & (F.col("model_version") == r.model_version)).first()
    assert row.launcher == "torch_distributor" and row.processes == 2 and row.epochs_run == 3 and row.samples_per_second > 0
    run = latest_run(spark, cfg, "lstm", GOLD_CUTOFF)
    assert run.version == r.model_version and run.metrics["next_event_macro_f1"] == pytest.approx(m["lstm"].next_event_macro_f1)


def test_score_lstm_writes_a_row_per_recent_user(spark: SparkSession, trained: dict[str, object]) -> None:
    cfg = trained["cfg"]
    result = score_lstm(spark, cfg, GOLD_CUTOFF)
    scores = lake.read_table(spark, cfg.lake, lake.LSTM_SCORES).where(F.col("run_date") == GOLD_CUTOFF)
    first_day = GOLD_CUTOFF - dt.timedelta(days=cfg.sequences.lookback_days - 1)
    users = (
        lake.read_table(spark, cfg.lake, lake.SILVER_EVENTS)
        .where(~F.col("is_bot") & F.col("event_date").between(first_day, GOLD_CUTOFF))
        .select("user_id")
        .distinct()
        .count()
    )
    assert result.users == scores.count() == users and result.model_version == latest_run(spark, cfg, "lstm", GOLD_CUTOFF).version
    total = F.col("p_next_view") + F.col("p_next_cart") + F.col("p_next_remove_from_cart") + F.col("p_next_purchase") + F.col("p_exit")
    assert scores.where(F.abs(total - 1) > 1e-4).count() == 0
    assert scores.where(~F.col("purchase_probability").between(0, 1) | ~F.col("churn_probability").between(0, 1)).count() == 0
    assert scores.where((F.col("sequence_events") < 1) | (F.col("sequence_events") > cfg.sequences.length)).count() == 0
    # A user's sequence ends at their newest event of the window.
    newest = lake.read_table(spark, cfg.lake, lake.SILVER_EVENTS).where(~F.col("is_bot") & (F.col("event_date") <= GOLD_CUTOFF))
    newest = newest.groupBy("user_id").agg(F.max("event_time").alias("newest"))
    assert scores.join(newest, "user_id").where(F.col("newest") != F.col("last_event_time")).count() == 0


def test_training_needs_a_dataset(spark: SparkSession, trained: dict[str, object]) -> None:
    with pytest.raises(InputMissingError, match=r"no sequences dataset built for a day on or before .*ecomlake sequences --date"):
        train_lstm(spark, trained["cfg"], GOLD_CUTOFF - dt.timedelta(days=20))
