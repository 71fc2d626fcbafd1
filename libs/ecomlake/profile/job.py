"""``ecomlake profile``: KMeans user segments on gold.user_features, named and tracked run to run.

``--date D`` trains on the snapshot of gold.user_features as of D (:mod:`ecomlake.profile.features`
then :mod:`ecomlake.profile.kmeans`), names the segments (:mod:`ecomlake.profile.naming`) and writes:

* gold.user_segments: each user's segment, the slice run_date = D replaced in one commit;
* ml.segments: each segment's size and centroid in original units, rows (D, model_version) replaced;
* gold.segment_transitions: users moved between segments since the latest earlier run, rows of D replaced;
* the fitted PipelineModel under ``registry.artifact_path`` and its row in ml.model_runs (model ``kmeans_profile``).

``--date D --score-only`` loads the newest model trained on or before D and assigns D's users with
it, keeping the names the model got when it was trained (ml.segments of its training run).

``--cdnow PATH`` segments the CDNOW transactions (:mod:`ecomlake.profile.cdnow`) with the same code
and the config's k range, prints the segment table and writes nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from pyspark import StorageLevel
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ecomlake import lake
from ecomlake.config import Config
from ecomlake.errors import ConfigError, InputMissingError
from ecomlake.job import Job, iso_date
from ecomlake.ml import registry
from ecomlake.profile import cdnow, schemas
from ecomlake.profile.features import filled_features
from ecomlake.profile.kmeans import SEGMENT_COL, KMeansFit, assign, fit_kmeans
from ecomlake.profile.schemas import GONE, NEW
from ecomlake.profile.segments import Segment, describe_segments, segment_stats, segment_table
from ecomlake.profile.transitions import segment_transitions
from ecomlake.runinfo import new_run_id

log = logging.getLogger(__name__)

MODEL = "kmeans_profile"


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
    seconds: float

    def table(self) -> str:
        return segment_table(self.segments, self.features)


def read_user_features(spark: SparkSession, config: Config, run_date: dt.date, features: Sequence[str]) -> DataFrame:
    """The snapshot of gold.user_features as of ``run_date``: ``user_id`` and ``features``, NULLs filled.

    Raises InputMissingError when there is no snapshot for the date, ConfigError when a feature is not a column.
    """
    name = lake.USER_FEATURES.qualified_name(config.lake)
    missing = InputMissingError(f"{name} has no snapshot as of {run_date}; run `ecomlake featurize --date {run_date}` first")
    if not lake.table_exists(spark, config.lake, lake.USER_FEATURES):
        raise missing
    table = lake.read_table(spark, config.lake, lake.USER_FEATURES)
    unknown = [f for f in features if f not in table.columns]
    if unknown:
        raise ConfigError(f"profile.features: {unknown} are not columns of {name}")
    snapshot = table.where(F.col("as_of_date") == F.lit(run_date))
    if snapshot.limit(1).count() == 0:
        raise missing
    return filled_features(snapshot, features)


def profile(spark: SparkSession, config: Config, run_date: dt.date, score_only: bool = False) -> ProfileResult:
    """Train (or with ``score_only`` load) the segment model for ``run_date``, assign the users and write the tables.

    Example:
        >>> profile(spark, config, dt.date(2019, 10, 28)).k  # doctest: +SKIP
        4
    """
    t0 = time.perf_counter()
    fit: KMeansFit | None = None
    names: dict[int, str] | None = None
    if score_only:
        run = registry.latest_run(spark, config, MODEL, run_date)
        features = tuple(run.params["features"])
        model, version, names = PipelineModel.load(run.artifact_path), run.version, _model_names(spark, config, run)
        silhouette = run.metrics.get("silhouette")
        users = read_user_features(spark, config, run_date, features)
    else:
        features = tuple(config.profile.features)
        users = read_user_features(spark, config, run_date, features)
        fit = fit_kmeans(users, config.profile, f"{lake.USER_FEATURES.qualified_name(config.lake)} as of {run_date}")
        model, version, silhouette = fit.model, registry.model_version(run_date, config.profile), fit.silhouette
        model.write().overwrite().save(registry.artifact_path(config, MODEL, version))
    # The assignments feed the segment statistics and the user_segments write: compute them once.
    assignments = assign(model, users).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        segments = describe_segments(segment_stats(assignments, features).collect(), names)
        k = len(model.stages[-1].clusterCenters())
        segment_names = spark.createDataFrame([(s.segment_id, s.name) for s in segments], f"{SEGMENT_COL} int, segment_name string")
        user_segments = assignments.join(F.broadcast(segment_names), on=SEGMENT_COL, how="inner").select(
            "user_id", SEGMENT_COL, "segment_name", "distance", F.lit(version).alias("model_version"), F.lit(run_date).alias("run_date")
        )
        lake.write_table(user_segments, config.lake, lake.USER_SEGMENTS, schema=schemas.USER_SEGMENTS, replace_where=f"run_date = '{run_date}'")
    finally:
        assignments.unpersist()
    segment_rows = [
        (run_date, version, s.segment_id, s.name, s.users, s.share, s.means, s.medians, k, silhouette) for s in segments
    ]  # fmt: skip
    lake.write_table(
        spark.createDataFrame(segment_rows, schemas.SEGMENTS.struct()),
        config.lake,
        lake.SEGMENTS,
        schema=schemas.SEGMENTS,
        replace_where=f"run_date = '{run_date}' AND model_version = '{version}'",
    )
    previous_run_date, transitions = _write_transitions(spark, config, run_date)
    if fit is not None:
        metrics = {
            "k": fit.k,
            "silhouette": fit.silhouette,
            "users": fit.users,
            "segments": len(segments),
            "silhouette_sample_users": fit.sample_users,
        }
        metrics |= {f"silhouette_k{k_}": s for k_, s in fit.silhouettes.items()}
        params = dataclasses.asdict(config.profile) | {"chosen_k": fit.k}
        registry.record_run(spark, config, MODEL, version, run_date, new_run_id(), fit.users, params, metrics)
    return ProfileResult(
        run_date=run_date,
        model_version=version,
        score_only=score_only,
        features=features,
        users=sum(s.users for s in segments),
        k=k,
        silhouette=silhouette,
        silhouettes=dict(fit.silhouettes) if fit else {},
        segments=segments,
        previous_run_date=previous_run_date,
        transitions=transitions,
        assignments=assignments,
        seconds=time.perf_counter() - t0,
    )


def profile_cdnow(spark: SparkSession, config: Config, path: str, as_of: dt.date = cdnow.AS_OF) -> ProfileResult:
    """Segment the CDNOW customers as of ``as_of`` on :data:`cdnow.FEATURES` (config's k range, seed, iterations); writes nothing."""
    t0 = time.perf_counter()
    pc = dataclasses.replace(config.profile, features=cdnow.FEATURES, log_features=cdnow.LOG_FEATURES)
    users = filled_features(cdnow.cdnow_user_features(cdnow.read_cdnow(spark, path), as_of), pc.features)
    fit = fit_kmeans(users, pc, f"{path} as of {as_of}")
    assignments = assign(fit.model, users)
    segments = describe_segments(segment_stats(assignments, pc.features).collect())
    return ProfileResult(
        run_date=None,
        model_version=None,
        score_only=False,
        features=pc.features,
        users=fit.users,
        k=fit.k,
        silhouette=fit.silhouette,
        silhouettes=dict(fit.silhouettes),
        segments=segments,
        previous_run_date=None,
        transitions=[],
        assignments=assignments,
        seconds=time.perf_counter() - t0,
    )


def _model_names(spark: SparkSession, config: Config, run: registry.ModelRun) -> dict[int, str]:
    """The names the model's segments got in its training run (ml.segments)."""
    if not lake.table_exists(spark, config.lake, lake.SEGMENTS):
        return {}
    rows = (
        lake.read_table(spark, config.lake, lake.SEGMENTS)
        .where((F.col("model_version") == run.version) & (F.col("run_date") == F.lit(run.run_date)))
        .select(SEGMENT_COL, "segment_name")
        .collect()
    )
    return {r[SEGMENT_COL]: r.segment_name for r in rows}


def _write_transitions(spark: SparkSession, config: Config, run_date: dt.date) -> tuple[dt.date | None, list[tuple[str, str, int]]]:
    """Compare run_date's user_segments slice with the latest earlier one; write and return the transitions."""
    history = lake.read_table(spark, config.lake, lake.USER_SEGMENTS)
    previous_run_date = history.where(F.col("run_date") < F.lit(run_date)).agg(F.max("run_date")).first()[0]
    previous = history.where(F.col("run_date") == F.lit(previous_run_date)) if previous_run_date else history.limit(0)
    current = history.where(F.col("run_date") == F.lit(run_date))
    moves = segment_transitions(previous, current, run_date, previous_run_date)
    lake.write_table(moves, config.lake, lake.SEGMENT_TRANSITIONS, schema=schemas.SEGMENT_TRANSITIONS, replace_where=f"run_date = '{run_date}'")
    written = lake.read_table(spark, config.lake, lake.SEGMENT_TRANSITIONS).where(F.col("run_date") == F.lit(run_date))
    rows = written.orderBy(F.col("users").desc(), "from_segment", "to_segment").collect()
    return previous_run_date, [(r.from_segment, r.to_segment, r.users) for r in rows]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--date", type=iso_date, help="segment the users of gold.user_features as of this day (YYYY-MM-DD)")
    which.add_argument("--cdnow", metavar="PATH", help="segment the CDNOW transactions (CDNOW_master.txt), print the segments, write nothing")
    parser.add_argument("--score-only", action="store_true", help="assign with the newest model trained on or before --date; no training")


def run(spark: SparkSession | None, config: Config, args: argparse.Namespace) -> ProfileResult:
    assert spark is not None
    if args.cdnow:
        if args.score_only:
            raise ConfigError("--score-only goes with --date (a saved model), not with --cdnow")
        r = profile_cdnow(spark, config, args.cdnow)
        print(f"profile CDNOW ({args.cdnow}) as of {cdnow.AS_OF}: {r.users:,} customers, k = {r.k}, in {r.seconds:.1f} s")
    else:
        r = profile(spark, config, args.date, score_only=args.score_only)
        how = "scored with" if r.score_only else "trained"
        print(f"profile {r.run_date}: {how} {r.model_version}, {r.users:,} users in {r.k} segments, in {r.seconds:.1f} s")
    print(summary(r))
    return r


def summary(r: ProfileResult) -> str:
    """The silhouettes, the segment table and the transitions, as printed by the job."""
    lines = []
    if r.silhouettes:
        tried = ", ".join(f"k={k}: {_num(s)}" for k, s in r.silhouettes.items())
        lines.append(f"  silhouette {_num(r.silhouette)} at k = {r.k} (tried {tried})")
    lines += ["  " + line for line in r.table().splitlines()]
    if r.run_date is not None:
        stayed = sum(n for a, b, n in r.transitions if a == b)
        new = sum(n for a, _, n in r.transitions if a == NEW)
        gone = sum(n for _, b, n in r.transitions if b == GONE)
        moved = sum(n for _, _, n in r.transitions) - stayed - new - gone
        since = f"since {r.previous_run_date}" if r.previous_run_date else "(first run)"
        lines.append(f"  transitions {since}: {stayed:,} stayed, {moved:,} moved, {new:,} new, {gone:,} gone")
    return "\n".join(lines)


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


JOB = Job("profile", "KMeans user segments on gold.user_features (or --cdnow PATH), named, with transitions between runs", add_arguments, run)
