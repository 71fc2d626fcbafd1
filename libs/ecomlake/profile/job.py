"""``ecomlake profile``: KMeans user segments on gold.user_features, named and tracked run to run.

``--date D`` trains on the snapshot of gold.user_features as of D (:mod:`ecomlake.profile.features`
then :mod:`ecomlake.profile.kmeans`), names the segments (:mod:`ecomlake.profile.naming`) and writes:

* gold.user_segments: each user's segment, the slice run_date = D replaced in one commit;
* ml.segments: each segment's size and centroid in original units, rows (D, model_version) replaced;
* gold.segment_transitions: users moved between segments since the latest earlier run, rows of D replaced;
* the fitted PipelineModel under ``registry.artifact_path`` and its row in ml.model_runs (model ``kmeans_profile``).

``--date D --score-only`` loads the newest model trained on or before D and assigns D's users with
it, keeping the names the model got when it was trained (ml.segments of its training run). The model's
folder must lie under ``<lake.root>/models/kmeans_profile/`` and hold exactly the files, byte for byte,
whose sha256 its training run recorded in ml.model_runs (its SQLTransformer statement runs on the users),
and the recorded version must be one the registry writes, before a path or a table slice is built from it.

``--cdnow PATH`` segments the CDNOW transactions (:mod:`ecomlake.profile.cdnow`) with the same code
and the config's k range, prints the segment table and writes nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ecomlake import lake
from ecomlake.artifacts import FileRecord
from ecomlake.catalog import SEGMENT_TRANSITIONS, SEGMENTS, USER_FEATURES, USER_SEGMENTS
from ecomlake.errors import ConfigError
from ecomlake.job import Context, SparkJob, iso_date
from ecomlake.ml import registry
from ecomlake.profile import cdnow
from ecomlake.profile.features import filled_features
from ecomlake.profile.kmeans import SEGMENT_COL, KMeansFit, assign, cluster_centers, fit_kmeans
from ecomlake.profile.segments import Segment, describe_segments, segment_records, segment_stats, segment_table, user_segments
from ecomlake.profile.transitions import segment_transitions, transition_summary

MODEL = "kmeans_profile"


@dataclass(frozen=True)
class ProfileParams:
    date: dt.date | None = None  # segment the users of gold.user_features as of this day
    cdnow: str | None = None  # or segment the CDNOW transactions of this file (writes nothing)
    score_only: bool = False  # assign with the newest saved model; no training

    def __post_init__(self) -> None:
        if (self.date is None) == (self.cdnow is None):
            raise ConfigError("profile takes --date D or --cdnow PATH")
        if self.score_only and self.cdnow is not None:
            raise ConfigError("--score-only goes with --date (a saved model), not with --cdnow")


@dataclass(frozen=True)
class ProfileResult:
    """What a profile run found and wrote."""

    run_date: dt.date | None  # None for CDNOW
    model_version: str | None  # None for CDNOW (nothing saved)
    score_only: bool
    features: tuple[str, ...]
    users: int
    k: int
    silhouette: float | None  # of the model, measured when it was trained
    silhouettes: dict[int, float | None]  # every k tried (empty when scoring only)
    segments: list[Segment]
    previous_run_date: dt.date | None  # the run the transitions compare with
    transitions: list[tuple[str, str, int]]  # (from, to, users), most users first
    assignments: DataFrame  # user_id, segment_id, distance and the features in original units (lazy: re-read, it reapplies the model)
    source: str = ""  # CDNOW: the file segmented

    @property
    def rows_in(self) -> int:
        return self.users

    @property
    def rows_out(self) -> int:
        return self.users if self.run_date is not None else 0

    def figures(self) -> Mapping[str, float | None]:
        return {"k": self.k, "silhouette": self.silhouette, "segments": len(self.segments)}

    def table(self) -> str:
        return segment_table(self.segments, self.features)

    def summary(self) -> str:
        """The headline, the silhouettes, the segment table and the transitions."""
        if self.run_date is None:
            head = f"profile CDNOW ({self.source}) as of {cdnow.AS_OF}: {self.users:,} customers, k = {self.k}"
        else:
            how = "scored with" if self.score_only else "trained"
            head = f"profile {self.run_date}: {how} {self.model_version}, {self.users:,} users in {self.k} segments"
        lines = [head]
        if self.silhouettes:
            tried = ", ".join(f"k={k}: {_num(s)}" for k, s in self.silhouettes.items())
            lines.append(f"  silhouette {_num(self.silhouette)} at k = {self.k} (tried {tried})")
        lines += ["  " + line for line in self.table().splitlines()]
        if self.run_date is not None:
            lines.append("  " + transition_summary(self.transitions, self.previous_run_date))
        return "\n".join(lines)


def run(ctx: Context, params: ProfileParams) -> ProfileResult:
    """Train (or with ``score_only`` load) the segment model for the date, assign the users and write the tables.

    Example:
        >>> run(ctx, ProfileParams(dt.date(2019, 10, 28))).k  # doctest: +SKIP
        4
    """
    if params.cdnow is not None:
        return _cdnow(ctx, params.cdnow)
    spark, config, run_date = ctx.spark, ctx.config, params.date
    assert run_date is not None  # ProfileParams checks it
    fit: KMeansFit | None = None
    files: list[FileRecord] = []
    if params.score_only:
        saved = registry.latest_run(spark, config, MODEL, run_date, trained_by="profile")
        features, version, silhouette = tuple(saved.params["features"]), saved.version, saved.metrics.get("silhouette")
        model = registry.load_pipeline(config, saved)  # its SQL runs on transform: only the files the training run recorded
        names = {r[SEGMENT_COL]: r.segment_name for r in _training_segments(ctx, saved).collect()}
    else:
        features, version, names = tuple(config.profile.features), registry.model_version(run_date, config.profile), None
    users = filled_features(lake.read(spark, config, USER_FEATURES, {"as_of_date": run_date}), features)
    if not params.score_only:
        fit = fit_kmeans(users, config.profile, f"{USER_FEATURES.qualified_name(config.lake)} as of {run_date}")
        model, silhouette = fit.model, fit.silhouette
        files = registry.save_pipeline(model, config, MODEL, version)  # hashed as saved, recorded with the run below
    # The assignments feed the segment statistics and the user_segments write: compute them once.
    assignments = assign(model, users).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        segments = describe_segments(segment_stats(assignments, features).collect(), names)
        lake.write(user_segments(assignments, segments, version, run_date), config, USER_SEGMENTS, {"run_date": run_date})
    finally:
        assignments.unpersist()
    k = len(cluster_centers(model))
    lake.append(
        spark, config, SEGMENTS, segment_records(segments, run_date, version, k, silhouette), {"run_date": run_date, "model_version": version}
    )
    previous_run_date, transitions = _write_transitions(ctx, run_date)
    if fit is not None:
        _record_model(ctx, fit, version, run_date, len(segments), files)
    users_scored = sum(s.users for s in segments)
    return ProfileResult(
        run_date, version, params.score_only, features, users_scored, k, silhouette, dict(fit.silhouettes) if fit else {}, segments,
        previous_run_date, transitions, assignments,
    )  # fmt: skip


def _cdnow(ctx: Context, path: str) -> ProfileResult:
    """Segment the CDNOW customers as of cdnow.AS_OF (config's k range, seed, iterations); writes nothing."""
    fit, segments, assignments = cdnow.segment(ctx.spark, ctx.config.profile, path)
    return ProfileResult(
        None, None, False, cdnow.FEATURES, fit.users, fit.k, fit.silhouette, dict(fit.silhouettes), segments, None, [], assignments, path
    )


def _training_segments(ctx: Context, saved: registry.ModelRun) -> DataFrame:
    """ml.segments of the model's training run: the names a scoring run keeps."""
    segments = lake.read(ctx.spark, ctx.config, SEGMENTS, missing="empty")
    return segments.where((F.col("model_version") == saved.version) & (F.col("run_date") == F.lit(saved.run_date))).select(
        SEGMENT_COL, "segment_name"
    )


def _write_transitions(ctx: Context, run_date: dt.date) -> tuple[dt.date | None, list[tuple[str, str, int]]]:
    """Compare run_date's user_segments slice with the latest earlier one; write and return the transitions."""
    history = lake.read(ctx.spark, ctx.config, USER_SEGMENTS)
    previous_run_date: dt.date | None = history.where(F.col("run_date") < F.lit(run_date)).agg(F.max("run_date")).collect()[0][0]
    previous = history.where(F.col("run_date") == F.lit(previous_run_date)) if previous_run_date else history.limit(0)
    moves = segment_transitions(previous, history.where(F.col("run_date") == F.lit(run_date)), run_date, previous_run_date)
    lake.write(moves, ctx.config, SEGMENT_TRANSITIONS, {"run_date": run_date})
    written = lake.read(ctx.spark, ctx.config, SEGMENT_TRANSITIONS, {"run_date": run_date}, missing="empty")
    rows = written.orderBy(F.col("users").desc(), "from_segment", "to_segment").collect()
    return previous_run_date, [(r.from_segment, r.to_segment, r.users) for r in rows]


def _record_model(ctx: Context, fit: KMeansFit, version: str, run_date: dt.date, segments: int, files: list[FileRecord]) -> None:
    metrics = {"k": fit.k, "silhouette": fit.silhouette, "users": fit.users, "segments": segments, "silhouette_sample_users": fit.sample_users}
    metrics |= {f"silhouette_k{k}": s for k, s in fit.silhouettes.items()}
    params = dataclasses.asdict(ctx.config.profile) | {"chosen_k": fit.k}
    registry.record_run(ctx.spark, ctx.config, MODEL, version, run_date, ctx.run_id, fit.users, params, metrics, files)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--date", type=iso_date, help="segment the users of gold.user_features as of this day (YYYY-MM-DD)")
    which.add_argument("--cdnow", metavar="PATH", help="segment the CDNOW transactions (CDNOW_master.txt), print the segments, write nothing")
    parser.add_argument("--score-only", action="store_true", help="assign with the newest model trained on or before --date; no training")


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


JOB = SparkJob(
    "profile", "KMeans user segments on gold.user_features (or --cdnow PATH), named, with transitions between runs", ProfileParams, run, add_arguments
)
