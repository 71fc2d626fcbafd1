"""ecomlake sequences on the generated gold lake: layout, padding, targets checked against the events, vocabularies,
determinism, the session unit and the failure modes.

The job writes into a lake holding copies of its inputs (silver.events, gold.labels), so the shared gold_lake
stays read-only; gold.sessions is read from gold_lake as the independent reference for sessions.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from ecomlake import lake
from ecomlake.config import Config
from ecomlake.errors import DataQualityError, InputMissingError
from ecomlake.ml.registry import latest_run
from ecomlake.sequences.build import NEXT_EVENT_CLASSES, SPLITS
from ecomlake.sequences.job import SequencesResult, build_sequences
from tests.conftest import lake_config
from tests.spark.conftest import GOLD_CUTOFF, GOLD_HORIZON, GOLD_START

LENGTH = 20
TYPE_IDS = {"view": 1, "cart": 2, "remove_from_cart": 3, "purchase": 4}


def lake_copy(gold_lake: Config, root: Path, *overrides: str) -> Config:
    for table in (lake.SILVER_EVENTS, lake.LABELS):
        shutil.copytree(table.path(gold_lake.lake), root / table.layer / table.name)
    return lake_config(gold_lake, root, f"featurize.label_horizon_days={GOLD_HORIZON}", f"sequences.length={LENGTH}", *overrides)


@pytest.fixture(scope="module")
def built(spark: SparkSession, gold_lake: Config, tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, SequencesResult]:
    """The dataset for the labels' cut-off day: test = that day (with churn labels), validation = the day before."""
    cfg = lake_copy(gold_lake, tmp_path_factory.mktemp("sequences"))
    return cfg, build_sequences(spark, cfg, GOLD_CUTOFF)


def split_frame(r: SequencesResult, split: str) -> pd.DataFrame:
    return pq.read_table(f"{r.path}/{split}").to_pandas()


def test_layout_counts_split_days_and_padding(spark: SparkSession, built: tuple[Config, SequencesResult]) -> None:
    cfg, r = built
    m = json.loads(Path(r.path, "manifest.json").read_text())
    assert m == r.manifest and m["sequence_length"] == LENGTH and m["next_event_classes"] == list(NEXT_EVENT_CLASSES)
    days = {
        "train": (GOLD_START, GOLD_CUTOFF - dt.timedelta(days=2)),
        "validation": (GOLD_CUTOFF - dt.timedelta(days=1),) * 2,
        "test": (GOLD_CUTOFF,) * 2,
    }
    for split in SPLITS:
        frame = split_frame(r, split)
        s = m["splits"][split]
        assert s["rows"] == len(frame) > 0 and s["files"] == cfg.sequences.files_per_split
        assert (str(frame["anchor_date"].min()), str(frame["anchor_date"].max())) == tuple(map(str, days[split]))
        types, items, categories = (np.stack(frame[c].to_numpy()) for c in ("event_types", "items", "categories"))
        prices, gaps = np.stack(frame["prices"].to_numpy()), np.stack(frame["gaps"].to_numpy())
        assert types.shape == (len(frame), LENGTH) and prices.dtype == np.float32
        real = np.arange(LENGTH)[None, :] >= (LENGTH - frame["length"].to_numpy())[:, None]  # left padding
        assert ((types > 0) == real).all() and ((items > 0) == real).all() and ((categories > 0) == real).all()
        assert (prices[~real] == 0).all() and (gaps[~real] == 0).all() and (gaps >= 0).all()
        assert items.max() < m["vocab"]["items"] and categories.max() < m["vocab"]["categories"]
        assert set(frame["next_event"]) <= set(range(5)) and set(frame["purchase_label"]) <= {0, 1}
    # Every silver event of the anchor days is an anchor (anchor_fraction 1).
    silver = lake.read_table(spark, cfg.lake, lake.SILVER_EVENTS).where(~F.col("is_bot") & (F.col("event_date") <= GOLD_CUTOFF)).count()
    assert sum(s["rows"] for s in m["splits"].values()) == silver
    run = latest_run(spark, cfg, "sequences", GOLD_CUTOFF)
    assert run.version == r.version and run.metrics["test_rows"] == m["splits"]["test"]["rows"]
    print(f"\nsequences {r.version}: {json.dumps(m['splits'])}, vocab {m['vocab']}, {r.seconds:.1f} s")


def test_targets_and_context_match_the_users_events(spark: SparkSession, gold_lake: Config, built: tuple[Config, SequencesResult]) -> None:
    """For busy users of the test day, recompute context and targets from silver + gold.sessions, independently."""
    cfg, r = built
    test = split_frame(r, "test")
    events = (
        lake.read_table(spark, cfg.lake, lake.SILVER_EVENTS)
        .where(~F.col("is_bot") & (F.col("event_date") <= GOLD_CUTOFF))
        .select("user_id", "event_time", "event_type", "product_id", "price", "order_id")
    )
    busy = test.groupby("user_id").size().sort_values(ascending=False).index[:3].tolist()
    mine = events.where(F.col("user_id").isin(busy)).toPandas()
    sessions = lake.read_table(spark, gold_lake.lake, lake.SESSIONS).where(F.col("user_id").isin(busy)).toPandas()
    labels = lake.read_table(spark, cfg.lake, lake.LABELS).where(F.col("cutoff_date") == GOLD_CUTOFF).toPandas().set_index("user_id")["churned"]
    checked = 0
    for user in busy:
        ev = mine[mine["user_id"] == user].sort_values(["event_time", "event_type", "product_id", "price", "order_id"], na_position="first")
        ev = ev.reset_index(drop=True)
        s = sessions[sessions["user_id"] == user]
        ev["session"] = [s[(s["session_start"] <= t) & (s["session_end"] >= t)]["session_id"].iloc[0] for t in ev["event_time"]]
        rows = test[test["user_id"] == user].sort_values("anchor_time").reset_index(drop=True)
        anchors = ev.index[ev["event_time"].dt.date == GOLD_CUTOFF]
        assert len(rows) == len(anchors)
        for row, i in zip(rows.itertuples(), anchors, strict=True):
            context = ev.iloc[max(0, i - LENGTH + 1) : i + 1]
            assert row.length == len(context)
            assert list(row.event_types[LENGTH - len(context) :]) == [TYPE_IDS[t] for t in context["event_type"]]
            later = ev.iloc[i + 1 :]
            later = later[later["session"] == ev.at[i, "session"]]
            expected_next = NEXT_EVENT_CLASSES.index(later["event_type"].iloc[0]) if len(later) else NEXT_EVENT_CLASSES.index("exit")
            assert row.next_event == expected_next
            assert row.purchase_label == int((later["event_type"] == "purchase").any())
            assert row.churn_label == int(labels[user])
            checked += 1
    assert checked >= 30


def test_vocabulary_counts_only_the_train_days(spark: SparkSession, built: tuple[Config, SequencesResult]) -> None:
    cfg, r = built
    vocab = spark.read.parquet(f"{r.path}/vocab/items").toPandas().sort_values("index")
    last_train = GOLD_CUTOFF - dt.timedelta(days=2)
    counts = (
        lake.read_table(spark, cfg.lake, lake.SILVER_EVENTS)
        .where(~F.col("is_bot") & (F.col("event_date") <= last_train))
        .groupBy("product_id")
        .count()
        .toPandas()
        .set_index("product_id")["count"]
    )
    assert list(vocab["index"]) == list(range(2, 2 + len(vocab)))
    assert (vocab["events"].to_numpy() == counts.loc[vocab["product_id"]].to_numpy()).all()
    assert (np.diff(vocab["events"].to_numpy()) <= 0).all() and vocab["events"].min() >= cfg.sequences.min_item_events
    assert len(vocab) == (counts >= cfg.sequences.min_item_events).sum()


def test_rerun_gives_the_same_dataset(spark: SparkSession, built: tuple[Config, SequencesResult]) -> None:
    cfg, first = built
    before = {s: split_frame(first, s) for s in SPLITS}
    again = build_sequences(spark, cfg, GOLD_CUTOFF)
    assert again.version == first.version and again.manifest == first.manifest
    for s in SPLITS:
        key = ["user_id", "anchor_time", "session_id"]
        a, b = before[s].sort_values(key).reset_index(drop=True), split_frame(again, s).sort_values(key).reset_index(drop=True)
        for column in a.columns:
            assert [np.asarray(x).tolist() for x in a[column]] == [np.asarray(x).tolist() for x in b[column]], column
    assert not any(p.name.startswith(Path(first.path).name + ".tmp") for p in Path(first.path).parent.iterdir())


def test_session_unit_keeps_contexts_inside_a_session(spark: SparkSession, gold_lake: Config, built: tuple[Config, SequencesResult]) -> None:
    cfg, _ = built
    session_cfg = lake_config(
        cfg, Path(cfg.lake.root), f"featurize.label_horizon_days={GOLD_HORIZON}", f"sequences.length={LENGTH}", "sequences.unit=session"
    )
    r = build_sequences(spark, session_cfg, GOLD_CUTOFF)
    test = split_frame(r, "test")
    # A context starts at its session's first event: one length-1 sample per session, and contexts grow by one.
    sessions = lake.read_table(spark, gold_lake.lake, lake.SESSIONS).where(F.col("session_date") == GOLD_CUTOFF).count()
    assert (test["length"] == 1).sum() == sessions == test["session_id"].nunique()
    ordered = test.sort_values(["session_id", "anchor_time", "length"])
    for _, g in ordered.groupby("session_id"):
        assert list(g["length"]) == [min(k, LENGTH) for k in range(1, len(g) + 1)]


def test_missing_events_and_empty_splits_fail_clearly(spark: SparkSession, built: tuple[Config, SequencesResult]) -> None:
    cfg, r = built
    with pytest.raises(InputMissingError, match="no silver events from"):
        build_sequences(spark, cfg, dt.date(2021, 1, 1))
    # On the first generated day there are no train days: nothing is written, the earlier dataset stays.
    with pytest.raises(DataQualityError, match=r"the train split \(.*\) has no samples"):
        build_sequences(spark, cfg, GOLD_START)
    leftovers = [p.name for p in Path(r.path).parent.iterdir() if p.name.startswith(f"{GOLD_START:%Y%m%d}")]
    assert leftovers == [] and Path(r.path, "manifest.json").exists()
