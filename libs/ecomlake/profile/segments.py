"""Segments described in the features' original units: size, share, mean and median of each feature.

The centroids are computed from the segment's users (the NULL-filled features), not by inverting the
log and the scaling of the KMeans centres: a mean of logs inverted is a geometric mean, not a mean.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame, Row
from pyspark.sql import functions as F

from ecomlake.profile.kmeans import SEGMENT_COL
from ecomlake.profile.naming import name_segments, population_means


@dataclass(frozen=True)
class Segment:
    """One segment of a run, in original units."""

    segment_id: int
    name: str
    users: int
    share: float  # of the run's users
    means: dict[str, float]
    medians: dict[str, float]


def segment_stats(assignments: DataFrame, features: Sequence[str]) -> DataFrame:
    """One row per segment with users: ``segment_id, users, feature_means, feature_medians`` (maps by feature name).

    Example:
        >>> segment_stats(assign(model, users), ["orders", "revenue"]).columns  # doctest: +SKIP
        ['segment_id', 'users', 'feature_means', 'feature_medians']
    """
    return assignments.groupBy(SEGMENT_COL).agg(
        F.count(F.lit(1)).alias("users"),
        F.create_map(*[x for f in features for x in (F.lit(f), F.avg(f))]).alias("feature_means"),
        F.create_map(*[x for f in features for x in (F.lit(f), F.percentile_approx(f, 0.5).cast("double"))]).alias("feature_medians"),
    )


def describe_segments(stats: Sequence[Row], names: Mapping[int, str] | None = None) -> list[Segment]:
    """The collected :func:`segment_stats` rows as Segments, by id; named by :mod:`~ecomlake.profile.naming` unless ``names`` are given.

    Given names (a scoring run keeps its model's names) miss a segment that had no users when the
    model was trained: it is called ``segment <id>``.
    """
    means = {r[SEGMENT_COL]: dict(r.feature_means) for r in stats}
    users = {r[SEGMENT_COL]: r.users for r in stats}
    names = name_segments(means, users) if names is None else {s: names.get(s, f"segment {s}") for s in means}
    total = sum(users.values())
    return [
        Segment(r[SEGMENT_COL], names[r[SEGMENT_COL]], r.users, r.users / total, dict(r.feature_means), dict(r.feature_medians))
        for r in sorted(stats, key=lambda r: r[SEGMENT_COL])
    ]


def user_segments(assignments: DataFrame, segments: Sequence[Segment], version: str, run_date: dt.date) -> DataFrame:
    """gold.user_segments rows: each assigned user with its segment's name, the model version and the run date."""
    names = assignments.sparkSession.createDataFrame([(s.segment_id, s.name) for s in segments], f"{SEGMENT_COL} int, segment_name string")
    return assignments.join(F.broadcast(names), on=SEGMENT_COL, how="inner").select(
        "user_id", SEGMENT_COL, "segment_name", "distance", F.lit(version).alias("model_version"), F.lit(run_date).alias("run_date")
    )


def segment_records(segments: Sequence[Segment], run_date: dt.date, version: str, k: int, silhouette: float | None) -> list[dict[str, Any]]:
    """ml.segments records (by column name): each segment's size and centroid in original units."""
    return [
        {
            "run_date": run_date, "model_version": version, SEGMENT_COL: s.segment_id, "segment_name": s.name, "users": s.users,
            "share": s.share, "feature_means": s.means, "feature_medians": s.medians, "k": k, "silhouette": silhouette,
        }
        for s in segments
    ]  # fmt: skip


def segment_table(segments: Sequence[Segment], features: Sequence[str]) -> str:
    """The segments as a fixed-width text table (feature means in original units), with the population's means last."""
    everyone = population_means({s.segment_id: s.means for s in segments}, {s.segment_id: s.users for s in segments})
    name_width = max(len("segment"), *(len(s.name) for s in segments))
    widths = [max(10, len(f)) for f in features]
    header = f"{'id':>3} {'segment':<{name_width}} {'users':>7} {'share':>6}  " + " ".join(f"{f:>{w}}" for f, w in zip(features, widths, strict=True))

    def row(segment_id: str, name: str, users: int, share: float, means: Mapping[str, float]) -> str:
        cells = " ".join(f"{_fmt(means[f]):>{w}}" for f, w in zip(features, widths, strict=True))
        return f"{segment_id:>3} {name:<{name_width}} {users:>7,} {share:>6.1%}  {cells}"

    lines = [header, *(row(str(s.segment_id), s.name, s.users, s.share, s.means) for s in segments)]
    lines.append(row("", "(all users)", sum(s.users for s in segments), 1.0, everyone))
    return "\n".join(lines)


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}" if abs(x) < 1 else f"{x:,.1f}"
