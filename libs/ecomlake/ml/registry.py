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

from ecomlake import lake
from ecomlake.catalog import MODEL_RUNS
from ecomlake.config import Config, config_hash
from ecomlake.errors import InputMissingError
from ecomlake.runinfo import code_version


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
    record = {
        "model": model,
        "model_version": version,
        "run_date": run_date,
        "run_id": run_id,
        "trained_at": dt.datetime.now(dt.UTC),
        "training_rows": int(training_rows),
        "params": json.dumps(params, sort_keys=True, default=str),
        "metrics": {k: float(v) for k, v in metrics.items() if v is not None},
        "config_hash": config_hash(config),
        "code_version": code_version(),
        "artifact_path": artifact_path(config, model, version),
    }
    lake.append(spark, config, MODEL_RUNS, [record], {"model": model, "model_version": version})


def latest_run(spark: SparkSession, config: Config, model: str, on_or_before: dt.date, trained_by: str | None = None) -> ModelRun:
    """The newest recorded version of ``model`` trained for a date on or before ``on_or_before``.

    Raises InputMissingError when there is none, naming ``trained_by``, the job that trains one (``profile``), when given.
    """
    runs = lake.read(spark, config, MODEL_RUNS, missing="empty")
    row = (
        runs.where((F.col("model") == model) & (F.col("run_date") <= F.lit(on_or_before)))
        .orderBy(F.col("run_date").desc(), F.col("trained_at").desc())
        .first()
    )
    if row is None:
        raise InputMissingError(
            f"no {model} model trained on or before {on_or_before} in {MODEL_RUNS.qualified_name(config.lake)}; "
            + (f"run `ecomlake {trained_by} --date D` (D <= {on_or_before}) first" if trained_by else "train one first")
        )
    return ModelRun(row.model, row.model_version, row.run_date, row.artifact_path, dict(row.metrics or {}), json.loads(row.params))
