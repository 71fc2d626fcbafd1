"""The sequence model: shapes, padding, the multi-task loss and its churn mask, checkpoints, load_model and predict."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch.nn import functional as F

from ecomlake.config import LstmConfig
from ecomlake.lstm.model import (
    FEATURES,
    SequenceModel,
    forward_batch,
    load_checkpoint,
    load_model,
    multitask_loss,
    predict,
    save_checkpoint,
    to_tensors,
)

pytestmark = pytest.mark.dl

VOCAB = {"event_types": 5, "items": 40, "categories": 9}
CFG = LstmConfig(event_embedding=3, item_embedding=6, category_embedding=4, hidden_size=8, dropout=0.0)
L = 7


def _batch(n: int, seed: int = 0, churn: list[int] | None = None) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    batch = {
        "event_types": rng.integers(1, 5, (n, L)),
        "items": rng.integers(1, VOCAB["items"], (n, L)),
        "categories": rng.integers(1, VOCAB["categories"], (n, L)),
        "prices": rng.random((n, L)).astype(np.float32),
        "gaps": rng.random((n, L)).astype(np.float32),
        "next_event": rng.integers(0, 5, n),
        "purchase_label": rng.integers(0, 2, n),
        "churn_label": np.array(churn) if churn is not None else rng.integers(0, 2, n),
    }
    batch["event_types"][:, :2] = 0  # left padding
    batch["items"][:, :2] = 0
    batch["categories"][:, :2] = 0
    return batch


def _model(cfg: LstmConfig = CFG) -> SequenceModel:
    torch.manual_seed(0)
    return SequenceModel(cfg, VOCAB)


def test_outputs_have_the_heads_shapes_and_padding_embeds_to_zero() -> None:
    model = _model(dataclasses.replace(CFG, layers=2, dropout=0.2))
    out = forward_batch(model, to_tensors(_batch(6)))
    assert out["next_event"].shape == (6, 5)
    assert out["purchase"].shape == (6,) and out["churn"].shape == (6,)
    assert model.lstm.num_layers == 2 and model.lstm.dropout == 0.2  # dropout between the two layers
    for emb in (model.event_embedding, model.item_embedding, model.category_embedding):
        assert emb.padding_idx == 0 and torch.count_nonzero(emb.weight[0]) == 0
    assert model.lstm.input_size == 3 + 6 + 4 + 2
    assert _model().lstm.dropout == 0.0  # one layer: no inter-layer dropout (torch would warn)


def test_the_anchor_at_the_last_position_drives_the_output() -> None:
    model = _model().eval()
    batch = _batch(4)
    changed = {k: v.copy() for k, v in batch.items()}
    changed["event_types"][:, -1] = np.where(batch["event_types"][:, -1] == 1, 2, 1)
    with torch.no_grad():
        a = forward_batch(model, to_tensors(batch))["next_event"]
        b = forward_batch(model, to_tensors(changed))["next_event"]
    assert not torch.allclose(a, b)


def test_loss_is_ce_plus_weighted_bces_with_unknown_churn_masked() -> None:
    cfg = dataclasses.replace(CFG, purchase_weight=0.5, churn_weight=2.0)
    model = _model(cfg)
    batch = to_tensors(_batch(4, churn=[1, -1, 0, -1]))
    out = forward_batch(model, batch)
    loss, parts = multitask_loss(out, batch, cfg)

    ce = F.cross_entropy(out["next_event"], batch["next_event"])
    bce_p = F.binary_cross_entropy_with_logits(out["purchase"], batch["purchase_label"].float())
    known = torch.tensor([0, 2])
    bce_c = F.binary_cross_entropy_with_logits(out["churn"][known], torch.tensor([1.0, 0.0]))
    assert loss.item() == pytest.approx((ce + 0.5 * bce_p + 2.0 * bce_c).item(), rel=1e-6)
    assert parts["churn"] == pytest.approx(bce_c.item(), rel=1e-6) and parts["churn_rows"] == 2

    # The masked rows' churn logits do not matter: changing them changes nothing.
    out2 = dict(out, churn=out["churn"] + torch.tensor([0.0, 50.0, 0.0, -50.0]))
    assert multitask_loss(out2, batch, cfg)[0].item() == pytest.approx(loss.item(), rel=1e-6)


def test_no_known_churn_label_adds_zero_but_keeps_every_parameter_in_the_graph() -> None:
    model = _model()
    batch = to_tensors(_batch(3, churn=[-1, -1, -1]))
    out = forward_batch(model, batch)
    loss, parts = multitask_loss(out, batch, CFG)
    expected = F.cross_entropy(out["next_event"], batch["next_event"]) + F.binary_cross_entropy_with_logits(
        out["purchase"], batch["purchase_label"].float()
    )
    assert parts["churn"] == 0.0 and parts["churn_rows"] == 0
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    loss.backward()
    # DDP and Horovod's optimizer expect a gradient for every parameter on every step; the churn head's is zero.
    assert all(p.grad is not None for p in model.parameters())
    assert torch.count_nonzero(model.churn_head.weight.grad) == 0


def test_checkpoints_are_written_atomically_and_load_back(tmp_path: Path) -> None:
    model = _model()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    batch = to_tensors(_batch(5))
    multitask_loss(forward_batch(model, batch), batch, CFG)[0].backward()
    opt.step()
    state = {
        "epoch": 3,
        "config": dataclasses.asdict(CFG),
        "vocab": VOCAB,
        "sequence_length": L,
        "dataset_version": "v1",
        "next_event_classes": ["view", "cart", "remove_from_cart", "purchase", "exit"],
        "best_val_loss": 1.25,
    }
    path = tmp_path / "ckpt" / "best.pt"
    save_checkpoint(path, model, opt, state)
    save_checkpoint(path, model, opt, state)  # over an existing file
    assert sorted(p.name for p in path.parent.iterdir()) == ["best.pt"]  # no temporary file left

    ckpt = load_checkpoint(path)
    assert ckpt["epoch"] == 3 and ckpt["optimizer"]["state"]  # Adam's moments are there
    loaded, meta = load_model(path.parent)  # a folder means its best.pt
    assert not loaded.training
    assert meta["sequence_length"] == L and meta["vocab"] == VOCAB and meta["dataset_version"] == "v1"
    assert meta["next_event_classes"][-1] == "exit" and meta["config"]["hidden_size"] == 8
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_predict_returns_probabilities_from_numpy_or_pandas_columns() -> None:
    model = _model(dataclasses.replace(CFG, dropout=0.5)).train()
    batch = _batch(9)
    out = predict(model, batch, chunk_rows=4)  # three chunks
    assert out["next_event_probs"].shape == (9, 5)
    assert np.allclose(out["next_event_probs"].sum(axis=1), 1.0, atol=1e-5)
    assert out["purchase_probability"].shape == (9,) and out["churn_probability"].shape == (9,)
    assert ((out["churn_probability"] > 0) & (out["churn_probability"] < 1)).all()
    assert model.training  # put back in the mode it was in

    # A pandas batch (what mapInPandas hands over): columns of arrays, int32 ids as Spark writes them.
    frame = pd.DataFrame({c: list(batch[c].astype(np.float32 if c in ("prices", "gaps") else np.int32)) for c in FEATURES})
    again = predict(model, {c: frame[c].to_numpy() for c in FEATURES})
    for key, value in out.items():
        np.testing.assert_allclose(again[key], value, rtol=1e-5)  # eval mode: dropout off, deterministic

    empty = predict(model, {c: v[:0] for c, v in batch.items()})
    assert empty["next_event_probs"].shape == (0, 5)
