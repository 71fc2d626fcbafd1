"""Model artifacts and their run records: where a trained model lives and what made it.

A model version is ``<run date>-<hash of the model's config section>`` (``20191021-3f2a9c1b``): a re-run
of a date with the same config overwrites the same version, so the tables stay the same, and a
changed config gives a new version beside the old one. Artifacts are saved in MLlib's own format
under ``<lake.root>/models/<model>/<version>/`` and load without retraining, to score later days.

``ml.model_runs`` is the MLflow-style record, one row per (model, version): run date, params,
metrics, training rows, config hash, code version and artifact path. No service is needed; it is a
Delta table like the others, and ``latest_run`` finds the model to score a day with.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ecomlake import lake
from ecomlake.config import Config
from ecomlake.errors import InputMissingError
from ecomlake.runinfo import code_version
from ecomlake.schema import Field, TableSchema

MODEL_RUNS = TableSchema(
    "ml.model_runs",
    "One row per trained model version: what it was trained on, with which parameters, how well it did and where it is saved.",
    (
        Field("model", T.StringType(), "model name, e.g. als, kmeans_profile, propensity_churned", nullable=False),
        Field("model_version", T.StringType(), "<run date>-<hash of the model's config section>", nullable=False),
        Field("run_date", T.DateType(), "the date the model was trained for (its data go up to this day)", nullable=False),
        Field("run_id", T.StringType(), "the run that trained it"),
        Field("trained_at", T.TimestampType(), "when training finished", "UTC"),
        Field("training_rows", T.LongType(), "rows the model was fitted on", "rows"),
        Field("params", T.StringType(), "the model's config section and chosen hyper-parameters, as JSON"),
        Field("metrics", T.MapType(T.StringType(), T.DoubleType()), "evaluation metrics by name (held-out data)"),
        Field("config_hash", T.StringType(), "hash of the whole effective config"),
        Field("code_version", T.StringType(), "package version and git commit"),
        Field("artifact_path", T.StringType(), "folder of the saved model (MLlib format)"),
    ),
)


@dataclasses.dataclass(frozen=True)
class ModelRun:
    """A recorded model: enough to load it and say what it is."""

    model: str
    version: str
    run_date: dt.date
    artifact_path: str
    metrics: dict[str, float]
    params: dict[str, Any]


def model_version(run_date: dt.date, section: Any, *inputs: str) -> str:
    """``<YYYYMMDD>-<8 hex>``: the run date and a hash of the model's config section (a dataclass) and ``inputs``.

    ``inputs`` name versioned artifacts the model is made from (the LSTM's sequences dataset version).
    """
    payload = [dataclasses.asdict(section), *inputs] if inputs else dataclasses.asdict(section)  # versions without inputs stay as they were
    canonical = json.dumps(payload, sort_keys=True, default=str)
    return f"{run_date:%Y%m%d}-{hashlib.sha256(canonical.encode()).hexdigest()[:8]}"


def artifact_path(config: Config, model: str, version: str) -> str:
    """Where a model version's files go: ``<lake.root>/models/<model>/<version>``."""
    return f"{config.lake.root}/models/{model}/{version}"


def record_run(
    spark: SparkSession,
    config: Config,
    model: str,
    version: str,
    run_date: dt.date,
    run_id: str,
    training_rows: int,
    params: Mapping[str, Any],
    metrics: Mapping[str, float | None],
) -> None:
    """Write (or replace) the model version's row in ml.model_runs."""
    from ecomlake.config import config_hash

    row = (
        model,
        version,
        run_date,
        run_id,
        dt.datetime.now(dt.UTC).replace(tzinfo=None),
        int(training_rows),
        json.dumps(params, sort_keys=True, default=str),
        {k: float(v) for k, v in metrics.items() if v is not None},
        config_hash(config),
        code_version(),
        artifact_path(config, model, version),
    )
    df = spark.createDataFrame([row], MODEL_RUNS.struct())
    where = f"model = '{model}' AND model_version = '{version}'"
    lake.write_table(df, config.lake, lake.MODEL_RUNS, schema=MODEL_RUNS, replace_where=where)


def latest_run(spark: SparkSession, config: Config, model: str, on_or_before: dt.date) -> ModelRun:
    """The newest recorded version of ``model`` trained for a date on or before ``on_or_before``.

    Raises InputMissingError when there is none (train one first).
    """
    runs = lake.MODEL_RUNS.qualified_name(config.lake)
    missing = InputMissingError(f"no {model} model trained on or before {on_or_before} in {runs}; run the job without --score-only first")
    if not lake.table_exists(spark, config.lake, lake.MODEL_RUNS):
        raise missing
    row = (
        lake.read_table(spark, config.lake, lake.MODEL_RUNS)
        .where((F.col("model") == model) & (F.col("run_date") <= F.lit(on_or_before)))
        .orderBy(F.col("run_date").desc(), F.col("trained_at").desc())
        .first()
    )
    if row is None:
        raise missing
    return ModelRun(row.model, row.model_version, row.run_date, row.artifact_path, dict(row.metrics or {}), json.loads(row.params))
