"""Model artifacts and their run records: where a trained model lives and what made it.

A model version is ``<run date>-<hash of the model's config section>`` (``20191021-3f2a9c1b``): a re-run
of a date with the same config overwrites the same version, so the tables stay the same, and a
changed config gives a new version beside the old one. Artifacts are saved in MLlib's own format
under ``<lake.root>/models/<model>/<version>/`` and load without retraining, to score later days.

``ml.model_runs`` is the MLflow-style record, one row per (model, version): run date, params,
metrics, training rows, config hash, code version, artifact path and the artifact's files with their
sha256 (``artifact_files``). No service is needed; it is a Delta table like the others, and
``latest_run`` finds the model to score a day with.

A saved model is code to whoever loads it (a PipelineModel's SQLTransformer statements run on
``transform``), so nothing is loaded on the row's word alone: :func:`checked_artifact` refuses a recorded
path outside ``<lake.root>/models/<model>/`` and any file that is not byte for byte one the job recorded
(:mod:`ecomlake.artifacts`), and versions must match ``VERSION`` before a path or a table slice is built
from them. :func:`save_pipeline` and :func:`load_pipeline` are the PipelineModel side of that.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from ecomlake import artifacts, lake
from ecomlake.artifacts import FileRecord, TamperedArtifactError, Verified
from ecomlake.catalog import MODEL_RUNS
from ecomlake.config import Config, config_hash
from ecomlake.errors import DataQualityError, InputMissingError
from ecomlake.runinfo import code_version

if TYPE_CHECKING:
    from pyspark.ml import PipelineModel

VERSION = re.compile(r"\d{8}-[0-9a-f]{8}")  # what model_version makes: <YYYYMMDD>-<8 hex>
MODEL_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")  # kmeans_profile, propensity_churned, sequences, lstm, als


class InvalidVersionError(DataQualityError):
    """A model version (or model name) that is not of the form the registry writes: no path or slice is built from it."""


@dataclasses.dataclass(frozen=True)
class ModelRun:
    """A recorded model: enough to load it, check its files and say what it is."""

    model: str
    version: str
    run_date: dt.date
    artifact_path: str
    metrics: dict[str, float]
    params: dict[str, Any]
    run_id: str | None = None
    files: tuple[FileRecord, ...] = ()  # the artifact's files as the run wrote them (ml.model_runs.artifact_files)
    trained_by: str | None = None  # the job that writes it (profile), for the advice in messages

    def describe(self) -> str:
        """``kmeans_profile 20191021-3f2a9c1b (run 7f3a...)``: the model, its version and the run that saved it."""
        return f"{self.model} {self.version} (run {self.run_id})"

    def recover(self) -> str:
        """How to write the artifact again."""
        job = f"`ecomlake {self.trained_by} --date {self.run_date}`" if self.trained_by else f"the job that trains {self.model} for {self.run_date}"
        return f"Re-run {job} to write it again."


def check_version(version: object, where: str) -> str:
    """``version`` if it is ``<YYYYMMDD>-<8 hex>``; InvalidVersionError naming ``where`` it came from otherwise.

    Checked before a version goes into a path or a table slice: a version edited into ml.model_runs cannot
    reach another folder or widen a ``replaceWhere``.
    """
    if not isinstance(version, str) or not VERSION.fullmatch(version):
        raise InvalidVersionError(
            f"{where}: model version {version!r} is not of the form YYYYMMDD-<8 hex digits> the registry writes; refusing to use it. "
            "The row was not written by ecomlake: delete it and re-run the job that trains the model"
        )
    return version


def _check_model(model: str) -> str:
    if not MODEL_NAME.fullmatch(model):
        raise InvalidVersionError(f"model name {model!r} is not a lower-case identifier; refusing to build a path from it")
    return model


def model_version(run_date: dt.date, section: Any, *inputs: str) -> str:
    """``<YYYYMMDD>-<8 hex>``: the run date and a hash of the model's config section (a dataclass) and ``inputs``.

    ``inputs`` name versioned artifacts the model is made from (the LSTM's sequences dataset version).
    """
    payload = [dataclasses.asdict(section), *inputs] if inputs else dataclasses.asdict(section)  # versions without inputs stay as they were
    canonical = json.dumps(payload, sort_keys=True, default=str)
    return f"{run_date:%Y%m%d}-{hashlib.sha256(canonical.encode()).hexdigest()[:8]}"


def models_folder(config: Config, model: str | None = None) -> str:
    """``<lake.root>/models``, or a model's folder in it: where every recorded artifact must lie."""
    return f"{config.lake.root}/models" + (f"/{_check_model(model)}" if model is not None else "")


def artifact_path(config: Config, model: str, version: str) -> str:
    """Where a model version's files go: ``<lake.root>/models/<model>/<version>``."""
    return f"{models_folder(config, model)}/{check_version(version, f'{model} artifact')}"


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
    files: Sequence[FileRecord] = (),
) -> None:
    """Write (or replace) the model version's row in ml.model_runs, with its artifact's ``files`` (:func:`ecomlake.artifacts.scan`)."""
    record = {
        "model": _check_model(model),
        "model_version": check_version(version, f"recording {model}"),
        "run_date": run_date,
        "run_id": run_id,
        "trained_at": dt.datetime.now(dt.UTC),
        "training_rows": int(training_rows),
        "params": json.dumps(params, sort_keys=True, default=str),
        "metrics": {k: float(v) for k, v in metrics.items() if v is not None},
        "config_hash": config_hash(config),
        "code_version": code_version(),
        "artifact_path": artifact_path(config, model, version),
        "artifact_files": [f.as_dict() for f in files],
    }
    lake.append(spark, config, MODEL_RUNS, [record], {"model": model, "model_version": version})


def latest_run(spark: SparkSession, config: Config, model: str, on_or_before: dt.date, trained_by: str | None = None) -> ModelRun:
    """The newest recorded version of ``model`` trained for a date on or before ``on_or_before``.

    Raises InputMissingError when there is none, naming ``trained_by``, the job that trains one (``profile``), when given;
    InvalidVersionError when the row's version is not one the registry writes.
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
    return _model_run(row.asDict(recursive=True), config, trained_by)


def recorded_run(spark: SparkSession, config: Config, model: str, version: str, trained_by: str | None = None) -> ModelRun | None:
    """The row of one model version (``version`` checked first), or None when there is none."""
    check_version(version, f"{model} run")
    runs = lake.read(spark, config, MODEL_RUNS, missing="empty")
    row = runs.where((F.col("model") == model) & (F.col("model_version") == version)).first()
    return _model_run(row.asDict(recursive=True), config, trained_by) if row is not None else None


def _model_run(row: Mapping[str, Any], config: Config, trained_by: str | None) -> ModelRun:
    where = f"{MODEL_RUNS.qualified_name(config.lake)} row of {row['model']} (run {row.get('run_id')})"
    return ModelRun(
        row["model"],
        check_version(row["model_version"], where),
        row["run_date"],
        row["artifact_path"],
        dict(row.get("metrics") or {}),
        json.loads(row["params"]),
        row.get("run_id"),
        tuple(FileRecord.from_mapping(f) for f in row.get("artifact_files") or ()),  # a row of an earlier version has none
        trained_by,
    )


def checked_artifact(
    config: Config, run: ModelRun, *, path: str | None = None, only: Sequence[str] | None = None, recover: str | None = None
) -> Verified:
    """The run's artifact folder (or ``path``, another folder the run's files describe), checked; returns its verified files.

    Refused: a path outside ``<lake.root>/models/<model>/`` (ArtifactPathError), a row without file hashes (a model
    saved before they were recorded), any file added, missing or changed since the run recorded it
    (TamperedArtifactError, naming the file). ``only`` limits the check to the part a reader opens (relative
    prefixes, see :func:`ecomlake.artifacts.verify`); ``recover`` replaces the advice to re-run the job. Nothing
    is read from the folder before its path is checked. ``Verified.root`` is the path to read (resolved).
    """
    what, advice = run.describe(), recover or run.recover()
    resolved = artifacts.inside(path or run.artifact_path, models_folder(config, run.model), what=what, recover=advice)
    _check_has_files(config, run, advice)
    source = f"recorded in {MODEL_RUNS.qualified_name(config.lake)}"
    stats = artifacts.verify(resolved, run.files, what=what, recover=advice, source=source, only=only)
    return Verified(resolved, tuple(stats), what, advice)


def checked_file(config: Config, run: ModelRun, path: str) -> tuple[str, FileRecord]:
    """A file of the run's artifact (``path``, e.g. the LSTM's recorded checkpoint): its resolved path and its record.

    For a reader that reads the file whole and checks the bytes it got (:func:`ecomlake.artifacts.check_bytes`), so
    what it checks is what it loads. Refused: a path outside the run's artifact folder, or under
    ``<lake.root>/models/<model>/``, a row without file hashes, a file the run did not record.
    """
    what, advice = run.describe(), run.recover()
    folder = artifacts.inside(run.artifact_path, models_folder(config, run.model), what=what, recover=advice)
    resolved = artifacts.inside(path, folder, what=what, recover=advice)
    _check_has_files(config, run, advice)
    rel = resolved[len(folder.rstrip("/")) + 1 :] if artifacts.is_remote(folder) else str(PurePath(resolved).relative_to(folder).as_posix())
    record = next((f for f in run.files if f.path == rel), None)
    if record is None:
        raise TamperedArtifactError(
            f"{what}: {path} is not among the files recorded in {MODEL_RUNS.qualified_name(config.lake)}; refusing to load it. {advice}"
        )
    return resolved, record


def _check_has_files(config: Config, run: ModelRun, advice: str) -> None:
    if not run.files:
        raise TamperedArtifactError(
            f"{run.describe()}: {MODEL_RUNS.qualified_name(config.lake)} records no file hashes for it (saved by an earlier version of "
            f"ecomlake), so its files cannot be checked and it is not loaded. {advice}"
        )


def save_pipeline(model: PipelineModel, config: Config, name: str, version: str) -> list[FileRecord]:
    """Save a fitted PipelineModel under ``artifact_path`` and hash its files at once: the ``files`` to record with the run."""
    path = artifact_path(config, name, version)
    model.write().overwrite().save(path)
    return artifacts.scan(path)


def load_pipeline(config: Config, run: ModelRun) -> PipelineModel:
    """The run's saved PipelineModel, loaded only once its folder passed :func:`checked_artifact`.

    The folder is checked again (sizes and times) after loading: a file swapped while Spark read it is refused
    before any of the model's SQL runs (SQLTransformer statements run on ``transform``, not on ``load``).
    """
    from pyspark.ml import PipelineModel

    verified = checked_artifact(config, run)
    model = PipelineModel.load(verified.root)
    verified.check()
    return model
