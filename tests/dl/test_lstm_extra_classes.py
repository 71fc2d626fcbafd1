"""A site's own event type (events.extra_types) as a class of its own: a 6-class dataset trains, predicts and scores 6 classes."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession

from ecomlake.catalog import LSTM_SCORES
from ecomlake.config import LstmConfig
from ecomlake.lstm.model import FEATURES, SequenceModel, load_model, predict
from ecomlake.lstm.scoring import score_sequences
from ecomlake.lstm.train import TrainSpec, train_worker
from ecomlake.sequences.synthetic import write_synthetic_dataset
from ecomlake.vocabulary import EVENT_TYPES, EXIT

pytestmark = pytest.mark.dl

CLASSES = [*EVENT_TYPES, "wishlist", EXIT]
SMALL = LstmConfig(
    reader="pyarrow", event_embedding=4, item_embedding=8, category_embedding=4, hidden_size=16, batch_size=32, epochs=3, learning_rate=0.05, seed=3
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """Three epochs on a small dataset with a wishlist type (id 5, class 4; exit is class 5): its folder and the training result."""
    root = tmp_path_factory.mktemp("wishlist")
    manifest = write_synthetic_dataset(root, {"train": 640, "validation": 160, "test": 160}, length=8, seed=5, files=2, extra_types=["wishlist"])
    # The class counts ecomlake sequences records, so the 6 class weights are used too.
    train = pq.read_table(root / "train", columns=["next_event"]).column("next_event").to_numpy()
    manifest["splits"]["train"]["next_event_counts"] = np.bincount(train, minlength=len(CLASSES)).tolist()
    spec = TrainSpec.create(root, SMALL, tmp_path_factory.mktemp("ckpt"), manifest=manifest)
    return root, train_worker(spec, "horovod")


def test_a_six_class_dataset_trains_and_predicts_six_probabilities(trained: tuple[Path, dict]) -> None:
    root, result = trained
    assert [h["epoch"] for h in result["history"]] == [1, 2, 3] and result["history"][-1]["train_loss"] < result["history"][0]["train_loss"]
    model, meta = load_model(Path(result["checkpoint_dir"]) / "best.pt")
    assert meta["next_event_classes"] == CLASSES and model.next_event_classes == tuple(CLASSES)
    assert meta["vocab"]["event_types"] == 6 and model.next_event_head.out_features == 6
    test = pq.read_table(root / "test").to_pydict()
    probs = predict(model, {c: np.array(test[c]) for c in FEATURES})["next_event_probs"]
    assert probs.shape == (160, 6) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    # The wishlist class is learnt: likelier after a wishlist (mostly followed by another) than after anything else.
    after_wishlist = np.array(test["event_types"])[:, -1] == 5
    assert after_wishlist.any() and probs[after_wishlist, 4].mean() > probs[~after_wishlist, 4].mean() + 0.1


def test_event_type_ids_beyond_the_models_vocabulary_are_refused() -> None:
    """A five-type model fed a sixth type's id (scored with another vocabulary than it was trained on) fails, naming the cause."""
    model = SequenceModel(dataclasses.replace(SMALL, hidden_size=4), {"event_types": 6, "items": 9, "categories": 9}, CLASSES)
    batch = {c: np.ones((2, 3), np.float32 if c in ("prices", "gaps") else np.int64) for c in FEATURES}
    assert predict(model, batch)["next_event_probs"].shape == (2, 6)
    batch["event_types"][1, 2] = 6
    with pytest.raises(ValueError, match=r"event type id 6 is beyond the model's 5 event types; number event types by the vocabulary"):
        predict(model, batch)


def test_scoring_writes_the_extra_class_to_the_map_column(spark: SparkSession, trained: tuple[Path, dict]) -> None:
    root, result = trained
    sequences = spark.read.parquet(str(root / "test")).limit(40).select("user_id", "anchor_time", "length", *FEATURES)
    checkpoint = (Path(result["checkpoint_dir"]) / "best.pt").read_bytes()
    rows = score_sequences(sequences, checkpoint, "v-wishlist", dt.date(2019, 10, 7)).collect()
    assert len(rows) == 40 and list(rows[0].asDict()) == LSTM_SCORES.schema().names
    fixed = ("p_next_view", "p_next_cart", "p_next_remove_from_cart", "p_next_purchase", "p_exit")
    for r in rows:
        assert set(r["p_next_extra"]) == {"wishlist"}
        p = dict(zip(CLASSES, [r[c] for c in fixed[:4]] + [r["p_next_extra"]["wishlist"], r["p_exit"]], strict=True))
        assert sum(p.values()) == pytest.approx(1, abs=1e-5) and r["predicted_next_event"] == max(p, key=p.__getitem__)
