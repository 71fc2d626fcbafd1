"""Fixtures shared by the model and analyst tests, each built once per test run.

gold_lake: generated days through ingest, clean and featurize. profile_runs, first_run and lstm_trained:
the model jobs, each in a lake of its own holding copies of its inputs (so gold_lake stays read-only).
model_lake: the LSTM's lake with the profile and recommend tables copied in and the LSTM scored: every
table a day of the suite writes, for the analysts' notebooks, the run report and the example queries.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import subprocess
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from ecomlake import lake
from ecomlake.clean.job import clean_events
from ecomlake.config import Config
from ecomlake.featurize.job import featurize
from ecomlake.generate.dataset import generate_dataset
from ecomlake.ingest.job import ingest_events
from ecomlake.lstm.job import metrics_table, score_lstm, train_lstm
from ecomlake.profile.job import ProfileResult, profile, summary
from ecomlake.propensity.job import train as train_propensity
from ecomlake.recommend.job import RecommendResult, recommend
from ecomlake.sequences.job import build_sequences
from tests.conftest import REPO, lake_config

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


@pytest.fixture(scope="session")
def analyst_python() -> str:
    """The python of the analysts' own environment (scripts/setup_analyst.sh: deltalake, DuckDB, notebooks; no Spark)."""
    return subprocess.run([str(REPO / "scripts" / "setup_analyst.sh")], capture_output=True, text=True, check=True).stdout.strip()


def copy_tables(source: Config, target: Config, *tables: lake.Table) -> None:
    for table in tables:
        shutil.copytree(table.path(source.lake), table.path(target.lake))


@pytest.fixture(scope="session")
def profile_lake(gold_lake: Config, config: Config, tmp_path_factory: pytest.TempPathFactory) -> Config:
    """The gold lake's user_features copied into a lake of its own: the profile tables and model runs stay here."""
    cfg = lake_config(config, tmp_path_factory.mktemp("profile"), "featurize.label_horizon_days=7")
    copy_tables(gold_lake, cfg, lake.USER_FEATURES)
    return cfg


@pytest.fixture(scope="session")
def profile_runs(spark: SparkSession, profile_lake: Config) -> dict[str, ProfileResult]:
    """Train as of the cut-off, score the last day with that model, then train as of the last day."""
    results = {
        "cutoff": profile(spark, profile_lake, GOLD_CUTOFF),
        "scored": profile(spark, profile_lake, GOLD_LAST_DAY, score_only=True),
        "last": profile(spark, profile_lake, GOLD_LAST_DAY),
    }
    for label, r in results.items():
        print(f"\nprofile {label} {r.run_date} ({r.model_version}, {r.seconds:.1f} s):\n{summary(r)}")
    return results


@pytest.fixture(scope="session")
def rec_lake(gold_lake: Config, tmp_path_factory: pytest.TempPathFactory) -> Config:
    """A lake holding a copy of the generated gold.interactions (the recommend runs write their own tables, registry included)."""
    cfg = lake_config(gold_lake, tmp_path_factory.mktemp("recommend"), "featurize.label_horizon_days=7")
    copy_tables(gold_lake, cfg, lake.INTERACTIONS)
    return cfg


@pytest.fixture(scope="session")
def first_run(spark: SparkSession, rec_lake: Config) -> RecommendResult:
    return recommend(spark, rec_lake, GOLD_LAST_DAY)


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


@pytest.fixture(scope="session")
def lstm_trained(spark: SparkSession, gold_lake: Config, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """sequences for the cut-off day, the MLlib churn baseline, then train-lstm with Horovod and with TorchDistributor (2 processes each).

    The dataset is built for the labels' cut-off day, so the test day has churn labels and the MLlib propensity
    model (logistic regression only, to stay quick) scores the same users: the propensity baseline row exists.
    """
    cfg = lake_config(
        gold_lake,
        tmp_path_factory.mktemp("lstm"),
        f"featurize.label_horizon_days={GOLD_HORIZON}",
        "propensity.models=[logistic_regression]",
        "propensity.targets=[churned]",
        *SMALL_LSTM,
    )
    gold_tables = (lake.SESSIONS, lake.USER_ITEM_DAILY, lake.DAILY_KPIS, lake.LABELS, lake.USER_FEATURES, lake.ITEM_FEATURES, lake.INTERACTIONS)
    copy_tables(gold_lake, cfg, lake.SILVER_EVENTS, *gold_tables)
    dataset = build_sequences(spark, cfg, GOLD_CUTOFF)
    # The propensity baseline: trained on the labels of day 14 with the features as of day 14 (featurized
    # here), it scores the users as of day 21, whose labels the LSTM's test day has.
    featurize(spark, cfg, GOLD_CUTOFF - dt.timedelta(days=GOLD_HORIZON))
    train_propensity(spark, cfg, GOLD_CUTOFF)
    runs = {}
    for launcher in ("horovod", "torch_distributor"):
        launcher_cfg = dataclasses.replace(cfg, lstm=dataclasses.replace(cfg.lstm, launcher=launcher))
        runs[launcher] = train_lstm(spark, launcher_cfg, GOLD_CUTOFF)
        print(f"\n{launcher}: {runs[launcher].training['history']}\n{metrics_table(runs[launcher])}")
    return {"cfg": cfg, "dataset": dataset, "runs": runs}


@pytest.fixture(scope="session")
def model_lake(
    spark: SparkSession,
    gold_lake: Config,
    profile_lake: Config,
    profile_runs: dict[str, ProfileResult],
    rec_lake: Config,
    first_run: RecommendResult,
    lstm_trained: dict[str, object],
) -> Config:
    """Every table of the suite in one lake: the LSTM's, plus the profile and recommend tables and the clean run's audit and quarantine.

    Dates: silver and the gold daily tables cover GOLD_START..GOLD_LAST_DAY (clean ran once, on the last day);
    segments are as of GOLD_CUTOFF and GOLD_LAST_DAY, recommendations as of GOLD_LAST_DAY, propensity and the
    LSTM as of GOLD_CUTOFF (the propensity scores and the LSTM scores of that day have labels in gold.labels).
    ml.model_runs holds the LSTM lake's runs only (propensity and lstm).
    """
    cfg: Config = lstm_trained["cfg"]  # type: ignore[assignment]
    copy_tables(gold_lake, cfg, lake.QUARANTINE, lake.RUN_AUDIT)
    copy_tables(profile_lake, cfg, lake.USER_SEGMENTS, lake.SEGMENTS, lake.SEGMENT_TRANSITIONS)
    copy_tables(rec_lake, cfg, lake.RECOMMENDATIONS, lake.SIMILAR_ITEMS, lake.ALS_METRICS)
    score_lstm(spark, cfg, GOLD_CUTOFF)
    return cfg
