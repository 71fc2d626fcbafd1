"""The profile tables' documented schemas: every column's name, type, meaning and unit.

``gold.user_segments`` holds one slice per run date (each user's segment), ``ml.segments`` one row per
segment per run (its size and centroid in original units), ``gold.segment_transitions`` how many users
moved between segments since the previous run. Segment names come from :mod:`ecomlake.profile.naming`.
"""

from __future__ import annotations

from pyspark.sql import types as T

from ecomlake.schema import Field, TableSchema

LONG, INT, DOUBLE, STRING, DATE = T.LongType(), T.IntegerType(), T.DoubleType(), T.StringType(), T.DateType()
FEATURE_MAP = T.MapType(STRING, DOUBLE)

# Markers in gold.segment_transitions for users only in one of the two runs.
NEW, GONE = "(new)", "(gone)"

USER_SEGMENTS = TableSchema(
    "gold.user_segments",
    "One row per user of gold.user_features as of run_date: the KMeans segment the user is in. Partitioned by run_date; "
    "a run replaces its date's slice.",
    (
        Field("user_id", LONG, "the user", nullable=False),
        Field("segment_id", INT, "the KMeans cluster index (0-based; only meaningful within one model_version)", nullable=False),
        Field("segment_name", STRING, "the segment's readable name (rules in ecomlake.profile.naming); compare runs by name", nullable=False),
        Field(
            "distance",
            DOUBLE,
            "euclidean distance from the user's standardised features to the segment's centroid (0: a typical member)",
            "standard deviations",
        ),
        Field("model_version", STRING, "the model that assigned the segment (ml.model_runs)", nullable=False),
        Field("run_date", DATE, "features as of this day were assigned", nullable=False),
    ),
)

SEGMENTS = TableSchema(
    "ml.segments",
    "One row per segment per run (run_date, model_version): its name, size and centroid in the features' original units, "
    "computed from its users' features (not by inverting the scaling). A training run and each --score-only run add rows; "
    "a re-run replaces its (run_date, model_version) rows. Segments without users are left out.",
    (
        Field("run_date", DATE, "the day the users' features are as of", nullable=False),
        Field("model_version", STRING, "the model (ml.model_runs)", nullable=False),
        Field("segment_id", INT, "the KMeans cluster index", nullable=False),
        Field(
            "segment_name",
            STRING,
            "readable name (rules in ecomlake.profile.naming); a --score-only run keeps the training run's names",
            nullable=False,
        ),
        Field("users", LONG, "users in the segment", "users"),
        Field("share", DOUBLE, "users / all users of the run", "ratio 0-1"),
        Field("feature_means", FEATURE_MAP, "mean of each profile feature over the segment's users, NULLs counted as 0", "feature units"),
        Field("feature_medians", FEATURE_MAP, "approximate median of each profile feature over the segment's users", "feature units"),
        Field("k", INT, "segments the model has (KMeans clusters)", "segments"),
        Field(
            "silhouette",
            DOUBLE,
            "silhouette of the model, measured when it was trained (squared euclidean, on a seeded sample); NULL with one cluster",
            "-1..1",
        ),
    ),
)

SEGMENT_TRANSITIONS = TableSchema(
    "gold.segment_transitions",
    "One row per (from segment, to segment) with users, between the previous run (the latest run_date before this one in "
    f"gold.user_segments) and this run, compared by segment name. `{NEW}` as from_segment: users not in the previous run "
    f"(all users on the first run); `{GONE}` as to_segment: users no longer in this run. A re-run replaces its run_date's rows.",
    (
        Field("run_date", DATE, "this run", nullable=False),
        Field("previous_run_date", DATE, "the run compared with; NULL on the first run"),
        Field("from_segment", STRING, f"segment name in the previous run, or {NEW}", nullable=False),
        Field("to_segment", STRING, f"segment name in this run, or {GONE}", nullable=False),
        Field("users", LONG, "users who moved from from_segment to to_segment (or stayed, when the names are equal)", "users"),
    ),
)

SCHEMAS: tuple[TableSchema, ...] = (USER_SEGMENTS, SEGMENTS, SEGMENT_TRANSITIONS)
