"""What the tests share besides fixtures: the repository's path, configs for lakes of their own, CLI keys, table copies, jobs.

Fixtures live in the conftest files; everything a test module imports lives here.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from ecomlake import jobs
from ecomlake.catalog import Table
from ecomlake.config import Config, load_config
from ecomlake.job import Context, SparkJob, execute

REPO = Path(__file__).resolve().parents[1]


def config_for(root: Path, *overrides: str) -> Config:
    """The test configuration on a lake at ``root``: local[2], 2 shuffle partitions, no UI; the environment cannot redirect it."""
    base = ["spark.master=local[2]", "spark.shuffle_partitions=2", "spark.ui_enabled=false", "spark.driver_memory=2g"]
    return load_config(None, overrides=[f"lake.root={root}", *base, *overrides], environ={})


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


def copy_tables(source: Config, target: Config, *tables: Table) -> None:
    """Copy whole Delta tables (log and files) from one lake to another: a lake of its own for a test that writes."""
    for table in tables:
        shutil.copytree(table.path(source.lake), table.path(target.lake))


def run_job(spark: SparkSession, cfg: Config, name: str, **params: Any) -> Any:
    """The job ``name`` through the job runner, as ``ecomlake <name>`` runs it (its run recorded in ops.run_ledger); its result."""
    job = jobs.load(name)
    assert isinstance(job, SparkJob)
    return execute(job, Context(spark, cfg), job.params(**params))


# The shared gold lake (tests/spark/conftest.py): 28 generated days; labels look 7 days ahead. Snapshots exist as of
# the cut-off (day 21, with its labels) and as of the last day: what the propensity models train and score on.
GOLD_START, GOLD_DAYS, GOLD_HORIZON = dt.date(2019, 10, 1), 28, 7
GOLD_LAST_DAY = GOLD_START + dt.timedelta(days=GOLD_DAYS - 1)
GOLD_CUTOFF = GOLD_LAST_DAY - dt.timedelta(days=GOLD_HORIZON)

PROPENSITY_SMALL = ("propensity.trees=10", "propensity.max_depth=3")  # small trees: quick
# A small LSTM that trains 3 epochs; launcher mechanics (crash and resume, early stopping, horovodrun,
# row checks) are tested on synthetic data in tests/dl.
SMALL_LSTM = (
    "lstm.hidden_size=32",
    "lstm.item_embedding=16",
    "lstm.category_embedding=8",
    "lstm.epochs=3",
    "lstm.patience=3",
    "lstm.learning_rate=0.005",
)
