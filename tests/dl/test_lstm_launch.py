"""Real 2-process training through each launcher on the small synthetic dataset (petastorm reader, 2 x 4 row groups).

- horovodrun: a run that crashes after epoch 1 (ECOMLAKE_LSTM_FAIL_AFTER_EPOCH), then a re-run that resumes at epoch 2;
- horovod.spark.run (the session's local[2]): a fresh run that fails after its last epoch, so the driver must see a
  worker's error while the checkpoints hold the whole history;
- TorchDistributor (local_mode=False, Gloo): a fresh run to the end.

All three follow the same seed through the same data, so their losses should agree: observed, they are identical to
the last bit (Horovod's and DDP's gradient averaging of 2 processes, Adam, and the deterministic petastorm reading
order with one reader thread); the test allows 1e-5 relative.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from ecomlake.config import LstmConfig
from ecomlake.errors import StepFailedError
from ecomlake.lstm.launch import launch
from ecomlake.lstm.model import load_checkpoint, load_model
from ecomlake.lstm.train import ENV_FAIL_AFTER_EPOCH, TrainSpec

pytestmark = pytest.mark.dl

CFG = LstmConfig(
    reader="petastorm",
    event_embedding=4,
    item_embedding=8,
    category_embedding=4,
    hidden_size=16,
    batch_size=64,
    epochs=3,
    learning_rate=0.005,
    seed=11,
)
REL = 1e-5
# When a worker fails, horovod.spark.run cancels its Spark job, and its own background thread dies of that cancellation
# (an unhandled Py4JJavaError in horovod/spark/runner.py's run_spark): noise from upstream, not a failure of ours.
HOROVOD_THREAD_NOISE = pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")


def _checkpoint_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.pt"))


@pytest.fixture(scope="module")
def horovodrun_runs(sequences_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    spec = TrainSpec.create(sequences_dir, CFG, tmp_path_factory.mktemp("horovodrun"))
    runs: dict = {"spec": spec}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ENV_FAIL_AFTER_EPOCH, "1")
        start = time.perf_counter()
        with pytest.raises(StepFailedError) as err:
            launch(None, spec, "horovodrun", 2, timeout_s=240)
        runs["crash_seconds"] = time.perf_counter() - start
    runs["error"] = str(err.value)
    runs["after_crash"] = _checkpoint_files(Path(spec.checkpoint_dir))
    runs["resumed"] = launch(None, spec, "horovodrun", 2, timeout_s=240)
    return runs


def test_horovodrun_crash_then_resume_at_epoch_2(horovodrun_runs: dict) -> None:
    assert "worker errors:" in horovodrun_runs["error"]
    assert "rank0: RuntimeError: injected failure after epoch 1" in horovodrun_runs["error"]
    assert "rank1: RuntimeError: injected failure after epoch 1" in horovodrun_runs["error"]
    assert horovodrun_runs["after_crash"] == ["best.pt", "epoch-001.pt", "last.pt"]

    result = horovodrun_runs["resumed"]
    assert result["resumed_from_epoch"] == 1 and result["epochs_run"] == 3 and [h["epoch"] for h in result["history"]] == [1, 2, 3]
    assert result["world_size"] == 2 and result["backend"] == "horovod" and result["launcher"] == "horovodrun"
    assert result["steps_per_epoch"] == 19 and result["learning_rate"] == pytest.approx(2 * CFG.learning_rate)
    history = result["history"]
    assert history[-1]["val_loss"] < history[0]["val_loss"] and history[-1]["train_loss"] < history[0]["train_loss"]
    assert all(h["delivered_rows"] == 2_400 and h["val_rows"] == 800 for h in history)
    folder = Path(horovodrun_runs["spec"].checkpoint_dir)
    assert _checkpoint_files(folder) == ["best.pt", "epoch-001.pt", "epoch-002.pt", "epoch-003.pt", "last.pt"]
    model, meta = load_model(folder / "best.pt")
    assert meta["epoch"] == result["best_epoch"] and not model.training


@pytest.fixture(scope="module")
def horovod_spark_run(spark: SparkSession, sequences_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    spec = TrainSpec.create(sequences_dir, CFG, tmp_path_factory.mktemp("horovod_spark"), fail_after_epoch=3)
    start = time.perf_counter()
    with pytest.raises(StepFailedError) as err:
        launch(spark, spec, "horovod", 2)
    return {"spec": spec, "error": str(err.value), "seconds": time.perf_counter() - start}


@HOROVOD_THREAD_NOISE
def test_horovod_spark_run_trains_and_a_worker_error_reaches_the_driver(horovod_spark_run: dict, horovodrun_runs: dict) -> None:
    assert "horovod.spark.run failed" in horovod_spark_run["error"]
    assert "RuntimeError: injected failure after epoch 3" in horovod_spark_run["error"]
    folder = Path(horovod_spark_run["spec"].checkpoint_dir)
    assert _checkpoint_files(folder) == ["best.pt", "epoch-001.pt", "epoch-002.pt", "epoch-003.pt", "last.pt"]
    last = load_checkpoint(folder / "last.pt")
    assert last["finished"] and last["world_size"] == 2 and last["backend"] == "horovod"
    history = last["history"]
    assert history[-1]["val_loss"] < history[0]["val_loss"]
    # The same seed and data through the other Horovod launcher, with a crash and a resume in between: the same run.
    for ours, theirs in zip(history, horovodrun_runs["resumed"]["history"], strict=True):
        assert ours["val_loss"] == pytest.approx(theirs["val_loss"], rel=REL)
        assert ours["train_loss"] == pytest.approx(theirs["train_loss"], rel=REL)
        assert ours["val_next_accuracy"] == pytest.approx(theirs["val_next_accuracy"], abs=1e-9)


@HOROVOD_THREAD_NOISE
def test_torch_distributor_matches_horovod(spark: SparkSession, sequences_dir: Path, tmp_path: Path, horovod_spark_run: dict) -> None:
    spec = TrainSpec.create(sequences_dir, CFG, tmp_path)
    result = launch(spark, spec, "torch_distributor", 2)
    assert result["backend"] == "torch" and result["world_size"] == 2 and result["launcher"] == "torch_distributor"
    assert result["epochs_run"] == 3 and result["resumed_from_epoch"] is None and result["device"] == "cpu"
    assert _checkpoint_files(tmp_path) == ["best.pt", "epoch-001.pt", "epoch-002.pt", "epoch-003.pt", "last.pt"]
    horovod = load_checkpoint(Path(horovod_spark_run["spec"].checkpoint_dir) / "last.pt")["history"]
    for ours, theirs in zip(result["history"], horovod, strict=True):
        assert ours["val_loss"] == pytest.approx(theirs["val_loss"], rel=REL)
        assert ours["train_loss"] == pytest.approx(theirs["train_loss"], rel=REL)
    assert result["startup_seconds"] > 0


def test_fault_injection_is_read_from_the_environment_only_when_the_spec_sets_none(sequences_dir: Path, tmp_path: Path) -> None:
    from ecomlake.lstm.launch import child_env, with_fault_injection

    spec = TrainSpec.create(sequences_dir, CFG, tmp_path)
    assert with_fault_injection(spec, {ENV_FAIL_AFTER_EPOCH: "2"}).fail_after_epoch == 2
    assert with_fault_injection(dataclasses.replace(spec, fail_after_epoch=1), {ENV_FAIL_AFTER_EPOCH: "2"}).fail_after_epoch == 1
    assert with_fault_injection(spec, {}).fail_after_epoch is None
    with pytest.raises(StepFailedError, match="must be an epoch number"):
        with_fault_injection(spec, {ENV_FAIL_AFTER_EPOCH: "two"})
    env = child_env({"PYTHONPATH": "libs:."})
    first, *rest = env["PYTHONPATH"].split(":")
    assert Path(first, "ecomlake", "lstm", "train.py").is_file() and all(Path(p).is_absolute() for p in rest)


def test_worker_errors_are_picked_out_of_launcher_output() -> None:
    from ecomlake.lstm.launch import worker_errors

    output = "\n".join(
        [
            "[1]<stderr>:Traceback (most recent call last):",
            '[1]<stderr>:  File "train.py", line 9, in _train',
            "[1]<stderr>:ecomlake.lstm.readers.RowShortfallError: /d/train: shard 1 of 2 should hold 5 rows",
            "[0]<stderr>:RuntimeError: injected failure after epoch 1",
            "[0]<stderr>:RuntimeError: injected failure after epoch 1",
            "RuntimeError: Horovod detected that one or more processes exited with non-zero status",
            "    raise RuntimeError('not an exception line')",
        ]
    )
    assert worker_errors(output) == [
        "[1]<stderr>:ecomlake.lstm.readers.RowShortfallError: /d/train: shard 1 of 2 should hold 5 rows",
        "[0]<stderr>:RuntimeError: injected failure after epoch 1",
    ]
