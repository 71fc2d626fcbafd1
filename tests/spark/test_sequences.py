"""ecomlake sequences on the generated gold lake: layout, padding, targets checked against the events, vocabularies,
determinism, the session unit and the failure modes.

The job writes into a lake holding copies of its inputs (silver.events, gold.labels), so the shared gold_lake
stays read-only; gold.sessions is read from gold_lake as the independent reference for sessions.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from ecomlake import artifacts, lake
from ecomlake.artifacts import TamperedArtifactError
from ecomlake.catalog import LABELS, SESSIONS, SILVER_EVENTS
from ecomlake.config import Config
from ecomlake.errors import DataQualityError, InputMissingError, NotDueError
from ecomlake.job import Context
from ecomlake.manifest import MANIFEST_DIR, read_manifest
from ecomlake.ml import registry
from ecomlake.ml.registry import latest_run
from ecomlake.sequences.build import context_events, split_dates
from ecomlake.sequences.job import SequencesParams, SequencesResult, run
from ecomlake.vocabulary import EVENT_TYPES, NEXT_EVENT_CLASSES, SILVER_EVENT_COLUMNS, SPLITS
from tests.support import GOLD_CUTOFF, GOLD_HORIZON, GOLD_START, copy_tables, lake_config

LENGTH = 20
TYPE_IDS = {"view": 1, "cart": 2, "remove_from_cart": 3, "purchase": 4}


def lake_copy(gold_lake: Config, root: Path, *overrides: str) -> Config:
    cfg = lake_config(gold_lake, root, f"featurize.label_horizon_days={GOLD_HORIZON}", f"sequences.length={LENGTH}", *overrides)
    copy_tables(gold_lake, cfg, SILVER_EVENTS, LABELS)
    return cfg


@pytest.fixture(scope="module")
def built(spark: SparkSession, gold_lake: Config, tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, SequencesResult]:
    """The dataset for the labels' cut-off day: test = that day (with churn labels), validation = the day before."""
    cfg = lake_copy(gold_lake, tmp_path_factory.mktemp("sequences"))
    return cfg, run(Context(spark, cfg), SequencesParams(GOLD_CUTOFF))


def split_frame(r: SequencesResult, split: str) -> pd.DataFrame:
    return pq.read_table(f"{r.path}/{split}").to_pandas()


def test_layout_counts_split_days_and_padding(spark: SparkSession, built: tuple[Config, SequencesResult]) -> None:
    cfg, r = built
    # The manifest is <dataset>/_manifest/ (one JSON text file), read the same locally and through Spark.
    assert [p.name for p in Path(r.path, MANIFEST_DIR).glob("part-*")] and not Path(r.path, "manifest.json").exists()
    m = read_manifest(r.path)
    assert m == read_manifest(r.path, spark) == r.manifest
    assert m["sequence_length"] == LENGTH and m["next_event_classes"] == list(NEXT_EVENT_CLASSES) and m["event_types"] == list(EVENT_TYPES)
    assert (m["dataset_version"], m["run_date"], m["unit"], m["label_horizon_days"]) == (r.version, str(GOLD_CUTOFF), "user", GOLD_HORIZON)
    days = {
        "train": (GOLD_START, GOLD_CUTOFF - dt.timedelta(days=2)),
        "validation": (GOLD_CUTOFF - dt.timedelta(days=1),) * 2,
        "test": (GOLD_CUTOFF,) * 2,
    }
    assert m["split_days"]["train_last"] == str(days["train"][1]) and m["split_days"]["validation_last"] == str(days["validation"][1])
    for split in SPLITS:
        frame = split_frame(r, split)
        s = m["splits"][split]
        assert s["rows"] == len(frame) > 0 and s["files"] == cfg.sequences.files_per_split
        assert (str(frame["anchor_date"].min()), str(frame["anchor_date"].max())) == tuple(map(str, days[split]))
        assert (s["first_date"], s["last_date"]) == tuple(map(str, days[split]))
        assert s["next_event_counts"] == [int((frame["next_event"] == i).sum()) for i in range(len(NEXT_EVENT_CLASSES))]
        types, items, categories = (np.stack(frame[c].to_numpy()) for c in ("event_types", "items", "categories"))
        prices, gaps = np.stack(frame["prices"].to_numpy()), np.stack(frame["gaps"].to_numpy())
        assert types.shape == (len(frame), LENGTH) and prices.dtype == np.float32
        real = np.arange(LENGTH)[None, :] >= (LENGTH - frame["length"].to_numpy())[:, None]  # left padding
        assert ((types > 0) == real).all() and ((items > 0) == real).all() and ((categories > 0) == real).all()
        assert (prices[~real] == 0).all() and (gaps[~real] == 0).all() and (gaps >= 0).all()
        assert items.max() < m["vocab"]["items"] and categories.max() < m["vocab"]["categories"]
        assert set(frame["next_event"]) <= set(range(5)) and set(frame["purchase_label"]) <= {0, 1}
    # Every silver event of the anchor days is an anchor (anchor_fraction 1).
    silver = lake.read(spark, cfg, SILVER_EVENTS).where(~F.col("is_bot") & (F.col("event_date") <= GOLD_CUTOFF)).count()
    assert sum(s["rows"] for s in m["splits"].values()) == silver == r.rows_out
    run_ = latest_run(spark, cfg, "sequences", GOLD_CUTOFF)
    assert run_.version == r.version and run_.metrics["test_rows"] == m["splits"]["test"]["rows"] and run_.artifact_path == r.path
    assert r.figures() == {f"{s}_rows": m["splits"][s]["rows"] for s in SPLITS} | {f"{k}_vocabulary": v for k, v in m["vocab"].items()}
    assert r.summary().startswith(f"sequences {GOLD_CUTOFF} ({r.version}, unit user, length {LENGTH}): train {m['splits']['train']['rows']:,} rows")
    print(f"\n{r.summary()}")


def test_every_file_is_recorded_and_a_file_the_job_did_not_write_is_refused(
    spark: SparkSession, built: tuple[Config, SequencesResult], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """ml.model_runs holds every file's sha256; a folder that differs is refused before anything opens it, naming the file."""
    cfg, r = built
    recorded = registry.recorded_run(spark, cfg, "sequences", r.version, trained_by="sequences")
    assert recorded is not None and list(recorded.files) == artifacts.scan(r.path)  # Spark's _SUCCESS and .crc files too
    assert {f"{s}/_SUCCESS" for s in SPLITS} | {"vocab/items/_SUCCESS", f"{MANIFEST_DIR}/_SUCCESS"} <= {f.path for f in recorded.files}
    start = time.perf_counter()
    verified = registry.checked_artifact(cfg, recorded)  # what train-lstm does once, on the driver
    hashed = time.perf_counter() - start
    start = time.perf_counter()
    verified.check()  # what each training process does before each reader (sizes and times)
    stats = time.perf_counter() - start
    with capsys.disabled():
        size = sum(f.bytes for f in recorded.files) / 1e6
        print(f"\nsequences dataset, {len(recorded.files)} files, {size:.1f} MB: verified (sha256) in {hashed:.3f} s, stat check {stats:.4f} s")

    # A copy in a lake of its own, its row pointing at it; then a planted _common_metadata, a changed byte, a missing file.
    own = lake_config(cfg, tmp_path)
    copy = Path(registry.artifact_path(own, "sequences", r.version))
    shutil.copytree(r.path, copy)
    moved = dataclasses.replace(recorded, artifact_path=str(copy))
    registry.checked_artifact(own, moved)
    head = rf"^sequences {r.version} \(run {recorded.run_id}\) at {re.escape(str(copy))}: "
    tail = rf"refusing to read it.* Re-run `ecomlake sequences --date {GOLD_CUTOFF}` to write it again\.$"
    planted = copy / "train" / "_common_metadata"
    planted.write_bytes(b"PAR1")  # whatever it holds: petastorm would unpickle its schema entry
    with pytest.raises(TamperedArtifactError, match=head + r"train/_common_metadata is not among the files recorded in .*ml_model_runs; " + tail):
        registry.checked_artifact(own, moved)
    planted.unlink()
    vocab = next((copy / "vocab" / "items").glob("part-*.parquet"))
    data = vocab.read_bytes()
    vocab.write_bytes(data[:-9] + bytes([data[-9] ^ 1]) + data[-8:])
    with pytest.raises(TamperedArtifactError, match=head + rf"vocab/items/{vocab.name} has sha256 .* " + tail):
        registry.checked_artifact(own, moved)
    vocab.unlink()
    with pytest.raises(TamperedArtifactError, match=head + rf"vocab/items/{vocab.name} is missing \(the files recorded in .*\); " + tail):
        registry.checked_artifact(own, moved)


def test_context_events_reach_back_a_lookback_before_the_first_anchor(spark: SparkSession, built: tuple[Config, SequencesResult]) -> None:
    cfg, _ = built
    silver = lake.read(spark, cfg, SILVER_EVENTS)
    first_anchor, lookback = GOLD_CUTOFF - dt.timedelta(days=3), 5
    start = first_anchor - dt.timedelta(days=lookback)
    for include_bots in (False, True):
        events = context_events(silver, first_anchor, GOLD_CUTOFF, lookback, include_bots)
        assert events.columns == list(SILVER_EVENT_COLUMNS)
        window = silver.where(F.col("event_date").between(start, GOLD_CUTOFF) & (F.lit(include_bots) | ~F.col("is_bot")))
        assert events.agg(F.min("event_date"), F.max("event_date")).first() == (start, GOLD_CUTOFF)
        expected = window.select(*SILVER_EVENT_COLUMNS)
        assert events.count() == expected.count() > 0 and events.exceptAll(expected).count() == expected.exceptAll(events).count() == 0


def test_targets_and_context_match_the_users_events(spark: SparkSession, gold_lake: Config, built: tuple[Config, SequencesResult]) -> None:
    """For busy users of the test day, recompute context and targets from silver + gold.sessions, independently."""
    cfg, r = built
    test = split_frame(r, "test")
    events = (
        lake.read(spark, cfg, SILVER_EVENTS)
        .where(~F.col("is_bot") & (F.col("event_date") <= GOLD_CUTOFF))
        .select("user_id", "event_time", "event_type", "product_id", "price", "order_id")
    )
    busy = test.groupby("user_id").size().sort_values(ascending=False).index[:3].tolist()
    mine = events.where(F.col("user_id").isin(busy)).toPandas()
    sessions = lake.read(spark, gold_lake, SESSIONS).where(F.col("user_id").isin(busy)).toPandas()
    labels = lake.read(spark, cfg, LABELS, {"cutoff_date": GOLD_CUTOFF}).toPandas().set_index("user_id")["churned"]
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
        lake.read(spark, cfg, SILVER_EVENTS)
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
    assert r.manifest["vocab"]["items"] == 2 + len(vocab)  # 0 padding, 1 out of vocabulary


def test_rerun_gives_the_same_dataset(spark: SparkSession, built: tuple[Config, SequencesResult]) -> None:
    cfg, first = built
    before = {s: split_frame(first, s) for s in SPLITS}
    again = run(Context(spark, cfg), SequencesParams(GOLD_CUTOFF))
    assert again.version == first.version and again.manifest == first.manifest and read_manifest(again.path) == first.manifest
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
    r = run(Context(spark, session_cfg), SequencesParams(GOLD_CUTOFF))
    assert r.manifest["unit"] == "session" and read_manifest(r.path)["unit"] == "session"
    test = split_frame(r, "test")
    # A context starts at its session's first event: one length-1 sample per session, and contexts grow by one.
    sessions = lake.read(spark, gold_lake, SESSIONS, {"session_date": GOLD_CUTOFF}).count()
    assert (test["length"] == 1).sum() == sessions == test["session_id"].nunique()
    ordered = test.sort_values(["session_id", "anchor_time", "length"])
    for _, g in ordered.groupby("session_id"):
        assert list(g["length"]) == [min(k, LENGTH) for k in range(1, len(g) + 1)]


def test_not_due_missing_events_and_empty_splits(spark: SparkSession, built: tuple[Config, SequencesResult]) -> None:
    cfg, r = built
    sc = cfg.sequences
    late = dt.date(2021, 1, 1)
    late_first = late - dt.timedelta(days=sc.lookback_days - 1)
    table = re.escape(SILVER_EVENTS.qualified_name(cfg.lake))
    with pytest.raises(InputMissingError, match=rf"^no silver events from {late_first} to {late} in {table}; run ingest and clean first$"):
        run(Context(spark, cfg), SequencesParams(late))
    # Before the lake's first day the events are missing, not "not due".
    before = GOLD_START - dt.timedelta(days=1)
    with pytest.raises(InputMissingError, match=rf"^no silver events from .* to {before} in {table}; ") as missing:
        run(Context(spark, cfg), SequencesParams(before))
    assert not isinstance(missing.value, NotDueError)
    # On the first generated day there are no train days yet: not due, and nothing is built.
    last_train, _ = split_dates(GOLD_START, sc.validation_days, sc.test_days)
    first_due = GOLD_START + dt.timedelta(days=sc.validation_days + sc.test_days)
    with pytest.raises(
        NotDueError,
        match=rf"^sequences {GOLD_START}: not due yet, its train days end on {last_train}, before the lake's first event day {GOLD_START}; "
        rf"the first date with train, validation and test days \(sequences\.validation_days=1, test_days=1\) is {first_due}$",
    ):
        run(Context(spark, cfg), SequencesParams(GOLD_START))
    # Due from then on; a split left empty (a sample too thin for it) is a data-quality error, and nothing is written.
    thin = dataclasses.replace(cfg, sequences=dataclasses.replace(sc, anchor_fraction=1e-7))
    first_anchor = first_due - dt.timedelta(days=sc.lookback_days - 1)
    last_train, _ = split_dates(first_due, sc.validation_days, sc.test_days)
    with pytest.raises(
        DataQualityError,
        match=rf"^sequences {first_due}: the train split \({first_anchor}\.\.{last_train}\) has no samples; the model needs all three\. "
        r"Build for a day with events in every split's days, or change sequences\.lookback_days/validation_days/test_days$",
    ):
        run(Context(spark, thin), SequencesParams(first_due))
    leftovers = [p.name for p in Path(r.path).parent.iterdir() if p.name.startswith((f"{GOLD_START:%Y%m%d}", f"{first_due:%Y%m%d}"))]
    assert leftovers == [] and read_manifest(r.path) == r.manifest
    with pytest.raises(InputMissingError, match=r"^no sequences model trained on or before 2019-10-03 in "):
        latest_run(spark, cfg, "sequences", first_due)  # the failed runs recorded nothing


# A tiny silver lake with a site's own event type: each user's session of every day, in this order.
EXTRA_SESSION = ("view", "wishlist", "cart", "wishlist", "purchase")
EXTRA_DAY = dt.date(2019, 10, 3)  # test day; the two days before are validation and train


def tiny_silver(spark: SparkSession, cfg: Config, users: int = 3) -> None:
    """silver.events with EXTRA_SESSION for ``users`` users on each of the three days up to EXTRA_DAY."""
    schema = lake.schema_of(cfg, SILVER_EVENTS).struct()
    rows = []
    for day in (EXTRA_DAY - dt.timedelta(days=d) for d in (2, 1, 0)):
        for user in range(1, users + 1):
            for k, event_type in enumerate(EXTRA_SESSION):
                time = dt.datetime.combine(day, dt.time(10, k), tzinfo=dt.UTC)
                values = {
                    "event_time": time, "event_date": day, "event_hour": 10, "event_type": event_type, "product_id": 100 + k,
                    "category_id": 7, "category_code": "unknown", "brand": "unknown", "price": 9.5, "user_id": user,
                    "category_code_origin": "source", "brand_origin": "source", "is_bot": False, "ingest_date": day,
                }  # fmt: skip
                rows.append(tuple(values.get(f.name) for f in schema.fields))
    # A plain Delta write (lake.write would also register and describe the table: seconds this test does not need).
    spark.createDataFrame(rows, schema).write.format("delta").partitionBy(*SILVER_EVENTS.partition_by).save(SILVER_EVENTS.path(cfg.lake))


def test_an_extra_event_type_is_an_event_type_and_a_class_of_its_own(spark: SparkSession, config: Config, tmp_path: Path) -> None:
    small = ("sequences.length=6", "sequences.lookback_days=3", "sequences.files_per_split=2", "sequences.min_item_events=1")
    cfg = lake_config(config, tmp_path, *small, "events.extra_types={wishlist: 2.0}")
    tiny_silver(spark, cfg)
    r = run(Context(spark, cfg), SequencesParams(EXTRA_DAY))
    m = read_manifest(r.path)
    assert m["event_types"] == [*EVENT_TYPES, "wishlist"] and m["vocab"]["event_types"] == 6  # ids 1..5, 0 padding
    assert m["next_event_classes"] == [*EVENT_TYPES, "wishlist", "exit"]
    # Per user and day: view -> wishlist, wishlist -> cart, cart -> wishlist, wishlist -> purchase, purchase -> exit (class 5).
    for split in SPLITS:
        assert m["splits"][split]["next_event_counts"] == [0, 3, 0, 3, 6, 3]
    test = split_frame(r, "test")
    pairs = sorted((int(row.event_types[-1]), int(row.next_event)) for row in test.itertuples())
    assert pairs == sorted([(1, 4), (5, 1), (2, 4), (5, 3), (4, 5)] * 3)
    assert r.version != registry.model_version(EXTRA_DAY, cfg.sequences)  # another vocabulary, another dataset

    # The type dropped from the config: its silver rows fail the build, naming it and the key to declare it under.
    plain = lake_config(config, tmp_path, *small)
    with pytest.raises(DataQualityError, match=r"event types outside the event vocabulary \(view, cart, remove_from_cart, purchase\): "
                       r"'wishlist' \(18 events\); declare them in events\.extra_types"):  # fmt: skip
        run(Context(spark, plain), SequencesParams(EXTRA_DAY))
