"""Ranks and quintiles that need no global sort of the rows.

Both count, for each row, the rows with a worse or better value through a histogram of the
distinct values (small), so ties always get the same result and no window puts every row in one
partition. ``by`` ranks within groups (e.g. each as-of date of a snapshot table).
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F


def _with_counts(df: DataFrame, value: str, descending: bool, by: Sequence[str]) -> DataFrame:
    """Add ``_before`` (rows of the group strictly before in the order), ``_same`` (rows with an equal value) and ``_all``."""
    histogram = df.groupBy(*by, value).agg(F.count(F.lit(1)).alias("_same"))
    order = F.col(value).desc() if descending else F.col(value).asc()
    # One row per group and distinct value: few rows. (A constant partition when there are no groups:
    # a bare Window warns once per task.)
    group = Window.partitionBy(*by) if by else Window.partitionBy(F.lit(0))
    before = group.orderBy(order).rowsBetween(Window.unboundedPreceding, -1)
    counts = histogram.select(
        *by,
        value,
        "_same",
        F.coalesce(F.sum("_same").over(before), F.lit(0)).alias("_before"),
        F.sum("_same").over(group).alias("_all"),
    )
    return df.join(counts, [*by, value], how="left")


def with_competition_rank(df: DataFrame, value: str, out: str, by: Sequence[str] = ()) -> DataFrame:
    """Add ``out``: 1 + the number of rows with a strictly larger ``value``; ties share a rank ("1224")."""
    ranked = _with_counts(df, value, descending=True, by=by)
    return ranked.withColumn(out, (F.col("_before") + 1).cast("int")).drop("_before", "_same", "_all")


def with_quintile(df: DataFrame, value: str, out: str, higher_is_better: bool = True, by: Sequence[str] = ()) -> DataFrame:
    """Add ``out``: 1..5 by the mid-rank percentile of ``value`` (5 = best fifth); ties share a score.

    The percentile counts half of the tied rows, so a value shared by everyone scores 3.
    """
    percentile = (F.col("_before") + F.col("_same") / 2) / F.col("_all")
    score = F.least(F.lit(5), (F.floor(percentile * 5) + 1).cast("int"))
    return _with_counts(df, value, descending=not higher_is_better, by=by).withColumn(out, score).drop("_before", "_same", "_all")
