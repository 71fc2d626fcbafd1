"""``ecomlake score-lstm --date D``: every recent user's latest sequence through the newest LSTM, inside Spark.

Scores every user with events in the ``sequences.lookback_days`` up to D with the newest model trained
on or before D (:mod:`ecomlake.lstm.scoring`): gold.lstm_scores, the slice of run date D replaced in one commit.

Not due: no model on or before D while ``ecomlake sequences`` is not due for D (so train-lstm cannot
have trained one) -> NotDueError (the pipeline skips the step; alone, exit 3). No model when one could
have been trained, or a recorded model whose dataset or checkpoint is gone -> InputMissingError naming it.
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from ecomlake import lake
from ecomlake.catalog import LSTM_SCORES, SILVER_EVENTS
from ecomlake.errors import InputMissingError
from ecomlake.job import Context, SparkJob, iso_date
from ecomlake.lstm import MODEL
from ecomlake.manifest import read_manifest
from ecomlake.ml import registry
from ecomlake.pipeline import due


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
    """Write gold.lstm_scores for the date with the newest LSTM trained on or before it."""
    from ecomlake.lstm.scoring import latest_sequences, score_sequences

    spark, config = ctx.spark, ctx.config
    saved = due.latest_after_sequences(spark, config, MODEL, params.date, trained_by="train-lstm", job="score-lstm", what=f"{MODEL} model")
    dataset = saved.params["dataset_path"]
    manifest = read_manifest(dataset, spark, written_by="sequences")
    checkpoint = _checkpoint(ctx, saved)
    items, categories = spark.read.parquet(f"{dataset}/vocab/items"), spark.read.parquet(f"{dataset}/vocab/categories")
    silver = lake.read(spark, config, SILVER_EVENTS)
    # The model's own event vocabulary (the manifest's), not today's config: ids must mean what they meant in training.
    sequences = latest_sequences(
        silver, items, categories, config, params.date, int(manifest["sequence_length"]), manifest["unit"], manifest.get("event_types")
    )
    users = lake.write(score_sequences(sequences, checkpoint, saved.version, params.date), config, LSTM_SCORES, {"run_date": params.date})
    return ScoreResult(params.date, saved.version, LSTM_SCORES.qualified_name(config.lake), users)


def _checkpoint(ctx: Context, saved: registry.ModelRun) -> bytes:
    """The model's best checkpoint, through Spark's file readers (a checkpoint on HDFS or S3 reads like a local one)."""
    from pyspark.errors import AnalysisException

    path = saved.params["checkpoint"]
    missing = InputMissingError(
        f"no checkpoint at {path} for {MODEL} model {saved.version}; re-run `ecomlake train-lstm --date {saved.run_date}` to write it"
    )
    try:
        row = ctx.spark.read.format("binaryFile").load(path).select("content").first()
    except AnalysisException as exc:  # PATH_NOT_FOUND
        raise missing from exc
    if row is None:
        raise missing
    return bytes(row.content)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--date", type=iso_date, required=True, help="score users with events up to this day (YYYY-MM-DD)")


JOB = SparkJob("score-lstm", "Score users' latest event sequences with the newest LSTM into gold.lstm_scores", ScoreParams, run, add_arguments)
