"""The naive-sessionisation benchmark's two implementations and its output check, on a small lake's silver."""

from __future__ import annotations

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from benchmarks.common import silver_events
from benchmarks.naive_sessions import count_mismatches, library_sessions, naive_sessions
from ecomlake.config import Config


def test_the_python_udf_sessions_equal_the_library_sessions(spark: SparkSession, silver_lake: Config) -> None:
    silver = silver_events(spark, silver_lake)
    library = library_sessions(silver, silver_lake.featurize).cache()
    naive = naive_sessions(silver, silver_lake.featurize).cache()
    assert library.count() > 1_000
    assert naive.count() == library.count()
    assert count_mismatches(library, naive) == 0
    library.unpersist()
    naive.unpersist()


def test_the_check_counts_changed_and_missing_sessions(spark: SparkSession, silver_lake: Config) -> None:
    sessions = library_sessions(silver_events(spark, silver_lake), silver_lake.featurize).orderBy("user_id", "session_start").limit(50).cache()
    first = sessions.first()
    is_first = (F.col("user_id") == first.user_id) & (F.col("session_start") == first.session_start)
    nudged = sessions.withColumn("revenue", F.col("revenue") * (1 + 1e-12))  # within tolerance
    changed = sessions.withColumn("events", F.when(is_first, F.col("events") + 1).otherwise(F.col("events")))
    missing = sessions.where(~is_first)
    assert count_mismatches(sessions, nudged) == 0
    assert count_mismatches(sessions, changed) == 1
    assert count_mismatches(sessions, missing) == 1
    sessions.unpersist()
