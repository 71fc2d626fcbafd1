"""``ecomlake train-lstm --date D``: the sequence model's training run, evaluated beside its baselines.

Trains on the newest sequences dataset built for a day on or before D (``ecomlake sequences``), with the
launcher of ``lstm.launcher``:

- ``horovod``: ``horovod.spark.run`` from this Spark driver, ``lstm.num_proc`` processes in Spark tasks;
- ``horovodrun``: a plain ``horovodrun -np N`` launch on this machine (what a GPU box without Spark runs);
- ``torch_distributor``: Spark's maintained launcher (``TorchDistributor``) with DistributedDataParallel.

All three run the same training function (:mod:`ecomlake.lstm.train`): each process reads its own shard
of row groups through the configured reader, rank 0 checkpoints every epoch to
``<lake.root>/models/lstm/<version>/checkpoints`` and a re-run of the same version resumes from the
last checkpoint (after a crash, or with more ``lstm.epochs``). The version is the run date plus a
hash of the lstm config and the dataset version. The dataset is checked against the sha256 of its files in
its ml.model_runs row before anything reads it (petastorm would unpickle a planted ``_common_metadata``), and the
workers check it again (sizes and times) before every reader; ``best.pt`` and ``last.pt`` are recorded with
their sha256, which score-lstm and a resume check. The best epoch's weights are then evaluated on the
test split beside the baselines (:mod:`ecomlake.lstm.evaluate`) into ml.lstm_metrics, and the run is
recorded in ml.model_runs (model ``lstm``).

Not due: no dataset on or before D while ``ecomlake sequences`` is itself not due for D (the lake is
too young for a time split) -> NotDueError (the pipeline skips the step; alone, exit 3). No dataset
when sequences was due, or a recorded dataset whose folder is gone -> InputMissingError.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ecomlake import artifacts, lake
from ecomlake.artifacts import FileRecord
from ecomlake.catalog import LSTM_METRICS, PROPENSITY_SCORES
from ecomlake.job import Context, SparkJob, iso_date
from ecomlake.lstm import MODEL
from ecomlake.manifest import read_manifest
from ecomlake.ml import registry
from ecomlake.pipeline import due
from ecomlake.sequences.dataset import DATASET, Manifest, local_path

if TYPE_CHECKING:  # the evaluation imports torch: loaded when the job runs, not when the command line lists it
    from ecomlake.lstm.evaluate import Evaluation

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainParams:
    date: dt.date  # train on the newest sequences dataset built on or before this day


@dataclass(frozen=True)
class TrainResult:
    run_date: dt.date
    model_version: str
    dataset_version: str
    launcher: str
    training: dict[str, Any]  # rank 0's result (history, best_epoch, epochs_run, resumed_from_epoch, ...)
    evaluation: Evaluation
    train_seconds: float
    train_rows: int

    @property
    def rows_in(self) -> int:
        return self.train_rows

    @property
    def rows_out(self) -> None:
        return None

    def figures(self) -> Mapping[str, float | None]:
        lstm = self.evaluation.by_model()["lstm"]
        return {"next_event_accuracy": lstm.next_event_accuracy, "next_event_macro_f1": lstm.next_event_macro_f1, "train_seconds": self.train_seconds}

    def summary(self) -> str:
        t = self.training
        resumed = f", resumed after epoch {t['resumed_from_epoch']}" if t.get("resumed_from_epoch") is not None else ""
        lines = [
            f"train-lstm {self.run_date}: {self.model_version} on {self.dataset_version}, {self.launcher} x {t.get('world_size')} "
            f"({t.get('device')}), {t['epochs_run']} epochs{resumed}, best epoch {t['best_epoch']}"
            f"{' (stopped early)' if t.get('stopped_early') else ''}; training {self.train_seconds:.1f} s"
        ]
        lines += [
            f"    epoch {h['epoch']}: train loss {h['train_loss']:.4f}, validation loss {h['val_loss']:.4f}, "
            f"next-event accuracy {h['val_next_accuracy']:.3f}, {h['samples_per_second']:,.0f} samples/s"
            for h in t.get("history") or []
        ]
        from ecomlake.lstm.evaluate import metrics_table

        lines.append(metrics_table(self.evaluation))
        return "\n".join(lines)


# The checkpoints recorded with a version (relative to <lake.root>/models/lstm/<version>): what scoring and a resume load.
CHECKPOINT_FILES = ("checkpoints/best.pt", "checkpoints/last.pt")


def checkpoint_dir(config_root: str, version: str) -> str:
    return f"{config_root}/models/{MODEL}/{version}/checkpoints"


def run(ctx: Context, params: TrainParams) -> TrainResult:
    """Train (or resume) the LSTM on the newest dataset built on or before the date; evaluate and record it.

    The dataset is checked against its ml.model_runs row (every file's sha256) before anything opens it, and the
    workers compare it with that check before every reader they open; a re-run of a recorded version resumes only
    from the ``last.pt`` recorded with it. The checkpoints scoring and resuming load are recorded with their sha256.
    """
    from ecomlake.lstm.evaluate import evaluate, metrics_records
    from ecomlake.lstm.launch import launch
    from ecomlake.lstm.model import load_model
    from ecomlake.lstm.train import TrainSpec

    spark, config, lc, run_date = ctx.spark, ctx.config, ctx.config.lstm, params.date
    dataset = due.latest_after_sequences(ctx.spark, ctx.config, DATASET, run_date, trained_by="sequences", job="train-lstm", what="sequences dataset")
    t_check = time.perf_counter()
    files = registry.checked_artifact(config, dataset)  # every byte, once, on the driver: the workers then compare sizes and times
    log.info("train-lstm %s: dataset %s verified, %d files in %.2f s", run_date, dataset.version, len(files.files), time.perf_counter() - t_check)
    dataset_dir = local_path(files.root)
    manifest = cast(Manifest, read_manifest(dataset_dir, spark, written_by="sequences"))  # as ecomlake sequences wrote it
    version = registry.model_version(run_date, lc, manifest["dataset_version"])
    checkpoints = local_path(checkpoint_dir(config.lake.root, version))
    _check_resume(ctx, version, checkpoints)
    # launch() adds the fault injection of ECOMLAKE_LSTM_FAIL_AFTER_EPOCH, for crash-and-resume tests.
    spec = TrainSpec(
        dataset_dir=dataset_dir, manifest=dict(manifest), config=dataclasses.asdict(lc), checkpoint_dir=checkpoints, dataset_files=files.as_dict()
    )
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

    best = (Path(checkpoints) / "best.pt").read_bytes()  # the bytes evaluated are the bytes recorded
    model, meta = load_model(best)
    folder = registry.artifact_path(config, MODEL, version)
    recorded = [FileRecord(CHECKPOINT_FILES[0], len(best), artifacts.sha256_bytes(best)), artifacts.record(folder, CHECKPOINT_FILES[1])]
    files.check()  # evaluation reads the test and train splits: still the files verified before training
    evaluation = evaluate(spark, model, dataset_dir, lake.read(spark, config, PROPENSITY_SCORES, missing="empty"))
    result = TrainResult(
        run_date, version, manifest["dataset_version"], lc.launcher, training, evaluation, train_seconds, manifest["splits"]["train"]["rows"]
    )
    records = metrics_records(evaluation, run_date, version, manifest["dataset_version"], training, train_seconds, lc)
    lake.append(spark, config, LSTM_METRICS, records, {"run_date": run_date, "model_version": version})
    _record_model(ctx, result, dataset.artifact_path, meta.get("best_val_loss"), recorded)
    return result


def _check_resume(ctx: Context, version: str, checkpoints: str) -> None:
    """A re-run of a recorded version resumes from its ``last.pt``: that file must be the one recorded with the version.

    A version without a row (a first run, or one that crashed before recording) has nothing to check against; its
    checkpoints hold only tensors and plain data (loaded with ``weights_only``).
    """
    last = Path(checkpoints) / "last.pt"
    if not last.exists():
        return
    run = registry.recorded_run(ctx.spark, ctx.config, MODEL, version, trained_by="train-lstm")
    if run is not None:
        advice = f"Delete {checkpoints} to train version {version} from scratch."
        registry.checked_artifact(ctx.config, run, only=(CHECKPOINT_FILES[1],), recover=advice)


def _record_model(ctx: Context, r: TrainResult, dataset_path: str, best_validation_loss: float | None, files: list[FileRecord]) -> None:
    from ecomlake.lstm.evaluate import finite

    t, lstm = r.training, r.evaluation.by_model()["lstm"]
    params = {
        "dataset_version": r.dataset_version, "dataset_path": dataset_path,
        "checkpoint": f"{checkpoint_dir(ctx.config.lake.root, r.model_version)}/best.pt",
        "best_epoch": t["best_epoch"], "epochs_run": t["epochs_run"], "resumed_from_epoch": t.get("resumed_from_epoch"),
        "stopped_early": t.get("stopped_early"), "world_size": t.get("world_size"), "device": t.get("device"), "history": t.get("history"),
        "config": dataclasses.asdict(ctx.config.lstm),
    }  # fmt: skip
    metrics = {
        "next_event_accuracy": lstm.next_event_accuracy, "next_event_macro_f1": lstm.next_event_macro_f1,
        "purchase_roc_auc": finite(lstm.purchase_roc_auc), "churn_roc_auc": finite(lstm.churn_roc_auc),
        "best_validation_loss": best_validation_loss, "train_seconds": r.train_seconds,
    }  # fmt: skip
    registry.record_run(ctx.spark, ctx.config, MODEL, r.model_version, r.run_date, ctx.run_id, r.train_rows, params, metrics, files)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--date", type=iso_date, required=True, help="train on the newest sequences dataset built on or before this day (YYYY-MM-DD)")
    parser.add_argument("--launcher", dest="lstm.launcher", choices=("horovod", "horovodrun", "torch_distributor"), help="override lstm.launcher")
    parser.add_argument("--num-proc", dest="lstm.num_proc", type=int, help="override lstm.num_proc (training processes)")


JOB = SparkJob(
    "train-lstm", "Train the multi-task LSTM on the sequences dataset (Horovod or TorchDistributor) and evaluate it", TrainParams, run, add_arguments
)
