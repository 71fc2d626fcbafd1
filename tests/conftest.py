"""Shared fixtures: one SparkSession for the whole run (local[2], 2 shuffle partitions, UTC, UI off) and its config.

Helpers the test modules import are in tests/support.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ecomlake.config import Config
from tests.support import config_for


@pytest.fixture(scope="session")
def lake_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lake")


@pytest.fixture(scope="session")
def config(lake_root: Path) -> Config:
    """The test configuration: a temporary lake; the environment cannot redirect it."""
    return config_for(lake_root)


@pytest.fixture(scope="session")
def spark(config: Config) -> Iterator:
    from ecomlake.session import start_session

    # pandas-on-Spark (imported by pyspark.testing) wants this set before the JVM starts.
    os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")
    session = start_session(config.spark, "ecomlake-tests")
    yield session
    session.stop()


@pytest.fixture(autouse=True)
def _shared_session_unchanged(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test that changed the shared session's shuffle partitions, not a later one that depends on them."""
    yield
    if "spark" in request.fixturenames:
        partitions = request.getfixturevalue("spark").conf.get("spark.sql.shuffle.partitions")
        expected = str(request.getfixturevalue("config").spark.shuffle_partitions)
        assert partitions == expected, f"this test left spark.sql.shuffle.partitions={partitions} (a CLI call without tests.support.cli_keys?)"
