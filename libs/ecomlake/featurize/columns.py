"""Column functions shared by the gold tables: counts by type, exact sums, safe ratios, time parts."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pyspark.sql import Column
from pyspark.sql import functions as F


def count_of(event_type: str) -> Column:
    """Aggregate: how many rows are events of ``event_type``."""
    return F.count(F.when(F.col("event_type") == event_type, True))


def extra_events_map(count: Callable[[str], Column], extra_types: Sequence[str]) -> Column:
    """An ``extra_events`` map (event type -> events) of the site's own types, each counted by ``count``; empty without any."""
    if not extra_types:
        return F.create_map().cast("map<string,bigint>")
    return F.create_map(*[part for t in extra_types for part in (F.lit(t), F.coalesce(count(t), F.lit(0)).cast("long"))])


def exact_sum(column: Column | str, scale: int = 6) -> Column:
    """Aggregate: the sum of a double column in whole units of 10^-scale, returned as a double.

    A double sum depends on the order of its terms, which depends on partitioning: a re-run or a
    full rebuild would differ in the last bits. Prices, seconds (micro-second resolution) and
    other measures have at most ``scale`` decimals, so a sum of longs is exact and the same always
    (and much cheaper than a decimal(38) sum, which Spark keeps in BigDecimal). A sum beyond
    9.2e18 units fails (ANSI mode) rather than wrap.
    """
    col = F.col(column) if isinstance(column, str) else column
    return F.sum(F.round(col * 10**scale).cast("long")) / 10**scale


def ratio(numerator: Column, denominator: Column) -> Column:
    """numerator / denominator, NULL when the denominator is 0 or NULL."""
    return F.when(denominator > 0, numerator / denominator)


def seconds_between(later: Column, earlier: Column) -> Column:
    return (F.unix_micros(later) - F.unix_micros(earlier)) / 1e6


def iso_weekday(ts: Column) -> Column:
    """1 = Monday .. 7 = Sunday (Spark's dayofweek starts on Sunday)."""
    return (F.dayofweek(ts) + 5) % 7 + 1
