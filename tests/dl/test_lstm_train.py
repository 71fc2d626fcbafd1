"""The training loop in this process (Horovod with one process, no launcher): learning, checkpoints, resume, early
stopping and the row checks. The multi-process launches are in test_lstm_launch.py."""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from ecomlake.config import LstmConfig
from ecomlake.errors import ConfigError, DataQualityError, InputMissingError
from ecomlake.lstm.distributed import HorovodComm
from ecomlake.lstm.metrics import accuracy, roc_auc
from ecomlake.lstm.model import FEATURES, load_checkpoint, load_model, predict
from ecomlake.lstm.readers import EmptyShardError, RowShortfallError
from ecomlake.lstm.train import TrainSpec, _check_rows, train_worker
from ecomlake.manifest import read_manifest
from ecomlake.sequences.synthetic import write_synthetic_dataset

pytestmark = pytest.mark.dl

SMALL = LstmConfig(
    reader="pyarrow", event_embedding=4, item_embedding=8, category_embedding=4, hidden_size=16, batch_size=64, epochs=3, learning_rate=0.01, seed=3
)


@pytest.fixture(scope="module")
def trained(sequences_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainSpec, dict]:
    """Three uninterrupted epochs on the shared dataset: the spec and the result."""
    spec = TrainSpec.create(sequences_dir, SMALL, tmp_path_factory.mktemp("ckpt"))
    return spec, train_worker(spec, "horovod")


def test_training_lowers_the_loss_and_beats_the_majority_class(trained: tuple[TrainSpec, dict], sequences_dir: Path) -> None:
    _, result = trained
    history = result["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3] and result["epochs_run"] == 3
    assert history[-1]["train_loss"] < history[0]["train_loss"] and history[-1]["val_loss"] < history[0]["val_loss"]
    assert all(h["train_rows"] == h["delivered_rows"] == 2_400 and h["val_rows"] == 800 for h in history)
    assert result["resumed_from_epoch"] is None and not result["stopped_early"] and result["world_size"] == 1
    assert result["steps_per_epoch"] == 38 and result["device"] == "cpu" and result["learning_rate"] == SMALL.learning_rate

    # Scoring the test split with the best checkpoint: the next event beats always guessing the commonest one.
    model, meta = load_model(Path(result["checkpoint_dir"]) / "best.pt")
    assert meta["epoch"] == result["best_epoch"] and meta["dataset_version"] == "synthetic-7-12"
    test = pq.read_table(sequences_dir / "test").to_pydict()
    scores = predict(model, {c: np.array(test[c]) for c in FEATURES})
    y = np.array(test["next_event"])
    majority = np.bincount(y).max() / len(y)
    assert accuracy(y, scores["next_event_probs"].argmax(axis=1)) > majority + 0.1
    assert roc_auc(np.array(test["purchase_label"]), scores["purchase_probability"]) > 0.7
    known = np.array(test["churn_label"]) >= 0
    assert roc_auc(np.array(test["churn_label"])[known], scores["churn_probability"][known]) > 0.6


def test_every_epoch_is_checkpointed_and_a_finished_run_is_not_retrained(trained: tuple[TrainSpec, dict]) -> None:
    spec, result = trained
    ckpt_dir = Path(spec.checkpoint_dir)
    assert sorted(p.name for p in ckpt_dir.iterdir()) == ["best.pt", "epoch-001.pt", "epoch-002.pt", "epoch-003.pt", "last.pt"]
    last = load_checkpoint(ckpt_dir / "last.pt")
    assert last["epoch"] == 3 and last["finished"] and last["history"] == result["history"]
    assert last["config"]["hidden_size"] == 16 and last["vocab"]["categories"] == 12 and last["sequence_length"] == 12
    stamp = (ckpt_dir / "last.pt").stat().st_mtime_ns

    again = train_worker(TrainSpec.from_json(spec.to_json()), "horovod")  # the spec survives its JSON form
    assert again["resumed_from_epoch"] == 3 and again["history"] == result["history"]
    assert (ckpt_dir / "last.pt").stat().st_mtime_ns == stamp  # nothing retrained, nothing rewritten


def test_a_crashed_run_resumes_where_it_stopped_and_ends_as_an_uninterrupted_one(trained: tuple[TrainSpec, dict], tmp_path: Path) -> None:
    spec, uninterrupted = trained
    crashing = dataclasses.replace(spec, checkpoint_dir=str(tmp_path), fail_after_epoch=1)
    with pytest.raises(RuntimeError, match="injected failure after epoch 1"):
        train_worker(crashing, "horovod")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt", "epoch-001.pt", "failures", "last.pt"]
    assert "RuntimeError: injected failure after epoch 1" in (tmp_path / "failures" / "manual-rank0.txt").read_text()

    resumed = train_worker(crashing, "horovod")  # fail_after_epoch=1 no longer applies: epoch 1 is done
    assert resumed["resumed_from_epoch"] == 1 and resumed["epochs_run"] == 3
    # The same weights, optimizer state, reading order and dropout seeds: the same losses, to the last bit.
    assert [h["val_loss"] for h in resumed["history"]] == [h["val_loss"] for h in uninterrupted["history"]]
    assert [h["train_loss"] for h in resumed["history"]] == [h["train_loss"] for h in uninterrupted["history"]]


def test_early_stopping_when_validation_loss_stops_falling(tmp_path: Path) -> None:
    # The validation split's next event follows a rotated rule: the better the model fits train, the worse validation.
    dataset = tmp_path / "data"
    write_synthetic_dataset(dataset, {"train": 1_200, "validation": 400, "test": 100}, length=8, seed=2, validation_shift=2)
    cfg = dataclasses.replace(SMALL, epochs=6, patience=2)
    result = train_worker(TrainSpec.create(dataset, cfg, tmp_path / "ckpt"), "horovod")
    losses = [h["val_loss"] for h in result["history"]]
    assert result["stopped_early"] and result["best_epoch"] == 1 and result["epochs_run"] == 3
    assert losses[1] > losses[0] and losses[2] > losses[0]
    assert load_checkpoint(tmp_path / "ckpt" / "best.pt")["epoch"] == 1
    last = load_checkpoint(tmp_path / "ckpt" / "last.pt")
    assert last["stopped_early"] and last["finished"] and last["bad_epochs"] == 2


def test_resuming_a_checkpoint_of_another_model_is_refused(sequences_dir: Path, tmp_path: Path) -> None:
    one_epoch = dataclasses.replace(SMALL, epochs=1)
    train_worker(TrainSpec.create(sequences_dir, one_epoch, tmp_path), "horovod")
    wider = dataclasses.replace(SMALL, hidden_size=24)
    with pytest.raises(ConfigError, match=r"last.pt was trained with another hidden_size.*new checkpoint folder"):
        train_worker(TrainSpec.create(sequences_dir, wider, tmp_path), "horovod")


def test_rows_that_disagree_with_the_manifest_or_the_footers_fail_the_epoch(sequences_dir: Path, tmp_path: Path) -> None:
    manifest = read_manifest(str(sequences_dir))
    manifest["splits"]["train"]["rows"] += 1  # the files lost a row since the manifest was written
    spec = TrainSpec.create(sequences_dir, dataclasses.replace(SMALL, epochs=1), tmp_path, manifest=manifest)
    with pytest.raises(DataQualityError, match="read 2400 rows in all, the manifest says 2401"):
        train_worker(spec, "horovod")
    assert not (tmp_path / "last.pt").exists()  # the epoch did not count

    # The per-shard check the loop runs after every pass (here with one process): the footers' count against the reader's.
    comm = HorovodComm()
    try:
        _check_rows(comm, sequences_dir / "train", [2_400], 2_400, 2_400, "pyarrow")
        with pytest.raises(RowShortfallError, match=r"shard 0 of 1 should hold 2400 rows .* pyarrow reader delivered 2399"):
            _check_rows(comm, sequences_dir / "train", [2_400], 2_399, 2_400, "pyarrow")
    finally:
        comm.shutdown()


def test_a_split_with_no_rows_for_a_process_fails_before_training(tmp_path: Path) -> None:
    dataset = tmp_path / "data"
    write_synthetic_dataset(dataset, {"train": 0, "validation": 50, "test": 50}, length=6, files=1, row_groups_per_file=1)
    with pytest.raises(EmptyShardError, match="files_per_split"):
        train_worker(TrainSpec.create(dataset, SMALL, tmp_path / "ckpt"), "horovod")
    assert not list((tmp_path / "ckpt").glob("*.pt"))


def test_spec_round_trips_through_json(sequences_dir: Path, tmp_path: Path) -> None:
    spec = TrainSpec.create(sequences_dir, SMALL, tmp_path, fail_after_epoch=2, reader="memory")
    again = TrainSpec.from_json(spec.to_json())
    assert again == spec and again.lstm_config == SMALL and again.manifest["sequence_length"] == 12
    assert Path(again.dataset_dir).is_absolute() and Path(again.checkpoint_dir).is_absolute() and again.backend == "horovod"


def test_the_manifest_is_read_from_its_folder_and_a_dataset_without_one_is_refused(sequences_dir: Path, tmp_path: Path) -> None:
    """The manifest is ``<dataset>/_manifest/`` (one JSON text file, ecomlake.manifest); without it there is nothing to check rows against."""
    assert not (sequences_dir / "manifest.json").exists() and [p.name for p in (sequences_dir / "_manifest").iterdir()] == ["part-00000.txt"]
    manifest = read_manifest(str(sequences_dir))
    assert TrainSpec.create(sequences_dir, SMALL, tmp_path / "ckpt").manifest == manifest
    assert {s: manifest["splits"][s]["rows"] for s in ("train", "validation", "test")} == {"train": 2_400, "validation": 800, "test": 800}
    bare = tmp_path / "bare"
    shutil.copytree(sequences_dir / "train", bare / "train")
    with pytest.raises(InputMissingError, match=rf"no manifest at {re.escape(str(bare.resolve()))}/_manifest"):
        TrainSpec.create(bare, SMALL, tmp_path / "ckpt")
