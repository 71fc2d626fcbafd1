"""Fixtures shared by the model tests: a lake with every gold table, built once from generated days."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from ecomlake.clean.job import clean_events
from ecomlake.config import Config
from ecomlake.featurize.job import featurize
from ecomlake.generate.dataset import generate_dataset
from ecomlake.ingest.job import ingest_events
from tests.conftest import lake_config

# 28 generated days; labels look 7 days ahead. Snapshots exist as of the cut-off (day 21, with its
# labels) and as of the last day: what the propensity models train and score on.
GOLD_START, GOLD_DAYS, GOLD_HORIZON = dt.date(2019, 10, 1), 28, 7
GOLD_LAST_DAY = GOLD_START + dt.timedelta(days=GOLD_DAYS - 1)
GOLD_CUTOFF = GOLD_LAST_DAY - dt.timedelta(days=GOLD_HORIZON)


@pytest.fixture(scope="session")
def gold_lake(spark: SparkSession, config: Config, tmp_path_factory: pytest.TempPathFactory) -> Config:
    """A lake of 28 generated days (about 60k events, 4,000 users) through ingest, clean and featurize.

    The files are ingested as one delivery on the last day (clean keeps them all as late arrivals), which
    gives the same silver as day-by-day runs for far less fixed cost. Featurizing the last day then
    writes every daily slice, the snapshots as of that day and the labels of GOLD_CUTOFF; featurizing
    GOLD_CUTOFF adds the snapshots the labels pair with (a full rebuild, a snapshot a day, takes 6 minutes).
    """
    root = tmp_path_factory.mktemp("gold")
    cfg = lake_config(config, root, f"clean.max_late_days={GOLD_DAYS}", f"featurize.label_horizon_days={GOLD_HORIZON}")
    generate_dataset(
        spark,
        dataclasses.replace(
            cfg.generator, events=60_000, users=4_000, products=600, start_date=GOLD_START, days=GOLD_DAYS, output=str(root / "landing")
        ),
    )
    ingest_events(spark, cfg, GOLD_LAST_DAY, [str(p) for p in sorted(Path(root / "landing").glob("event_date=*"))])
    clean_events(spark, cfg, GOLD_LAST_DAY)
    featurize(spark, cfg, GOLD_LAST_DAY)
    featurize(spark, cfg, GOLD_CUTOFF)
    return cfg
