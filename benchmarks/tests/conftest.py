"""Fixtures of the benchmark code's tests: one SparkSession for the run (local[2], 2 shuffle partitions, UTC, UI off)
and a small lake of their own. Independent of the test suite under tests/ (nothing is imported from it).
"""

from __future__ import annotations

import csv
import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ecomlake.config import Config, load_config

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DAY = dt.date(2019, 10, 1)


def config_for(root: Path, *overrides: str) -> Config:
    """The tests' configuration on a lake at ``root``: local[2], 2 shuffle partitions, no UI; the environment cannot redirect it."""
    base = ["spark.master=local[2]", "spark.shuffle_partitions=2", "spark.ui_enabled=false", "spark.driver_memory=2g"]
    return load_config(None, overrides=[f"lake.root={root}", *base, *overrides], environ={})


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    from ecomlake.session import start_session

    # pandas-on-Spark (imported by pyspark.testing) wants this set before the JVM starts.
    os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")
    session = start_session(config_for(tmp_path_factory.mktemp("bench-session")).spark, "ecomlake-bench-tests")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def silver_lake(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Config:
    """A lake of its own whose silver.events holds the REES46 excerpt shipped with the package (17k real events of
    2019-10-01, about 5,000 sessions) as hand-made silver rows: one Delta commit, twice as quick as ingest and clean."""
    from ecomlake import datasets, lake
    from ecomlake.catalog import SILVER_EVENTS

    cfg = config_for(tmp_path_factory.mktemp("bench-lake"))
    lake.append(spark, cfg, SILVER_EVENTS, _silver_records(datasets.rees46_oct_head()))
    return cfg


def _silver_records(path: Path) -> list[dict[str, Any]]:
    """The REES46 CSV's rows as silver.events records (people only; the columns clean fills are filled the simple way)."""
    records = []
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            if None in row.values():
                continue  # the truncated last line, which clean quarantines as malformed
            at = dt.datetime.strptime(row["event_time"], "%Y-%m-%d %H:%M:%S UTC").replace(tzinfo=dt.UTC)
            records.append(
                {
                    "event_time": at,
                    "event_date": at.date(),
                    "event_hour": at.hour,
                    "event_type": row["event_type"],
                    "product_id": int(row["product_id"]),
                    "category_id": int(row["category_id"]) if row["category_id"] else None,
                    "category_code": row["category_code"] or "unknown",
                    "brand": row["brand"] or "unknown",
                    "price": float(row["price"]) if row["price"] else None,
                    "user_id": int(row["user_id"]),
                    "user_session": row["user_session"] or None,
                    "category_code_origin": "source" if row["category_code"] else "unknown",
                    "brand_origin": "source" if row["brand"] else "unknown",
                    "is_bot": False,
                    "source_layout": "rees46",
                    "source_file": path.as_uri(),
                    "ingest_date": DAY,
                }
            )
    return records
