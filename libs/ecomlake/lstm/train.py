"""The training loop every process runs, whatever launched it: ``train_worker(spec, backend)``.

Data parallel: each of the ``size`` processes reads its shard of the training split (whole row groups,
``cur_shard=rank``), computes gradients on its batches, and the backend averages them at every step, so all
processes hold the same model. The learning rate is ``lstm.learning_rate x size`` (the effective batch is
``batch_size x size``).

What keeps the processes in step and the run honest:

- Every rank takes the same number of optimizer steps (a rank with a step fewer would leave the others waiting
  in an allreduce forever): ``min over shards of ceil(shard rows / batch_size)``, from the Parquet footers
  before the first epoch. A rank keeps reading after its last step, so each epoch's delivered rows can be
  compared with the footers (``RowShortfallError``), and their sum with the manifest's row count. A rank whose
  reader comes up short still takes its steps (on zeroed loss) so the others are not left hanging; the check
  then fails on every rank at once.
- A split with fewer row groups than processes fails before training (``EmptyShardError``).
- No rank reads a file of the dataset the driver did not verify: ``spec.dataset_files`` (train-lstm checked every
  byte against ml.model_runs) is compared with the folder before the footers are read and before every reader is
  opened (names, sizes, times: a stat per file, no hashing per rank), and the split's names must be Spark's
  (``readers.check_split_folder``): a planted ``_common_metadata``, which petastorm would unpickle, fails the run.
- Validation loss and next-event accuracy are sums over every rank's validation shard, so all ranks take the
  same early-stopping decision (rank 0's, broadcast).
- Rank 0 writes ``epoch-NNN.pt`` and ``last.pt`` after every epoch and ``best.pt`` when validation loss fell
  (atomic writes); all ranks then meet at a barrier. A run whose checkpoint folder holds ``last.pt`` resumes
  from it on every rank: the next epoch, the optimizer state, the best loss, the patience counter and the
  history. The dropout seed is ``seed + epoch``, so a resumed run repeats what an uninterrupted one would do.
- ``fail_after_epoch`` (from ``ECOMLAKE_LSTM_FAIL_AFTER_EPOCH``, read by the launcher) raises after that
  epoch's checkpoint on every rank: a crash to resume from, for tests and drills.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import time
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from ecomlake.artifacts import Verified
from ecomlake.config import LstmConfig
from ecomlake.errors import ConfigError, DataQualityError
from ecomlake.lstm.distributed import Comm, make_comm
from ecomlake.lstm.model import (
    COLUMNS,
    FEATURES,
    NUMERIC_FEATURES,
    SequenceModel,
    combine_loss,
    config_from_dict,
    forward_batch,
    load_checkpoint,
    loss_sums,
    manifest_classes,
    next_event_weights,
    save_checkpoint,
    to_tensors,
    unwrap,
)
from ecomlake.lstm.readers import RowShortfallError, open_batches, rows_per_shard
from ecomlake.manifest import read_manifest

log = logging.getLogger(__name__)

ENV_FAIL_AFTER_EPOCH = "ECOMLAKE_LSTM_FAIL_AFTER_EPOCH"
TRAIN, VALIDATION = "train", "validation"
FAILURES = "failures"
SUM_KEYS = ("next_event", "purchase", "churn", "rows", "churn_rows", "next_correct")
# Settings that shape the model: a checkpoint made with other values cannot be resumed.
ARCHITECTURE_KEYS = ("event_embedding", "item_embedding", "category_embedding", "hidden_size", "layers")


@dataclass
class TrainSpec:
    """Everything a training process needs, picklable and JSON-able (it crosses Spark, cloudpickle and horovodrun).

    ``config`` is the lstm section as a dict (``dataclasses.asdict(LstmConfig)``); ``manifest`` the dataset's
    manifest; ``backend`` the default for ``train_worker``; ``fail_after_epoch`` injects a crash after that
    epoch's checkpoint; ``timeout_s`` bounds torch.distributed's collectives; ``launched_at`` (epoch seconds,
    set by ``launch``) lets the workers report the launcher's startup time; ``reader`` overrides
    ``config["reader"]`` (the benchmark's ``memory``); ``dataset_files`` is the dataset's files as the launching
    process checked them (``ecomlake.artifacts.Verified.as_dict``: train-lstm verified every byte against
    ml.model_runs), which every worker compares the folder with before reading it, each epoch (sizes and times).
    """

    dataset_dir: str
    manifest: dict[str, Any]
    config: dict[str, Any]
    checkpoint_dir: str
    backend: str = "horovod"
    fail_after_epoch: int | None = None
    timeout_s: float = 1800.0
    launched_at: float | None = None
    reader: str | None = None
    dataset_files: dict[str, Any] | None = None

    @classmethod
    def create(
        cls,
        dataset_dir: str | Path,
        cfg: LstmConfig,
        checkpoint_dir: str | Path,
        manifest: Mapping[str, Any] | None = None,
        files: Verified | None = None,
        **kw: Any,
    ) -> TrainSpec:
        """A spec from a dataset folder (its manifest read unless given) and the lstm config section.

        ``files`` is the dataset as verified against its record (``ecomlake.ml.registry.checked_artifact``); without one
        (a dataset outside the lake: tests, benchmarks) the folder's files as they are now, so that the workers at least
        refuse whatever changes in it once training started.
        """
        dataset_dir = Path(dataset_dir).resolve()
        if files is None:
            files = Verified.snapshot(str(dataset_dir), what=f"sequences dataset {dataset_dir}", recover="Rebuild the dataset.")
        if manifest is None:
            manifest = read_manifest(str(dataset_dir), written_by="sequences")
        checkpoints = str(Path(checkpoint_dir).resolve())
        return cls(str(dataset_dir), dict(manifest), dataclasses.asdict(cfg), checkpoints, dataset_files=files.as_dict(), **kw)

    @property
    def lstm_config(self) -> LstmConfig:
        """``config`` as the typed section."""
        return config_from_dict(self.config)

    @property
    def files(self) -> Verified | None:
        """``dataset_files`` as ``Verified``: what the workers check the dataset folder against."""
        return Verified.from_mapping(self.dataset_files) if self.dataset_files is not None else None

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TrainSpec:
        return cls(**json.loads(text))


@dataclass
class EpochStats:
    """One rank's pass over its training shard."""

    loss_sum: float = 0.0  # sum of batch loss x batch rows
    trained_rows: int = 0
    delivered_rows: int = 0
    steps: int = 0
    idle_steps: int = 0  # steps taken on zeroed loss because the reader ran dry early
    seconds: float = 0.0


@dataclass
class _State:
    """What a checkpoint carries besides the weights."""

    epoch: int = 0
    best_val_loss: float = math.inf
    best_epoch: int | None = None
    bad_epochs: int = 0
    stopped_early: bool = False
    finished: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)


def _rows(batch: Mapping[str, Any]) -> int:
    return int(len(next(iter(batch.values()))))


def _zero_batch(sequence_length: int) -> dict[str, NDArray[Any]]:
    """One all-padding row: what a rank with no data left runs its idle steps on."""
    batch = {c: np.zeros((1, sequence_length), np.float32 if c in NUMERIC_FEATURES else np.int64) for c in FEATURES}
    batch.update(next_event=np.zeros(1, np.int64), purchase_label=np.zeros(1, np.int64), churn_label=np.full(1, -1, np.int64))
    return batch


def train_epoch(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: Iterable[Mapping[str, Any]],
    steps: int,
    cfg: LstmConfig,
    device: torch.device,
    sequence_length: int,
    next_weights: torch.Tensor | None = None,
) -> EpochStats:
    """Exactly ``steps`` optimizer steps on the first batches, then read the rest of ``batches`` (counted, not trained on)."""
    stats = EpochStats()
    start = time.perf_counter()
    model.train()
    last: Mapping[str, Any] | None = None
    for batch in batches:
        n = _rows(batch)
        stats.delivered_rows += n
        if stats.steps >= steps:
            continue  # read to the end of the shard: the delivered-row check needs every row
        tensors = to_tensors(batch, device, COLUMNS)
        optimizer.zero_grad()  # no set_to_none=: Horovod's DistributedOptimizer refuses it (horovod#3405)
        loss = combine_loss(loss_sums(forward_batch(model, tensors), tensors, next_weights), cfg)
        loss.backward()
        optimizer.step()
        stats.loss_sum += float(loss.detach()) * n
        stats.trained_rows += n
        stats.steps += 1
        last = batch
    while stats.steps < steps:  # the reader ran dry: join the other ranks' allreduces (the row check then fails the epoch)
        tensors = to_tensors(last if last is not None else _zero_batch(sequence_length), device, COLUMNS)
        optimizer.zero_grad()
        (combine_loss(loss_sums(forward_batch(model, tensors), tensors, next_weights), cfg) * 0.0).backward()
        optimizer.step()
        stats.steps += 1
        stats.idle_steps += 1
    stats.seconds = time.perf_counter() - start
    return stats


def evaluate_batches(
    model: torch.nn.Module, batches: Iterable[Mapping[str, Any]], device: torch.device, next_weights: torch.Tensor | None = None
) -> dict[str, float]:
    """Loss sums, row counts and next-event hits over ``batches`` (no gradients; the plain model, no collectives)."""
    inner = unwrap(model)
    was_training = inner.training
    inner.eval()
    totals = dict.fromkeys(SUM_KEYS, 0.0)
    try:
        with torch.no_grad():
            for batch in batches:
                tensors = to_tensors(batch, device, COLUMNS)
                for k, v in loss_sums(forward_batch(inner, tensors), tensors, next_weights).items():
                    totals[k] += float(v)
    finally:
        inner.train(was_training)
    return totals


def _check_rows(comm: Comm, split_dir: Path, expected: list[int], delivered: int, manifest_rows: int, kind: str) -> list[int]:
    """Every rank learns every rank's delivered rows, then all raise the same error if any rank or the total is off."""
    vector = [0.0] * comm.size
    vector[comm.rank] = float(delivered)
    per_rank = [int(round(v)) for v in comm.allreduce_sum(vector)]
    for shard, (want, got) in enumerate(zip(expected, per_rank, strict=True)):
        if want != got:
            raise RowShortfallError(str(split_dir), shard, comm.size, want, got, kind)
    if sum(per_rank) != manifest_rows:
        raise DataQualityError(
            f"{split_dir}: the {comm.size} processes read {sum(per_rank)} rows in all, the manifest says {manifest_rows}; "
            "the split's files changed since the manifest was written (rebuild the dataset)"
        )
    return per_rank


def _check_resumable(ckpt: Mapping[str, Any], spec: TrainSpec, cfg: LstmConfig, path: Path) -> None:
    manifest = spec.manifest
    theirs = ckpt.get("config", {})
    problems = [k for k in ARCHITECTURE_KEYS if theirs.get(k) != getattr(cfg, k)]
    if ckpt.get("vocab") != dict(manifest["vocab"]):
        problems.append("vocab")
    if ckpt.get("sequence_length") != manifest["sequence_length"]:
        problems.append("sequence_length")
    if manifest_classes(ckpt) != manifest_classes(manifest):
        problems.append("next_event_classes")
    if ckpt.get("dataset_version") != manifest["dataset_version"]:
        problems.append(f"dataset_version ({ckpt.get('dataset_version')} vs {manifest['dataset_version']})")
    if problems:
        raise ConfigError(
            f"{path} was trained with another {', '.join(problems)}; it cannot be resumed. "
            "Use a new checkpoint folder (or delete this one) to train from scratch."
        )


def _result(spec: TrainSpec, comm: Comm, state: _State, resumed_from: int | None, started_at: float, steps: int, lr: float) -> dict[str, Any]:
    return {
        "history": state.history,
        "best_epoch": state.best_epoch,
        "best_val_loss": state.best_val_loss if math.isfinite(state.best_val_loss) else None,
        "epochs_run": state.epoch,
        "resumed_from_epoch": resumed_from,
        "stopped_early": state.stopped_early,
        "world_size": comm.size,
        "rank": comm.rank,
        "backend": comm.backend,
        "device": str(comm.device),
        "steps_per_epoch": steps,
        "learning_rate": lr,
        "checkpoint_dir": spec.checkpoint_dir,
        "startup_seconds": (started_at - spec.launched_at) if spec.launched_at else None,
    }


def train_worker(spec: TrainSpec, backend: str | None = None) -> dict[str, Any]:
    """Train on this process's shards (``backend``: horovod or torch; default ``spec.backend``); returns the result on every rank.

    The result: ``history`` (per epoch: train_loss, val_loss, val_next_accuracy, train_rows, delivered_rows,
    val_rows, seconds, val_seconds, samples_per_second), ``best_epoch``, ``best_val_loss``, ``epochs_run`` (the
    last epoch trained, counting those before a resume), ``resumed_from_epoch`` (or None), ``stopped_early``,
    ``world_size``, ``rank``, ``backend``, ``device``, ``steps_per_epoch``, ``learning_rate``, ``startup_seconds``.
    """
    started_at = time.time()
    rank: int | str = f"pid{os.getpid()}"
    try:
        cfg = spec.lstm_config
        cfg.validate()
        comm = make_comm(backend or spec.backend, cfg.use_gpu, spec.timeout_s)
        rank = comm.rank
        try:
            return _train(spec, cfg, comm, started_at)
        finally:
            comm.shutdown()
    except BaseException as error:
        _record_failure(spec, rank, error)
        raise


def failures_dir(spec: TrainSpec) -> Path:
    """Where workers leave their tracebacks, one file per rank and launch (the launcher quotes them)."""
    return Path(spec.checkpoint_dir) / FAILURES


def _record_failure(spec: TrainSpec, rank: int | str, error: BaseException) -> None:
    """Write the traceback to ``<checkpoint_dir>/failures/<launch>-rank<r>.txt``: some launchers (TorchDistributor)
    only tell the driver that a worker failed, not why."""
    try:
        folder = failures_dir(spec)
        folder.mkdir(parents=True, exist_ok=True)
        text = "".join(traceback.format_exception(error))
        (folder / f"{launch_id(spec)}-rank{rank}.txt").write_text(text)
    except OSError:
        log.exception("could not record the failure of rank %s", rank)


def launch_id(spec: TrainSpec) -> str:
    """A launch's name in the failures folder: its start time in microseconds (``manual`` without a launcher)."""
    return f"{int(spec.launched_at * 1e6)}" if spec.launched_at else "manual"


def train_next_weights(manifest: Mapping[str, Any], cfg: LstmConfig) -> torch.Tensor | None:
    """The next-event class weights of ``lstm.balance_next_event``, from the train split's class counts in the manifest."""
    counts = manifest["splits"][TRAIN].get("next_event_counts")
    if not cfg.balance_next_event or not counts:
        return None
    classes = manifest_classes(manifest)
    if len(counts) != len(classes):
        raise DataQualityError(
            f"the manifest counts {len(counts)} next-event classes in the train split but names {len(classes)} ({', '.join(classes)}); "
            "rebuild the dataset"
        )
    return next_event_weights(counts)


@dataclass
class _Run:
    """What stays fixed across a training run's epochs (one per process)."""

    spec: TrainSpec
    cfg: LstmConfig
    comm: Comm
    reader: str
    train_dir: Path
    val_dir: Path
    train_shards: list[int]
    val_shards: list[int]
    steps: int
    sequence_length: int
    next_weights: torch.Tensor | None
    files: Verified | None

    @classmethod
    def open(cls, spec: TrainSpec, cfg: LstmConfig, comm: Comm) -> _Run:
        manifest, files = spec.manifest, spec.files
        dataset = Path(spec.dataset_dir)
        if files is not None:
            files.check()  # before anything of the dataset is read here, footers included: the files the driver verified, no other
        train_dir, val_dir = dataset / TRAIN, dataset / VALIDATION
        # Every rank computes every shard's size from the footers (cheap, no data), so all agree on the step count.
        train_shards = rows_per_shard(train_dir, comm.size)
        return cls(
            spec=spec,
            cfg=cfg,
            comm=comm,
            reader=spec.reader or cfg.reader,
            train_dir=train_dir,
            val_dir=val_dir,
            train_shards=train_shards,
            val_shards=rows_per_shard(val_dir, comm.size),
            steps=min(math.ceil(r / cfg.batch_size) for r in train_shards),
            sequence_length=int(manifest["sequence_length"]),
            next_weights=train_next_weights(manifest, cfg),
            files=files,
        )

    def split_rows(self, split: str) -> int:
        return int(self.spec.manifest["splits"][split]["rows"])


def _resume(run: _Run, model: torch.nn.Module, optimizer: torch.optim.Optimizer, ckpt: Mapping[str, Any], path: Path, lr: float) -> _State:
    """Load ``last.pt`` into the prepared model and optimizer; the state to continue from."""
    _check_resumable(ckpt, run.spec, run.cfg, path)
    unwrap(model).load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    for group in optimizer.param_groups:
        group["lr"] = lr  # the world size may differ from the interrupted run's
    state = _State(**{f.name: ckpt[f.name] for f in dataclasses.fields(_State)})
    if run.comm.rank == 0:
        log.info("resuming from %s: epoch %d done, best validation loss %.5f", path, state.epoch, state.best_val_loss)
    return state


def _validate(run: _Run, model: torch.nn.Module) -> tuple[float, dict[str, float], int, float]:
    """Validation loss, the summed totals, the rows read and the seconds, the same on every rank."""
    comm, cfg = run.comm, run.cfg
    start = time.perf_counter()
    batches = open_batches(run.reader, run.val_dir, COLUMNS, cfg.batch_size, comm.rank, comm.size, cfg.seed, 0, shuffle=False, files=run.files)
    local = evaluate_batches(model, batches, comm.device, run.next_weights)
    totals = dict(zip(SUM_KEYS, comm.allreduce_sum([local[k] for k in SUM_KEYS]), strict=True))
    val_rows = _check_rows(comm, run.val_dir, run.val_shards, int(local["rows"]), run.split_rows(VALIDATION), run.reader)
    return float(combine_loss(totals, cfg)), totals, sum(val_rows), time.perf_counter() - start


def _advance(state: _State, epoch: int, val_loss: float, comm: Comm, cfg: LstmConfig) -> tuple[bool, bool]:
    """Record ``epoch`` in ``state``: (improved, stop), one decision for all ranks."""
    # Their sums are equal, but a broadcast makes the decision one by construction.
    improved, stop = comm.broadcast_object((val_loss < state.best_val_loss, val_loss >= state.best_val_loss and state.bad_epochs + 1 >= cfg.patience))
    state.epoch = epoch
    if improved:
        state.best_val_loss, state.best_epoch, state.bad_epochs = val_loss, epoch, 0
    else:
        state.bad_epochs += 1
    state.stopped_early = bool(stop)
    state.finished = bool(stop) or epoch == cfg.epochs
    return bool(improved), bool(stop)


def _epoch_record(
    epoch: int, run: _Run, loss_sum: float, trained: float, seconds: float, val: tuple[float, dict[str, float], int, float]
) -> dict[str, Any]:
    """One line of the history (every rank's sums; seconds are the mean over ranks)."""
    val_loss, totals, val_rows, val_seconds = val
    mean_seconds = seconds / run.comm.size
    return {
        "epoch": epoch,
        "train_loss": loss_sum / trained if trained else math.nan,
        "val_loss": val_loss,
        "val_next_accuracy": totals["next_correct"] / totals["rows"] if totals["rows"] else math.nan,
        "train_rows": int(trained),
        "delivered_rows": int(sum(run.train_shards)),
        "val_rows": int(val_rows),
        "seconds": mean_seconds,
        "val_seconds": val_seconds,
        "samples_per_second": trained / mean_seconds if mean_seconds else math.nan,
    }


def _train(spec: TrainSpec, cfg: LstmConfig, comm: Comm, started_at: float) -> dict[str, Any]:
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads_per_proc)
    run = _Run.open(spec, cfg, comm)
    model: torch.nn.Module = SequenceModel(cfg, spec.manifest["vocab"], manifest_classes(spec.manifest)).to(comm.device)
    lr = cfg.learning_rate * comm.size
    optimizer: torch.optim.Optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    ckpt_dir = Path(spec.checkpoint_dir)
    last_path = ckpt_dir / "last.pt"
    ckpt = load_checkpoint(last_path) if last_path.exists() else None
    model, optimizer = comm.prepare(model, optimizer, broadcast=ckpt is None)
    state = _resume(run, model, optimizer, ckpt, last_path, lr) if ckpt is not None else _State()
    resumed_from = state.epoch if ckpt is not None else None

    first = cfg.epochs + 1 if state.finished else state.epoch + 1  # a finished run's resume trains nothing
    for epoch in range(first, cfg.epochs + 1):
        torch.manual_seed(cfg.seed * 1_000 + epoch)  # dropout: the same on a resumed run as on an uninterrupted one
        batches = open_batches(run.reader, run.train_dir, COLUMNS, cfg.batch_size, comm.rank, comm.size, cfg.seed, epoch, files=run.files)
        stats = train_epoch(model, optimizer, batches, run.steps, cfg, comm.device, run.sequence_length, run.next_weights)
        loss_sum, trained, seconds = comm.allreduce_sum([stats.loss_sum, stats.trained_rows, stats.seconds])
        _check_rows(comm, run.train_dir, run.train_shards, stats.delivered_rows, run.split_rows(TRAIN), run.reader)
        val = _validate(run, model)
        improved, stop = _advance(state, epoch, val[0], comm, cfg)
        state.history.append(_epoch_record(epoch, run, loss_sum, trained, seconds, val))
        if comm.rank == 0:
            log.info("epoch %d: train loss %.5f, validation loss %.5f, accuracy %.4f, %.0f samples/s", epoch, *_summary(state.history[-1]))
            _write_checkpoints(ckpt_dir, model, optimizer, state, cfg, spec.manifest, comm, improved)
        comm.barrier()
        if spec.fail_after_epoch is not None and epoch == spec.fail_after_epoch:
            raise RuntimeError(f"injected failure after epoch {epoch}")
        if stop:
            log.info("early stop after epoch %d: no lower validation loss for %d epochs", epoch, cfg.patience)
            break
    return _result(spec, comm, state, resumed_from, started_at, run.steps, lr)


def _summary(h: Mapping[str, Any]) -> tuple[float, float, float, float]:
    return h["train_loss"], h["val_loss"], h["val_next_accuracy"], h["samples_per_second"]


def _write_checkpoints(
    ckpt_dir: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    state: _State,
    cfg: LstmConfig,
    manifest: Mapping[str, Any],
    comm: Comm,
    improved: bool,
) -> None:
    payload = dataclasses.asdict(state)
    payload.update(
        config=dataclasses.asdict(cfg),
        vocab=dict(manifest["vocab"]),
        sequence_length=int(manifest["sequence_length"]),
        dataset_version=manifest["dataset_version"],
        next_event_classes=list(manifest_classes(manifest)),
        world_size=comm.size,
        backend=comm.backend,
    )
    epoch_path = ckpt_dir / f"epoch-{state.epoch:03d}.pt"
    save_checkpoint(epoch_path, model, optimizer, payload)
    if improved:
        save_checkpoint(ckpt_dir / "best.pt", model, optimizer, payload)
    save_checkpoint(ckpt_dir / "last.pt", model, optimizer, payload)  # last: a resume never sees a best.pt older than it
