"""``ecomlake score-lstm --date D``: every recent user's latest sequence through the newest LSTM, inside Spark.

Scores every user with events in the ``sequences.lookback_days`` up to D with the newest model trained
on or before D (:mod:`ecomlake.lstm.scoring`): gold.lstm_scores, the slice of run date D replaced in one commit.

Not due: no model on or before D while ``ecomlake sequences`` is not due for D (so train-lstm cannot
have trained one) -> NotDueError (the pipeline skips the step; alone, exit 3). No model when one could
have been trained, or a recorded model whose dataset or checkpoint is gone -> InputMissingError naming it.
A recorded path outside ``<lake.root>/models``, or a file of the dataset's manifest or vocabularies or the
checkpoint that is not byte for byte what ml.model_runs records -> DataQualityError (ecomlake.artifacts)
naming the file and the run, before anything of it is read.
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from ecomlake import artifacts, lake
from ecomlake.catalog import LSTM_SCORES, MODEL_RUNS, SILVER_EVENTS
from ecomlake.errors import InputMissingError
from ecomlake.job import Context, SparkJob, iso_date
from ecomlake.lstm import MODEL
from ecomlake.manifest import MANIFEST_DIR, read_manifest
from ecomlake.ml import registry
from ecomlake.pipeline import due
from ecomlake.sequences.dataset import DATASET


@dataclass(frozen=True)
class ScoreParams:
    date: dt.date  # score users with events up to this day


@dataclass(frozen=True)
class ScoreResult:
    run_date: dt.date
    model_version: str
    table: str
    users: int

    @property
    def rows_in(self) -> None:
        return None

    @property
    def rows_out(self) -> int:
        return self.users

    def figures(self) -> Mapping[str, float]:
        return {"users": self.users}

    def summary(self) -> str:
        return f"score-lstm {self.run_date}: {self.users:,} users scored with {self.model_version} into {self.table}"


def run(ctx: Context, params: ScoreParams) -> ScoreResult:
    """Write gold.lstm_scores for the date with the newest LSTM trained on or before it.

    Nothing of the model's files is read unchecked: the dataset's manifest and vocabularies against the sha256
    its sequences row records, the checkpoint's bytes against the lstm row's (ml.model_runs).
    """
    from ecomlake.lstm.scoring import latest_sequences, score_sequences

    spark, config = ctx.spark, ctx.config
    saved = due.latest_after_sequences(spark, config, MODEL, params.date, trained_by="train-lstm", job="score-lstm", what=f"{MODEL} model")
    dataset = _dataset(ctx, saved)
    checkpoint = _checkpoint(ctx, saved)
    manifest = read_manifest(dataset, spark, written_by="sequences")
    items, categories = spark.read.parquet(f"{dataset}/vocab/items"), spark.read.parquet(f"{dataset}/vocab/categories")
    silver = lake.read(spark, config, SILVER_EVENTS)
    # The model's own event vocabulary (the manifest's), not today's config: ids must mean what they meant in training.
    sequences = latest_sequences(
        silver, items, categories, config, params.date, int(manifest["sequence_length"]), manifest["unit"], manifest.get("event_types")
    )
    users = lake.write(score_sequences(sequences, checkpoint, saved.version, params.date), config, LSTM_SCORES, {"run_date": params.date})
    return ScoreResult(params.date, saved.version, LSTM_SCORES.qualified_name(config.lake), users)


def _dataset(ctx: Context, saved: registry.ModelRun) -> str:
    """The folder of the dataset the model was trained on, its manifest and vocabularies checked against its sequences row."""
    path = saved.params["dataset_path"]
    if not artifacts.exists(path):  # nothing there, nothing read: say what is missing before judging where it was recorded
        raise InputMissingError(
            f"no manifest at {path}/{MANIFEST_DIR}: the dataset {MODEL} model {saved.version} was trained on is missing; "
            "run `ecomlake sequences` to write it"
        )
    if not artifacts.exists(saved.params["checkpoint"]):
        raise _no_checkpoint(saved)
    dataset_run = registry.recorded_run(ctx.spark, ctx.config, DATASET, str(saved.params.get("dataset_version")), trained_by="sequences")
    if dataset_run is None:
        raise InputMissingError(
            f"{saved.describe()} was trained on sequences dataset {saved.params.get('dataset_version')}, which has no row in "
            f"{MODEL_RUNS.qualified_name(ctx.config.lake)} (the row holds its files' sha256, checked before scoring reads them); "
            f"re-run `ecomlake sequences` and `ecomlake train-lstm --date {saved.run_date}`"
        )
    # Only what scoring reads: the manifest and the vocabularies, not the splits (the bulk of the bytes).
    return registry.checked_artifact(ctx.config, dataset_run, path=path, only=(f"{MANIFEST_DIR}/", "vocab/")).root


def _no_checkpoint(saved: registry.ModelRun) -> InputMissingError:
    path, when = saved.params["checkpoint"], saved.run_date
    return InputMissingError(f"no checkpoint at {path} for {MODEL} model {saved.version}; re-run `ecomlake train-lstm --date {when}` to write it")


def _checkpoint(ctx: Context, saved: registry.ModelRun) -> bytes:
    """The model's best checkpoint, through Spark's file readers (a checkpoint on HDFS or S3 reads like a local one).

    Refused unless it lies in the model's folder and its bytes are those recorded with the run (the bytes checked are
    the bytes broadcast to the executors and loaded there).
    """
    from pyspark.errors import AnalysisException

    path, record = registry.checked_file(ctx.config, saved, saved.params["checkpoint"])
    try:
        row = ctx.spark.read.format("binaryFile").load(path).select("content").first()
    except AnalysisException as exc:  # PATH_NOT_FOUND
        raise _no_checkpoint(saved) from exc
    if row is None:
        raise _no_checkpoint(saved)
    data = bytes(row.content)
    artifacts.check_bytes(data, record, what=saved.describe(), where=path, recover=saved.recover())
    return data


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--date", type=iso_date, required=True, help="score users with events up to this day (YYYY-MM-DD)")


JOB = SparkJob("score-lstm", "Score users' latest event sequences with the newest LSTM into gold.lstm_scores", ScoreParams, run, add_arguments)
