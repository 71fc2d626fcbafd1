"""Shared fixtures: one SparkSession for the whole run (local[2], 2 shuffle partitions, UTC, UI off)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ecomlake.config import Config, load_config

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def lake_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lake")


@pytest.fixture(scope="session")
def config(lake_root: Path) -> Config:
    """The test configuration: a temporary lake; the environment cannot redirect it."""
    return load_config(
        None,
        overrides=[
            f"lake.root={lake_root}",
            "spark.master=local[2]",
            "spark.shuffle_partitions=2",
            "spark.ui_enabled=false",
            "spark.driver_memory=2g",
        ],
        environ={},
    )


def spark_keys(config: Config) -> list[str]:
    """The test run's session keys. A CLI call in this process must pass them: the builder applies its
    config's SQL confs (shuffle partitions) to the running session, and every later test would see them."""
    s = config.spark
    return [f"spark.master={s.master}", f"spark.shuffle_partitions={s.shuffle_partitions}", f"spark.jars_cache={s.jars_cache}"]


def cli_keys(cfg: Config, *overrides: str) -> list[str]:
    """``--set`` arguments for ``ecomlake`` run in this process on cfg's lake with the test run's session keys."""
    return [arg for key in (f"lake.root={cfg.lake.root}", *spark_keys(cfg), *overrides) for arg in ("--set", key)]


def lake_config(config: Config, root: Path, *overrides: str) -> Config:
    """The test config with its own lake root, for tests that must not share tables."""
    return load_config(None, overrides=[f"lake.root={root}", *spark_keys(config), *overrides], environ={})


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
        assert partitions == expected, f"this test left spark.sql.shuffle.partitions={partitions} (a CLI call without tests.conftest.cli_keys?)"
