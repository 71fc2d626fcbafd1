"""The multi-task sequence model: embeddings of each event, an LSTM over the window, three heads at the anchor.

Each sample is a user's last ``L`` events up to an anchor event, left-padded, so position ``L - 1`` always holds
the anchor. Every position is embedded (event type, product, category; id 0 is padding and embeds to zeros) and
concatenated with its two numeric features (log price, log gap); the LSTM's output at the last position feeds
three heads: the next event (the dataset's ``next_event_classes``: view, cart, remove_from_cart, purchase, the
site's extra event types, exit), a later purchase in the session (1 logit) and churn (1 logit; rows with an
unknown churn label, -1, are masked out of the loss).

Checkpoints are plain ``torch.save`` dictionaries, written atomically (a temporary file, then ``os.replace``),
so a crash never leaves a half-written ``last.pt``. ``load_model`` + ``predict`` are all scoring needs: no
distributed state, CPU by default, numpy in and out (what a Spark ``mapInPandas`` function calls).

Example:
    >>> from ecomlake.config import LstmConfig
    >>> model = SequenceModel(LstmConfig(hidden_size=16), {"event_types": 5, "items": 100, "categories": 10})
    >>> batch = {c: np.zeros((3, 8), np.float32 if c in ("prices", "gaps") else np.int32) for c in FEATURES}
    >>> predict(model, batch)["next_event_probs"].shape
    (3, 5)
"""

from __future__ import annotations

import dataclasses
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from numpy.typing import NDArray
from torch import nn
from torch.nn import functional as F

from ecomlake.config import LstmConfig
from ecomlake.vocabulary import NEXT_EVENT_CLASSES

FEATURES = ("event_types", "items", "categories", "prices", "gaps")  # model inputs, n x L each
LABELS = ("next_event", "purchase_label", "churn_label")
COLUMNS = FEATURES + LABELS  # what training reads: nothing else (user_id, anchor_time, ... stay on disk)
NUMERIC_FEATURES = ("prices", "gaps")
VOCAB_KEYS = ("event_types", "items", "categories")
PREDICT_CHUNK = 4096  # rows per forward pass in predict (bounds memory on large pandas batches)


class SequenceModel(nn.Module):
    """Embeddings + LSTM + next-event / purchase / churn heads, sized by ``LstmConfig`` and the dataset's vocabularies.

    ``vocab`` maps ``event_types``, ``items`` and ``categories`` to their sizes (ids ``0..size-1``, 0 = padding);
    ``next_event_classes`` names the next-event classes (the manifest's). ``forward`` returns
    ``{"next_event": n x classes logits, "purchase": n logits, "churn": n logits}``.
    """

    def __init__(self, cfg: LstmConfig, vocab: Mapping[str, int], next_event_classes: Sequence[str] = NEXT_EVENT_CLASSES) -> None:
        super().__init__()
        missing = [k for k in VOCAB_KEYS if k not in vocab]
        if missing:
            raise ValueError(f"vocab lacks {missing}; expected sizes for {list(VOCAB_KEYS)}")
        self.vocab = {k: int(vocab[k]) for k in VOCAB_KEYS}
        self.next_event_classes = tuple(next_event_classes)
        self.event_embedding = nn.Embedding(self.vocab["event_types"], cfg.event_embedding, padding_idx=0)
        self.item_embedding = nn.Embedding(self.vocab["items"], cfg.item_embedding, padding_idx=0)
        self.category_embedding = nn.Embedding(self.vocab["categories"], cfg.category_embedding, padding_idx=0)
        width = cfg.event_embedding + cfg.item_embedding + cfg.category_embedding + len(NUMERIC_FEATURES)
        self.lstm = nn.LSTM(
            width,
            cfg.hidden_size,
            num_layers=cfg.layers,
            batch_first=True,
            dropout=cfg.dropout if cfg.layers > 1 else 0.0,  # torch applies it between layers only
        )
        self.dropout = nn.Dropout(cfg.dropout)
        self.next_event_head = nn.Linear(cfg.hidden_size, len(self.next_event_classes))
        self.purchase_head = nn.Linear(cfg.hidden_size, 1)
        self.churn_head = nn.Linear(cfg.hidden_size, 1)

    def forward(
        self, event_types: torch.Tensor, items: torch.Tensor, categories: torch.Tensor, prices: torch.Tensor, gaps: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        x = torch.cat(
            [
                self.event_embedding(event_types),
                self.item_embedding(items),
                self.category_embedding(categories),
                prices.unsqueeze(-1),
                gaps.unsqueeze(-1),
            ],
            dim=-1,
        )
        out, _ = self.lstm(x)
        last = self.dropout(out[:, -1, :])  # left padding: the anchor event is always the last position
        return {
            "next_event": self.next_event_head(last),
            "purchase": self.purchase_head(last).squeeze(-1),
            "churn": self.churn_head(last).squeeze(-1),
        }


def unwrap(model: nn.Module) -> nn.Module:
    """The plain model inside a DistributedDataParallel wrapper (Horovod does not wrap it)."""
    return model.module if hasattr(model, "module") and isinstance(model.module, nn.Module) else model


def _matrix(values: Any, dtype: type) -> NDArray[Any]:
    """An n x L array of ``dtype`` from a 2-D array or a column of equal-length arrays (pandas / Arrow)."""
    a = np.asarray(values)
    if a.dtype == object:  # a pandas column of arrays
        a = np.stack(list(a)) if len(a) else np.zeros((0, 0))
    return np.require(a, dtype=dtype, requirements=["C", "W"])  # torch.from_numpy wants a writable array


def to_tensors(batch: Mapping[str, Any], device: torch.device | str = "cpu", columns: tuple[str, ...] | None = None) -> dict[str, torch.Tensor]:
    """Tensors on ``device`` from a batch of numpy arrays (ids as int64, numbers as float32); tensors pass through."""
    out: dict[str, torch.Tensor] = {}
    for name in columns if columns is not None else tuple(batch):
        value = batch[name]
        if isinstance(value, torch.Tensor):
            out[name] = value.to(device, non_blocking=True)
            continue
        dtype = np.float32 if name in NUMERIC_FEATURES else np.int64
        out[name] = torch.from_numpy(_matrix(value, dtype)).to(device, non_blocking=True)
    return out


def forward_batch(model: nn.Module, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``model(...)`` on a batch dict holding (at least) the FEATURES."""
    return model(*(batch[name] for name in FEATURES))


def next_event_weights(counts: Sequence[int]) -> torch.Tensor:
    """Next-event class weights from the train split's class counts: 1/sqrt(frequency), normalised to mean 1 over the train rows.

    The most frequent class (view, about three quarters of the samples) would otherwise win every argmax
    and macro-F1 would stay at the majority baseline's; full inverse frequency over-weights the rarest
    class (remove_from_cart, a few in a thousand) into noise. A class absent from train gets the largest weight.
    """
    n = torch.tensor([float(c) for c in counts])
    p = n / n.sum()
    raw = torch.where(p > 0, p.clamp(min=1e-12).rsqrt(), torch.zeros_like(p))
    raw = torch.where(p > 0, raw, raw.max())
    return raw / (p * raw).sum()


def loss_sums(
    outputs: Mapping[str, torch.Tensor], batch: Mapping[str, torch.Tensor], next_weights: torch.Tensor | None = None
) -> dict[str, torch.Tensor]:
    """Per-batch sums the loss and the validation metrics are built from (so they add up across batches and ranks).

    ``next_event``/``purchase``/``churn``: summed losses (churn over rows with a label >= 0 only); ``rows``,
    ``churn_rows``: their counts; ``next_correct``: rows whose most likely next event is right. With
    ``next_weights`` (``next_event_weights``), each row's next-event loss is weighted by its class.
    The churn term stays in the autograd graph even when no row has a label (a zero gradient), so every
    parameter gets a gradient on every step, which DDP and Horovod's optimizer both expect.
    """
    next_target = batch["next_event"].long()
    purchase_target = batch["purchase_label"].float()
    churn_label = batch["churn_label"]
    churn_mask = (churn_label >= 0).float()
    churn_bce = F.binary_cross_entropy_with_logits(outputs["churn"], churn_label.clamp(min=0).float(), reduction="none")
    next_ce = F.cross_entropy(outputs["next_event"], next_target, reduction="none")
    return {
        "next_event": (next_ce if next_weights is None else next_ce * next_weights.to(next_ce.device)[next_target]).sum(),
        "purchase": F.binary_cross_entropy_with_logits(outputs["purchase"], purchase_target, reduction="sum"),
        "churn": (churn_bce * churn_mask).sum(),
        "rows": torch.tensor(float(len(next_target)), device=next_target.device),
        "churn_rows": churn_mask.sum(),
        "next_correct": (outputs["next_event"].argmax(dim=-1) == next_target).sum().float(),
    }


def combine_loss(sums: Mapping[str, Any], cfg: LstmConfig) -> Any:
    """CE(next) + purchase_weight * BCE(purchase) + churn_weight * BCE(churn), each a mean; churn is 0 with no labelled row.

    Works on the tensors of ``loss_sums`` (differentiable) and on plain floats (totals over ranks).
    """
    rows = sums["rows"]
    churn_rows = sums["churn_rows"]
    churn_mean = sums["churn"] / churn_rows if float(churn_rows) > 0 else sums["churn"] * 0.0
    return sums["next_event"] / rows + cfg.purchase_weight * sums["purchase"] / rows + cfg.churn_weight * churn_mean


def multitask_loss(
    outputs: Mapping[str, torch.Tensor], batch: Mapping[str, torch.Tensor], cfg: LstmConfig, next_weights: torch.Tensor | None = None
) -> tuple[torch.Tensor, dict[str, float]]:
    """The training loss of a batch and its parts (means, as floats): ``next_event``, ``purchase``, ``churn``, ``churn_rows``.

    Example:
        >>> loss, parts = multitask_loss(model_outputs, batch_tensors, LstmConfig())  # doctest: +SKIP
        >>> loss.backward()  # doctest: +SKIP
    """
    sums = loss_sums(outputs, batch, next_weights)
    loss = combine_loss(sums, cfg)
    value = {k: v.detach().item() for k, v in sums.items()}
    rows, churn_rows = value["rows"], value["churn_rows"]
    parts = {
        "next_event": value["next_event"] / rows,
        "purchase": value["purchase"] / rows,
        "churn": value["churn"] / churn_rows if churn_rows else 0.0,
        "churn_rows": churn_rows,
    }
    return loss, parts


def save_checkpoint(path: str | os.PathLike[str], model: nn.Module, optimizer: torch.optim.Optimizer | None, state: Mapping[str, Any]) -> None:
    """Write ``state`` + the (unwrapped) model's and the optimizer's state dicts to ``path`` atomically.

    The file is written next to ``path`` under a temporary name, then renamed over it: readers (a resuming
    run, a scoring job) see the old file or the new one, never a partial one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = dict(state)
    payload["model"] = {k: v.detach().cpu() for k, v in unwrap(model).state_dict().items()}
    payload["optimizer"] = optimizer.state_dict() if optimizer is not None else None
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def load_checkpoint(path: str | os.PathLike[str] | bytes) -> dict[str, Any]:
    """A checkpoint's dictionary (from its file, or its bytes), tensors on the CPU.

    ``weights_only``: nothing but tensors and plain data is unpickled, so a tampered checkpoint can give wrong weights
    but cannot run code; the jobs also check a recorded checkpoint's sha256 (ml.model_runs) before loading it.
    """
    source = io.BytesIO(path) if isinstance(path, bytes) else Path(path)
    return torch.load(source, map_location="cpu", weights_only=True)


def config_from_dict(raw: Mapping[str, Any]) -> LstmConfig:
    """``LstmConfig`` from its ``dataclasses.asdict`` form (unknown keys refused)."""
    names = {f.name for f in dataclasses.fields(LstmConfig)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise ValueError(f"unknown lstm config keys {unknown}")
    return LstmConfig(**dict(raw))


def build_model(cfg: LstmConfig, vocab: Mapping[str, int], next_event_classes: Sequence[str] = NEXT_EVENT_CLASSES) -> SequenceModel:
    """A fresh ``SequenceModel`` (seed torch first for the same initial weights everywhere)."""
    return SequenceModel(cfg, vocab, next_event_classes)


def manifest_classes(manifest: Mapping[str, Any]) -> tuple[str, ...]:
    """A dataset manifest's (or a checkpoint's) next-event classes; the five of NEXT_EVENT_CLASSES for one written before it named them."""
    return tuple(manifest.get("next_event_classes") or NEXT_EVENT_CLASSES)


def model_from_checkpoint(ckpt: Mapping[str, Any]) -> SequenceModel:
    """The model of a checkpoint's dictionary (``load_checkpoint``), in eval mode: sized by its config, vocab and classes."""
    model = SequenceModel(config_from_dict(ckpt["config"]), ckpt["vocab"], manifest_classes(ckpt))
    model.load_state_dict(ckpt["model"])
    model.eval()
    return model


def load_model(path: str | os.PathLike[str] | bytes) -> tuple[SequenceModel, dict[str, Any]]:
    """The model of a checkpoint file (or of ``<dir>/best.pt`` for a checkpoint folder, or of a checkpoint's bytes), on the CPU
    in eval mode, and its meta.

    ``meta`` holds ``config`` (the LstmConfig as a dict), ``vocab``, ``sequence_length``, ``dataset_version``,
    ``next_event_classes``, ``epoch`` and ``best_val_loss``.

    Example:
        >>> model, meta = load_model("/lake/models/lstm/20191007-ab12cd34/best.pt")  # doctest: +SKIP
        >>> predict(model, batch)["purchase_probability"]  # doctest: +SKIP
    """
    if not isinstance(path, bytes) and Path(path).is_dir():
        path = Path(path) / "best.pt"
    ckpt = load_checkpoint(path)
    model = model_from_checkpoint(ckpt)
    meta = {k: ckpt.get(k) for k in ("config", "vocab", "sequence_length", "dataset_version", "next_event_classes", "epoch", "best_val_loss")}
    return model, meta


def predict(model: nn.Module, batch: Mapping[str, Any] | pd.DataFrame, chunk_rows: int = PREDICT_CHUNK) -> dict[str, NDArray[Any]]:
    """Probabilities for a batch of sequences (numpy n x L arrays, or pandas columns of arrays, per FEATURES).

    Returns ``next_event_probs`` (n x classes, float32, in the model's ``next_event_classes`` order), ``purchase_probability``
    and ``churn_probability`` (n). Runs without gradients in eval mode on the model's device, and puts the
    model back in the mode it was in. Event type ids beyond the model's vocabulary (a type it was not trained
    on) are a ValueError.
    """
    inner = unwrap(model)
    device = next(inner.parameters()).device
    was_training = inner.training
    inner.eval()
    arrays = {c: _matrix(batch[c], np.float32 if c in NUMERIC_FEATURES else np.int64) for c in FEATURES}
    n = len(arrays[FEATURES[0]])
    embedding, head = inner.get_submodule("event_embedding"), inner.get_submodule("next_event_head")
    assert isinstance(embedding, nn.Embedding) and isinstance(head, nn.Linear)
    known = embedding.num_embeddings
    if arrays["event_types"].size and int(arrays["event_types"].max()) >= known:
        raise ValueError(
            f"event type id {int(arrays['event_types'].max())} is beyond the model's {known - 1} event types; "
            "number event types by the vocabulary of the dataset the model was trained on (its manifest's event_types)"
        )
    probs, purchase, churn = [], [], []
    try:
        with torch.no_grad():
            for start in range(0, n, chunk_rows):
                part = {c: a[start : start + chunk_rows] for c, a in arrays.items()}
                out = forward_batch(inner, to_tensors(part, device))
                probs.append(torch.softmax(out["next_event"], dim=-1).cpu().numpy())
                purchase.append(torch.sigmoid(out["purchase"]).cpu().numpy())
                churn.append(torch.sigmoid(out["churn"]).cpu().numpy())
    finally:
        inner.train(was_training)
    if not probs:
        return {
            "next_event_probs": np.zeros((0, head.out_features), np.float32),
            "purchase_probability": np.zeros(0, np.float32),
            "churn_probability": np.zeros(0, np.float32),
        }
    return {
        "next_event_probs": np.concatenate(probs),
        "purchase_probability": np.concatenate(purchase),
        "churn_probability": np.concatenate(churn),
    }
