"""How many users moved between segments from the previous run to this one, compared by segment name.

Segment ids are KMeans cluster indexes and change meaning between models; names are decided by rules
(:mod:`ecomlake.profile.naming`), so runs are compared by name. A user only in this run comes from
``(new)``, a user only in the previous run goes to ``(gone)``; so the ``users`` of the rows with a
real ``from_segment`` add up to the previous run's users, those with a real ``to_segment`` to this
run's, and all of them to the users of either run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ecomlake.vocabulary import GONE_SEGMENT, NEW_SEGMENT


def segment_transitions(previous: DataFrame, current: DataFrame, run_date: dt.date, previous_run_date: dt.date | None) -> DataFrame:
    """Rows of gold.segment_transitions from two runs' assignments (``user_id, segment_name`` each).

    ``previous`` may be empty (the first run): every user then comes from ``(new)``.

    Example:
        >>> segment_transitions(prev, cur, dt.date(2019, 10, 28), dt.date(2019, 10, 21)).columns  # doctest: +SKIP
        ['run_date', 'previous_run_date', 'from_segment', 'to_segment', 'users']
    """
    before = previous.select("user_id", F.col("segment_name").alias("from_segment"))
    after = current.select("user_id", F.col("segment_name").alias("to_segment"))
    moves = before.join(after, on="user_id", how="full_outer")
    return (
        moves.groupBy(
            F.coalesce("from_segment", F.lit(NEW_SEGMENT)).alias("from_segment"),
            F.coalesce("to_segment", F.lit(GONE_SEGMENT)).alias("to_segment"),
        )
        .agg(F.count(F.lit(1)).alias("users"))
        .select(
            F.lit(run_date).alias("run_date"),
            F.lit(previous_run_date).cast(T.DateType()).alias("previous_run_date"),
            "from_segment",
            "to_segment",
            "users",
        )
    )


def transition_summary(transitions: Sequence[tuple[str, str, int]], previous_run_date: dt.date | None) -> str:
    """One line: how many users stayed in their segment, moved, are new and are gone since the previous run."""
    stayed = sum(n for a, b, n in transitions if a == b)
    new = sum(n for a, _, n in transitions if a == NEW_SEGMENT)
    gone = sum(n for _, b, n in transitions if b == GONE_SEGMENT)
    moved = sum(n for _, _, n in transitions) - stayed - new - gone
    since = f"since {previous_run_date}" if previous_run_date else "(first run)"
    return f"transitions {since}: {stayed:,} stayed, {moved:,} moved, {new:,} new, {gone:,} gone"
