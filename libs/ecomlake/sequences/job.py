"""``ecomlake sequences --date D``: the LSTM's training data, built in Spark from silver events.

Anchors are the events of the ``sequences.lookback_days`` days up to D (a ``anchor_fraction`` hash
sample of them); contexts may reach further back. The vocabularies come from the train days only,
so nothing of the validation or test days leaks into them. The dataset is written as a versioned
artifact (``<lake.root>/models/sequences/<D>-<hash of the sequences config>``, replaced whole on a
re-run) and recorded in ml.model_runs (model ``sequences``) with its exact rows per split, which the
training readers check what they deliver against, and the sha256 of every file it wrote, which they check
the folder against before they open it (a file the job did not write is refused).

Not due: the lake's first event day is after the train days (too few days yet for a train,
validation and test split) -> NotDueError, before anything is built (the pipeline skips the step;
alone, exit 3). Degenerate input: no silver events in the anchor days -> InputMissingError; a split
with no samples although the lake covers its days -> DataQualityError naming the split and its days.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from pyspark.sql import functions as F

from ecomlake import lake
from ecomlake.catalog import LABELS, SILVER_EVENTS
from ecomlake.errors import DataQualityError, InputMissingError, NotDueError
from ecomlake.job import Context, SparkJob, iso_date
from ecomlake.ml import registry
from ecomlake.pipeline import due
from ecomlake.sequences import build
from ecomlake.sequences.dataset import DATASET, Manifest, write_dataset
from ecomlake.vocabulary import SPLITS


@dataclass(frozen=True)
class SequencesParams:
    date: dt.date  # the last anchor day; test samples are its last sequences.test_days


@dataclass(frozen=True)
class SequencesResult:
    run_date: dt.date
    version: str
    path: str
    manifest: Manifest

    @property
    def rows_in(self) -> None:
        return None

    @property
    def rows_out(self) -> int:
        return sum(s["rows"] for s in self.manifest["splits"].values())

    def figures(self) -> Mapping[str, float]:
        return {f"{name}_rows": s["rows"] for name, s in self.manifest["splits"].items()} | {
            f"{name}_vocabulary": size for name, size in self.manifest["vocab"].items()
        }

    def summary(self) -> str:
        s, v = self.manifest["splits"], self.manifest["vocab"]
        splits = ", ".join(
            f"{name} {s[name]['rows']:,} rows in {s[name]['files']} files ({s[name]['first_date']}..{s[name]['last_date']})" for name in s
        )
        return (
            f"sequences {self.run_date} ({self.version}, unit {self.manifest['unit']}, length {self.manifest['sequence_length']}): {splits}; "
            f"vocabularies {v['items']:,} items, {v['categories']:,} categories; {self.path}"
        )


def run(ctx: Context, params: SequencesParams) -> SequencesResult:
    """Build, write and record the sequences dataset for the date.

    Example:
        >>> r = run(ctx, SequencesParams(dt.date(2019, 10, 28)))  # doctest: +SKIP
        >>> r.manifest["splits"]["train"]["rows"]  # doctest: +SKIP
        51234
    """
    spark, config, sc, fc, run_date = ctx.spark, ctx.config, ctx.config.sequences, ctx.config.featurize, params.date
    reason = due.sequences(spark, config, run_date)
    if reason is not None:
        raise NotDueError(f"sequences {run_date}: not due yet, {reason}")
    first_anchor = run_date - dt.timedelta(days=sc.lookback_days - 1)
    last_train, last_validation = build.split_dates(run_date, sc.validation_days, sc.test_days)
    events = build.context_events(lake.read(spark, config, SILVER_EVENTS), first_anchor, run_date, sc.lookback_days, sc.include_bots)
    if events.where(F.col("event_date") >= F.lit(first_anchor)).limit(1).count() == 0:
        raise InputMissingError(
            f"no silver events from {first_anchor} to {run_date} in {SILVER_EVENTS.qualified_name(config.lake)}; run ingest and clean first"
        )
    labels = lake.read(spark, config, LABELS, missing="empty").where(F.col("cutoff_date").between(F.lit(first_anchor), F.lit(run_date)))
    event_types = config.events.types  # ids 1..N in this order; the extras are classes of their own
    context_start = first_anchor - dt.timedelta(days=sc.lookback_days)
    build.check_event_types(
        events, event_types, f"sequences {run_date}: {SILVER_EVENTS.qualified_name(config.lake)} ({context_start}..{run_date})",
        "declare them in events.extra_types (with their interaction weight), or re-run clean for their days to quarantine them",
    )  # fmt: skip
    train_events = events.where(F.col("event_date") <= F.lit(last_train))
    vocabularies = {
        "items": build.vocabulary(train_events, "product_id", sc.min_item_events, sc.max_items).cache(),  # joined to the events and written
        "categories": build.vocabulary(train_events, "category_id", sc.min_category_events, sc.max_categories).cache(),
    }
    samples = (
        build.steps(
            build.with_vocabulary_ids(events, vocabularies["items"], vocabularies["categories"]),
            sc.unit,
            sc.length,
            fc.session_gap_minutes,
            fc.dwell_cap_seconds,
            event_types,
        )
        .where(F.col("anchor_date") >= F.lit(first_anchor))
        .transform(build.sampled, sc.anchor_fraction)
        .transform(build.with_churn_label, labels)
        .transform(build.with_split, run_date, sc.validation_days, sc.test_days)
        .transform(build.padded, sc.length)
    )
    # The extras are part of the version: a dataset with other classes is another dataset. Without extras, versions stay as they were.
    version = registry.model_version(run_date, sc, *([f"event_types={','.join(event_types)}"] if config.events.extra_types else []))
    path = registry.artifact_path(config, DATASET, version)
    header = {
        "dataset_version": version, "run_date": str(run_date), "sequence_length": sc.length, "unit": sc.unit,
        "event_types": list(event_types), "next_event_classes": list(build.next_event_classes(event_types)),
        "split_days": {"train_last": str(last_train), "validation_last": str(last_validation), "first_anchor": str(first_anchor)},
        "label_horizon_days": fc.label_horizon_days, "config": dataclasses.asdict(sc),
    }  # fmt: skip
    try:
        manifest, files = write_dataset(
            spark, samples, vocabularies, path, sc.files_per_split, header, ctx.run_id,
            check=lambda m: _check_splits(m, first_anchor, last_train, last_validation, run_date),
        )  # fmt: skip
    finally:
        for v in vocabularies.values():
            v.unpersist()
    splits = manifest["splits"]
    metrics = {**{f"{s}_rows": splits[s]["rows"] for s in SPLITS}, "items_vocabulary": manifest["vocab"]["items"]}
    metrics["categories_vocabulary"] = manifest["vocab"]["categories"]
    params_ = {k: v for k, v in manifest.items() if k != "splits"}
    # Every file's sha256 goes to ml.model_runs: train-lstm and score-lstm read nothing of the folder that is not one of them.
    registry.record_run(spark, config, DATASET, version, run_date, ctx.run_id, splits["train"]["rows"], params_, metrics, files)
    return SequencesResult(run_date, version, path, manifest)


def _check_splits(manifest: Manifest, first_anchor: dt.date, last_train: dt.date, last_validation: dt.date, run_date: dt.date) -> None:
    days = {
        "train": f"{first_anchor}..{last_train}",
        "validation": f"{last_train + dt.timedelta(days=1)}..{last_validation}",
        "test": f"{last_validation + dt.timedelta(days=1)}..{run_date}",
    }
    for split in SPLITS:
        if manifest["splits"][split]["rows"] == 0:
            raise DataQualityError(
                f"sequences {run_date}: the {split} split ({days[split]}) has no samples; the model needs all three. "
                "Build for a day with events in every split's days, or change sequences.lookback_days/validation_days/test_days"
            )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--date", type=iso_date, required=True, help="last anchor day; test samples are its last sequences.test_days (YYYY-MM-DD)")


JOB = SparkJob(
    "sequences", "Build the LSTM's event sequences (Petastorm-readable Parquet + vocabularies) for a day", SequencesParams, run, add_arguments
)
