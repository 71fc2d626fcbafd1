"""``ecomlake sequences --date D``: the LSTM's training data, built in Spark from silver events.

Anchors are the events of the ``sequences.lookback_days`` days up to D (a ``anchor_fraction`` hash
sample of them); contexts may reach further back. The vocabularies come from the train days only,
so nothing of the validation or test days leaks into them. The dataset is written as a versioned
artifact (``<lake.root>/models/sequences/<D>-<hash of the sequences config>``, replaced whole on a
re-run) and recorded in ml.model_runs (model ``sequences``) with its exact rows per split, which the
training readers check what they deliver against.

Degenerate input: no silver events in the anchor days -> InputMissingError; a split with no samples
(too little history for the train days, say) -> DataQualityError naming the split and its days.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import time
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ecomlake import lake
from ecomlake.config import Config
from ecomlake.errors import DataQualityError, InputMissingError
from ecomlake.featurize.job import EVENT_COLUMNS
from ecomlake.job import Job, iso_date
from ecomlake.ml import registry
from ecomlake.runinfo import new_run_id
from ecomlake.sequences import build
from ecomlake.sequences.dataset import write_dataset

MODEL = "sequences"  # its registry name


@dataclasses.dataclass(frozen=True)
class SequencesResult:
    run_date: dt.date
    version: str
    path: str
    manifest: dict[str, Any]
    seconds: float


def events_for(spark: SparkSession, config: Config, first_anchor: dt.date, run_date: dt.date) -> DataFrame:
    """Silver events that anchors of [first_anchor, run_date] and their contexts read."""
    sc = config.sequences
    context_start = first_anchor - dt.timedelta(days=sc.lookback_days)
    events = lake.read_table(spark, config.lake, lake.SILVER_EVENTS).where(F.col("event_date").between(F.lit(context_start), F.lit(run_date)))
    if not sc.include_bots:
        events = events.where(~F.col("is_bot"))
    return events.select(*EVENT_COLUMNS)


def labels_for(spark: SparkSession, config: Config, first_anchor: dt.date, run_date: dt.date) -> DataFrame | None:
    """gold.labels of the anchor days, or None when featurize has written none yet."""
    if not lake.table_exists(spark, config.lake, lake.LABELS):
        return None
    return lake.read_table(spark, config.lake, lake.LABELS).where(F.col("cutoff_date").between(F.lit(first_anchor), F.lit(run_date)))


def build_sequences(spark: SparkSession, config: Config, run_date: dt.date) -> SequencesResult:
    """Build, write and record the sequences dataset for ``run_date``.

    Example:
        >>> r = build_sequences(spark, config, dt.date(2019, 10, 28))  # doctest: +SKIP
        >>> r.manifest["splits"]["train"]["rows"]  # doctest: +SKIP
        51234
    """
    t0, run_id, sc, fc = time.perf_counter(), new_run_id(), config.sequences, config.featurize
    first_anchor = run_date - dt.timedelta(days=sc.lookback_days - 1)
    last_train, last_validation = build.split_dates(run_date, sc.validation_days, sc.test_days)
    events = events_for(spark, config, first_anchor, run_date)
    if events.where(F.col("event_date") >= F.lit(first_anchor)).limit(1).count() == 0:
        raise InputMissingError(
            f"no silver events from {first_anchor} to {run_date} in {lake.SILVER_EVENTS.qualified_name(config.lake)}; run ingest and clean first"
        )
    train_events = events.where(F.col("event_date") <= F.lit(last_train))
    vocabularies = {
        "items": build.vocabulary(train_events, "product_id", sc.min_item_events, sc.max_items),
        "categories": build.vocabulary(train_events, "category_id", sc.min_category_events, sc.max_categories),
    }
    vocabularies = {name: v.cache() for name, v in vocabularies.items()}  # joined to the events and written
    samples = (
        build.steps(
            build.with_vocabulary_ids(events, vocabularies["items"], vocabularies["categories"]),
            sc.unit,
            sc.length,
            fc.session_gap_minutes,
            fc.dwell_cap_seconds,
        )
        .where(F.col("anchor_date") >= F.lit(first_anchor))
        .transform(build.sampled, sc.anchor_fraction)
        .transform(build.with_churn_label, labels_for(spark, config, first_anchor, run_date))
        .transform(build.with_split, run_date, sc.validation_days, sc.test_days)
        .transform(build.padded, sc.length)
    )
    version = registry.model_version(run_date, sc)
    path = registry.artifact_path(config, MODEL, version)
    base = {
        "dataset_version": version,
        "run_date": str(run_date),
        "sequence_length": sc.length,
        "unit": sc.unit,
        "event_types": list(build.EVENT_TYPES),
        "next_event_classes": list(build.NEXT_EVENT_CLASSES),
        "split_days": {"train_last": str(last_train), "validation_last": str(last_validation), "first_anchor": str(first_anchor)},
        "label_horizon_days": fc.label_horizon_days,
        "config": dataclasses.asdict(sc),
    }
    try:
        manifest = write_dataset(
            spark, samples, vocabularies, path, sc.files_per_split, base, run_id,
            check=lambda m: _check_splits(m, first_anchor, last_train, last_validation, run_date),
        )  # fmt: skip
    finally:
        for v in vocabularies.values():
            v.unpersist()
    splits = manifest["splits"]
    registry.record_run(
        spark,
        config,
        MODEL,
        version,
        run_date,
        run_id,
        splits["train"]["rows"],
        params={k: v for k, v in manifest.items() if k != "splits"},
        metrics={
            **{f"{s}_rows": splits[s]["rows"] for s in build.SPLITS},
            "items_vocabulary": manifest["vocab"]["items"],
            "categories_vocabulary": manifest["vocab"]["categories"],
        },
    )
    return SequencesResult(run_date, version, path, manifest, time.perf_counter() - t0)


def _check_splits(manifest: dict[str, Any], first_anchor: dt.date, last_train: dt.date, last_validation: dt.date, run_date: dt.date) -> None:
    days = {
        "train": f"{first_anchor}..{last_train}",
        "validation": f"{last_train + dt.timedelta(days=1)}..{last_validation}",
        "test": f"{last_validation + dt.timedelta(days=1)}..{run_date}",
    }
    for split in build.SPLITS:
        if manifest["splits"][split]["rows"] == 0:
            raise DataQualityError(
                f"sequences {run_date}: the {split} split ({days[split]}) has no samples; the model needs all three. "
                "Build for a day with events in every split's days, or change sequences.lookback_days/validation_days/test_days"
            )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--date", type=iso_date, required=True, help="last anchor day; test samples are its last sequences.test_days (YYYY-MM-DD)")


def run(spark: SparkSession | None, config: Config, args: argparse.Namespace) -> SequencesResult:
    assert spark is not None
    r = build_sequences(spark, config, args.date)
    s, v = r.manifest["splits"], r.manifest["vocab"]
    print(
        f"sequences {r.run_date} ({r.version}, unit {config.sequences.unit}, length {config.sequences.length}): "
        + ", ".join(f"{name} {s[name]['rows']:,} rows in {s[name]['files']} files ({s[name]['first_date']}..{s[name]['last_date']})" for name in s)
        + f"; vocabularies {v['items']:,} items, {v['categories']:,} categories; {r.path} in {r.seconds:.1f} s"
    )
    return r


JOB = Job("sequences", "Build the LSTM's event sequences (Petastorm-readable Parquet + vocabularies) for a day", add_arguments, run)
