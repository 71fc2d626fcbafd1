"""``ecomlake train-lstm`` and ``ecomlake score-lstm``: the sequence model's training run and its daily scores.

``train-lstm --date D`` trains on the newest sequences dataset built for a day on or before D
(``ecomlake sequences``), with the launcher of ``lstm.launcher``:

- ``horovod``: ``horovod.spark.run`` from this Spark driver, ``lstm.num_proc`` processes in Spark tasks;
- ``horovodrun``: a plain ``horovodrun -np N`` launch on this machine (what a GPU box without Spark runs);
- ``torch_distributor``: Spark's maintained launcher (``TorchDistributor``) with DistributedDataParallel.

All three run the same training function (``ecomlake.lstm.train``): each process reads its own shard
of row groups through the configured reader, rank 0 checkpoints every epoch to
``<lake.root>/models/lstm/<version>/checkpoints`` and a re-run of the same version resumes from the
last checkpoint (after a crash, or with more ``lstm.epochs``). The version is the run date plus a
hash of the lstm config and the dataset version. The best epoch's weights are then evaluated on the
test split beside the baselines (``ecomlake.lstm.evaluate``) into ml.lstm_metrics, and the run is
recorded in ml.model_runs (model ``lstm``).

``score-lstm --date D`` scores every user with events in the lookback days up to D with the newest
model trained on or before D: gold.lstm_scores, the slice of run date D replaced in one commit.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import logging
import time
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from ecomlake import lake
from ecomlake.config import Config
from ecomlake.errors import InputMissingError
from ecomlake.job import Job, iso_date
from ecomlake.lstm.schemas import LSTM_METRICS, LSTM_SCORES
from ecomlake.ml import registry
from ecomlake.runinfo import new_run_id
from ecomlake.sequences.dataset import local_path, read_manifest
from ecomlake.sequences.job import MODEL as DATASET_MODEL

log = logging.getLogger(__name__)

MODEL = "lstm"  # its registry name


@dataclasses.dataclass(frozen=True)
class TrainResult:
    run_date: dt.date
    model_version: str
    dataset_version: str
    training: dict[str, Any]  # rank 0's result (history, best_epoch, epochs_run, resumed_from_epoch, ...)
    evaluation: Any  # ecomlake.lstm.evaluate.Evaluation
    train_seconds: float
    seconds: float


@dataclasses.dataclass(frozen=True)
class ScoreResult:
    run_date: dt.date
    model_version: str
    users: int
    seconds: float


def checkpoint_dir(config: Config, version: str) -> str:
    return f"{registry.artifact_path(config, MODEL, version)}/checkpoints"


def train_lstm(spark: SparkSession, config: Config, run_date: dt.date) -> TrainResult:
    """Train (or resume) the LSTM on the newest dataset built on or before ``run_date``; evaluate and record it."""
    from ecomlake.lstm.evaluate import evaluate
    from ecomlake.lstm.launch import launch
    from ecomlake.lstm.model import load_model
    from ecomlake.lstm.train import TrainSpec

    t0, run_id, lc = time.perf_counter(), new_run_id(), config.lstm
    try:
        dataset = registry.latest_run(spark, config, DATASET_MODEL, run_date)
    except InputMissingError:
        raise InputMissingError(
            f"no sequences dataset built for a day on or before {run_date} in {lake.MODEL_RUNS.qualified_name(config.lake)}; "
            f"run `ecomlake sequences --date {run_date}` first"
        ) from None
    manifest = read_manifest(spark, dataset.artifact_path)
    dataset_dir = local_path(dataset.artifact_path)
    version = registry.model_version(run_date, lc, manifest["dataset_version"])
    checkpoints = local_path(checkpoint_dir(config, version))
    spec = TrainSpec(
        dataset_dir=dataset_dir,
        manifest=manifest,
        config=dataclasses.asdict(lc),
        checkpoint_dir=checkpoints,
    )  # launch() adds the fault injection of ECOMLAKE_LSTM_FAIL_AFTER_EPOCH, for crash-and-resume tests
    log.info(
        "train-lstm %s: %s on dataset %s with %s x %d, checkpoints in %s",
        run_date,
        version,
        manifest["dataset_version"],
        lc.launcher,
        lc.num_proc,
        checkpoints,
    )
    t_launch = time.perf_counter()
    training = launch(spark, spec, lc.launcher, lc.num_proc)
    train_seconds = time.perf_counter() - t_launch

    model, meta = load_model(Path(checkpoints) / "best.pt")
    evaluation = evaluate(spark, config, model, dataset_dir)
    _write_metrics(spark, config, run_date, version, manifest["dataset_version"], evaluation, training, train_seconds)
    lstm = evaluation.by_model()["lstm"]
    registry.record_run(
        spark,
        config,
        MODEL,
        version,
        run_date,
        run_id,
        manifest["splits"]["train"]["rows"],
        params={
            "dataset_version": manifest["dataset_version"],
            "dataset_path": dataset.artifact_path,
            "checkpoint": f"{checkpoint_dir(config, version)}/best.pt",
            "best_epoch": training["best_epoch"],
            "epochs_run": training["epochs_run"],
            "resumed_from_epoch": training.get("resumed_from_epoch"),
            "stopped_early": training.get("stopped_early"),
            "world_size": training.get("world_size"),
            "device": training.get("device"),
            "history": training.get("history"),
            "config": dataclasses.asdict(lc),
        },
        metrics={
            "next_event_accuracy": lstm.next_event_accuracy,
            "next_event_macro_f1": lstm.next_event_macro_f1,
            "purchase_roc_auc": _finite(lstm.purchase_roc_auc),
            "churn_roc_auc": _finite(lstm.churn_roc_auc),
            "best_validation_loss": meta.get("best_val_loss"),
            "train_seconds": train_seconds,
        },
    )
    return TrainResult(run_date, version, manifest["dataset_version"], training, evaluation, train_seconds, time.perf_counter() - t0)


def score_lstm(spark: SparkSession, config: Config, run_date: dt.date) -> ScoreResult:
    """Write gold.lstm_scores for ``run_date`` with the newest LSTM trained on or before it."""
    from ecomlake.lstm.scoring import latest_sequences, score_sequences

    t0 = time.perf_counter()
    run = registry.latest_run(spark, config, MODEL, run_date)
    # Through Hadoop, so a checkpoint on HDFS or S3 reads like a local one.
    checkpoint = spark.sparkContext.binaryFiles(run.params["checkpoint"]).first()[1]
    manifest = read_manifest(spark, run.params["dataset_path"])
    sequences = latest_sequences(spark, config, run_date, run.params["dataset_path"], int(manifest["sequence_length"]), manifest["unit"])
    scores = score_sequences(sequences, checkpoint, run.version, run_date)
    lake.write_table(scores, config.lake, lake.LSTM_SCORES, schema=LSTM_SCORES, replace_where=f"run_date = '{run_date}'")
    users = lake.read_table(spark, config.lake, lake.LSTM_SCORES).where(F.col("run_date") == F.lit(run_date)).count()
    return ScoreResult(run_date, run.version, users, time.perf_counter() - t0)


def _finite(x: float | None) -> float | None:
    return None if x is None or x != x else x


def _write_metrics(
    spark: SparkSession,
    config: Config,
    run_date: dt.date,
    version: str,
    dataset_version: str,
    evaluation: Any,
    training: dict[str, Any],
    train_seconds: float,
) -> None:
    lc = config.lstm
    history = training.get("history") or []
    rates = [h["samples_per_second"] for h in history if h.get("samples_per_second")]
    rows = []
    for m in evaluation.models:
        is_lstm = m.model == "lstm"
        rows.append(
            (
                run_date, version, dataset_version, m.model, m.test_rows,
                _finite(m.next_event_accuracy), _finite(m.next_event_macro_f1), _finite(m.purchase_roc_auc), _finite(m.churn_roc_auc), m.churn_rows,
                lc.launcher if is_lstm else None,
                int(training.get("world_size") or lc.num_proc) if is_lstm else None,
                lc.reader if is_lstm else None,
                int(training["epochs_run"]) if is_lstm else None,
                int(training["best_epoch"]) if is_lstm else None,
                float(min(h["val_loss"] for h in history)) if is_lstm and history else None,
                train_seconds if is_lstm else None,
                float(sum(rates) / len(rates)) if is_lstm and rates else None,
            )
        )  # fmt: skip
    df = spark.createDataFrame(rows, LSTM_METRICS.struct())
    where = f"run_date = '{run_date}' AND model_version = '{version}'"
    lake.write_table(df, config.lake, lake.LSTM_METRICS, schema=LSTM_METRICS, replace_where=where)


def metrics_table(r: TrainResult) -> str:
    """The test metrics of the LSTM and the baselines, as text."""
    lines = [f"    {'model':<14} {'test rows':>9} {'next acc':>8} {'macro-F1':>8} {'purch AUC':>9} {'churn AUC':>9} {'churn rows':>10}"]

    def fmt(x: float | None) -> str:
        return "     n/a" if x is None or x != x else f"{x:8.4f}"

    for m in r.evaluation.models:
        lines.append(
            f"    {m.model:<14} {m.test_rows:>9,} {fmt(m.next_event_accuracy)} {fmt(m.next_event_macro_f1)} "
            f"{fmt(m.purchase_roc_auc):>9} {fmt(m.churn_roc_auc):>9} {m.churn_rows:>10,}"
        )
    if r.evaluation.lstm_churn_on_propensity_users is not None:
        lines.append(f"    lstm churn ROC-AUC on the propensity rows' users: {r.evaluation.lstm_churn_on_propensity_users:.4f}")
    return "\n".join(lines)


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--date", type=iso_date, required=True, help="train on the newest sequences dataset built on or before this day (YYYY-MM-DD)")
    parser.add_argument("--launcher", dest="lstm.launcher", choices=("horovod", "horovodrun", "torch_distributor"), help="override lstm.launcher")
    parser.add_argument("--num-proc", dest="lstm.num_proc", type=int, help="override lstm.num_proc (training processes)")


def add_score_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--date", type=iso_date, required=True, help="score users with events up to this day (YYYY-MM-DD)")


def run_train(spark: SparkSession | None, config: Config, args: argparse.Namespace) -> TrainResult:
    assert spark is not None
    r = train_lstm(spark, config, args.date)
    t = r.training
    resumed = f", resumed after epoch {t['resumed_from_epoch']}" if t.get("resumed_from_epoch") is not None else ""
    print(
        f"train-lstm {r.run_date}: {r.model_version} on {r.dataset_version}, {config.lstm.launcher} x {t.get('world_size')} "
        f"({t.get('device')}), {t['epochs_run']} epochs{resumed}, best epoch {t['best_epoch']}"
        f"{' (stopped early)' if t.get('stopped_early') else ''}; training {r.train_seconds:.1f} s, total {r.seconds:.1f} s"
    )
    for h in t.get("history") or []:
        print(
            f"    epoch {h['epoch']}: train loss {h['train_loss']:.4f}, validation loss {h['val_loss']:.4f}, "
            f"next-event accuracy {h['val_next_accuracy']:.3f}, {h['samples_per_second']:,.0f} samples/s"
        )
    print(metrics_table(r))
    return r


def run_score(spark: SparkSession | None, config: Config, args: argparse.Namespace) -> ScoreResult:
    assert spark is not None
    r = score_lstm(spark, config, args.date)
    table = lake.LSTM_SCORES.qualified_name(config.lake)
    print(f"score-lstm {r.run_date}: {r.users:,} users scored with {r.model_version} into {table} in {r.seconds:.1f} s")
    return r


JOBS = (
    Job(
        "train-lstm",
        "Train the multi-task LSTM on the sequences dataset (Horovod or TorchDistributor) and evaluate it",
        add_train_arguments,
        run_train,
    ),
    Job("score-lstm", "Score users' latest event sequences with the newest LSTM into gold.lstm_scores", add_score_arguments, run_score),
)
