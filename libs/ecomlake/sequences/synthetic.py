"""A small synthetic sequences dataset in the exact on-disk contract, written without Spark.

``write_synthetic_dataset`` writes what ``ecomlake sequences`` writes (``<dir>/{train,validation,test}/part-*.parquet``
plus Spark's ``_SUCCESS`` and ``.crc`` leftovers, and the manifest in ``<dir>/_manifest/``) with pyarrow, with a learnable
structure: the next event depends on the anchor (last) event type, a later purchase on carts near the anchor, and
churn on the last gap, so a trained model beats the majority class. ``extra_types`` adds a site's own event types
(``events.extra_types``): ids 5.. and next-event classes of their own, before exit.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray

from ecomlake.manifest import write_manifest
from ecomlake.vocabulary import EVENT_TYPES, EXIT, SPLITS

CATEGORIES = 10  # real categories; ids 2..CATEGORIES+1 (0 pad, 1 unknown)
ITEMS_PER_CATEGORY = 6

# Event types 1 view, 2 cart, 3 remove_from_cart, 4 purchase: the chain that makes the context ...
_CHAIN = np.array(
    [
        [0.60, 0.30, 0.05, 0.05],  # after a view
        [0.30, 0.20, 0.20, 0.30],  # after a cart
        [0.80, 0.15, 0.00, 0.05],  # after a remove
        [0.90, 0.10, 0.00, 0.00],  # after a purchase
    ]
)
# ... and the next-event class (0 view, 1 cart, 2 remove, 3 purchase, 4 exit) given the anchor's event type.
_NEXT = np.array(
    [
        [0.60, 0.25, 0.00, 0.00, 0.15],
        [0.05, 0.05, 0.15, 0.70, 0.05],
        [0.55, 0.00, 0.00, 0.00, 0.45],
        [0.10, 0.00, 0.00, 0.00, 0.90],
    ]
)

SCHEMA = pa.schema(
    [
        ("user_id", pa.int64()),
        ("anchor_time", pa.timestamp("us", tz="UTC")),
        ("anchor_date", pa.date32()),
        ("length", pa.int32()),
        ("event_types", pa.list_(pa.int32())),
        ("items", pa.list_(pa.int32())),
        ("categories", pa.list_(pa.int32())),
        ("prices", pa.list_(pa.float32())),
        ("gaps", pa.list_(pa.float32())),
        ("next_event", pa.int32()),
        ("purchase_label", pa.int32()),
        ("churn_label", pa.int32()),
    ]
)


def _rules(extras: int) -> tuple[NDArray[Any], NDArray[Any]]:
    """The chain and next-event matrices with ``extras`` extra event types (the plain ones without).

    A canonical type leads to each extra type now and then; an extra type is mostly followed by itself or a
    cart (say, a wishlist), so its class is learnable.
    """
    if not extras:
        return _CHAIN, _NEXT
    share = 0.1 / extras
    to_extra = np.full((len(_CHAIN), extras), share)
    chain = np.vstack([np.hstack([_CHAIN * 0.9, to_extra]), np.tile([0.3, 0.2, 0.0, 0.0, *[0.5 / extras] * extras], (extras, 1))])
    nxt = np.hstack([_NEXT[:, :4] * 0.9, to_extra, _NEXT[:, 4:] * 0.9])
    own = np.zeros((extras, 4 + extras + 1))
    own[:, 1], own[:, -1] = 0.25, 0.15
    own[np.arange(extras), 4 + np.arange(extras)] = 0.6
    return chain, np.vstack([nxt, own])


def _sample_rows(rng: np.random.Generator, cum: NDArray[Any], state: NDArray[Any]) -> NDArray[Any]:
    """One draw per row from the categorical distribution ``cum[state]`` (cumulative probabilities)."""
    u = rng.random(len(state))[:, None]
    return (u > cum[state]).sum(axis=1)


def synthetic_split(n: int, length: int, seed: int, *, next_shift: int = 0, extras: int = 0) -> pa.Table:
    """``n`` sequences of ``length`` events; ``next_shift`` rotates the next-event rule (a split that contradicts train);
    ``extras`` extra event types (ids 5.., classes 4.. before exit)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, length + 1, n)
    chain, rules = _rules(extras)
    chain_cum, next_cum = np.cumsum(chain, axis=1), np.cumsum(rules, axis=1)
    types = np.zeros((n, length), dtype=np.int32)
    state = rng.integers(0, 2, n)  # a view or a cart first
    for pos in range(length):
        types[:, pos] = state + 1
        state = np.minimum(_sample_rows(rng, chain_cum, state), len(chain) - 1)
    is_pad = np.arange(length)[None, :] < (length - lengths)[:, None]
    types[is_pad] = 0

    category = rng.integers(0, CATEGORIES, n)
    cats = np.where(rng.random((n, length)) < 0.8, category[:, None], rng.integers(0, CATEGORIES, (n, length))) + 2
    items = 2 + (cats - 2) * ITEMS_PER_CATEGORY + rng.integers(0, ITEMS_PER_CATEGORY, (n, length))
    items[rng.random((n, length)) < 0.05] = 1  # out of vocabulary
    prices = np.log1p(10.0 + 7.0 * (items % 13)).astype(np.float32)
    gaps = np.log1p(rng.exponential(300.0, (n, length))).astype(np.float32)
    first = length - lengths
    gaps[np.arange(n), first] = 0.0
    for a in (cats, items):
        a[is_pad] = 0
    prices[is_pad] = 0.0
    gaps[is_pad] = 0.0

    anchor = types[:, -1] - 1
    next_event = (_sample_rows(rng, next_cum, anchor) + next_shift) % rules.shape[1]
    cart_near = (types[:, -3:] == 2).any(axis=1)
    purchase = (next_event == 3) | (cart_near & (rng.random(n) < 0.4))
    churn = (gaps[:, -1] > 6.0) ^ (rng.random(n) < 0.1)
    churn_label = np.where(rng.random(n) < 0.2, -1, churn.astype(np.int32))

    start = dt.datetime(2019, 10, 1, tzinfo=dt.UTC)
    seconds = np.sort(rng.integers(0, 7 * 86_400, n))
    times = [start + dt.timedelta(seconds=int(s)) for s in seconds]
    return pa.table(
        {
            "user_id": pa.array(1_000_000 + np.arange(n) + seed * 10_000_000, pa.int64()),
            "anchor_time": pa.array(times, pa.timestamp("us", tz="UTC")),
            "anchor_date": pa.array([t.date() for t in times], pa.date32()),
            "length": pa.array(lengths.astype(np.int32)),
            "event_types": pa.array(list(types), pa.list_(pa.int32())),
            "items": pa.array(list(items.astype(np.int32)), pa.list_(pa.int32())),
            "categories": pa.array(list(cats.astype(np.int32)), pa.list_(pa.int32())),
            "prices": pa.array(list(prices), pa.list_(pa.float32())),
            "gaps": pa.array(list(gaps), pa.list_(pa.float32())),
            "next_event": pa.array(next_event.astype(np.int32)),
            "purchase_label": pa.array(purchase.astype(np.int32)),
            "churn_label": pa.array(churn_label.astype(np.int32)),
        },
        schema=SCHEMA,
    )


def write_split(table: pa.Table, split_dir: Path, files: int, row_groups_per_file: int) -> None:
    """Write ``table`` as ``files`` Spark-named Parquet files of ``row_groups_per_file`` row groups, with Spark's leftovers."""
    split_dir.mkdir(parents=True, exist_ok=True)
    job = uuid.UUID(int=len(table) * 7919 + files).hex  # stable names across runs
    bounds = np.linspace(0, len(table), files + 1).astype(int)
    for i in range(files):
        part = table.slice(bounds[i], bounds[i + 1] - bounds[i])
        name = f"part-{i:05d}-{job}-c000.snappy.parquet"
        pq.write_table(part, split_dir / name, row_group_size=max(1, -(-len(part) // row_groups_per_file)), compression="snappy")
        (split_dir / f".{name}.crc").write_bytes(b"crc")
    (split_dir / "_SUCCESS").write_bytes(b"")
    (split_dir / "._SUCCESS.crc").write_bytes(b"crc")


def write_synthetic_dataset(
    root: Path,
    rows_per_split: int | Mapping[str, int],
    length: int = 12,
    seed: int = 0,
    *,
    files: int = 4,
    row_groups_per_file: int = 2,
    validation_shift: int = 0,
    extra_types: Sequence[str] = (),
) -> dict[str, Any]:
    """Write a sequences dataset at ``root`` and return its manifest (also written to ``root/_manifest``).

    Each split has ``files`` files of ``row_groups_per_file`` row groups; ``validation_shift`` rotates the validation
    split's next-event rule, so training makes its loss worse (to make early stopping certain); ``extra_types`` are
    event types beside the four, as ``events.extra_types`` declares them (the manifest then names them).
    """
    rows = dict.fromkeys(SPLITS, rows_per_split) if isinstance(rows_per_split, int) else dict(rows_per_split)
    splits = {}
    for k, split in enumerate(SPLITS):
        shift = validation_shift if split == "validation" else 0
        table = synthetic_split(rows[split], length, seed * 31 + k, next_shift=shift, extras=len(extra_types))
        write_split(table, root / split, files, row_groups_per_file)
        dates = table.column("anchor_date").to_pylist()
        first, last = (str(min(dates)), str(max(dates))) if dates else (None, None)
        splits[split] = {"rows": len(table), "first_date": first, "last_date": last}
    manifest = {
        "dataset_version": f"synthetic-{seed}-{length}",
        "run_date": "2019-10-07",
        "sequence_length": length,
        "unit": "user",
        "event_types": [*EVENT_TYPES, *extra_types],
        "next_event_classes": [*EVENT_TYPES, *extra_types, EXIT],
        "vocab": {"event_types": len(EVENT_TYPES) + len(extra_types) + 1, "items": 2 + CATEGORIES * ITEMS_PER_CATEGORY, "categories": 2 + CATEGORIES},
        "splits": splits,
    }
    write_manifest(str(root), manifest)
    return manifest
