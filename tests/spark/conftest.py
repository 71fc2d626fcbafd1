"""Fixtures shared by the model and analyst tests, each built once per test run.

gold_lake: generated days through generate, ingest, clean and featurize, each run through the job runner
(so its ops.run_ledger holds their records). profile_runs, first_run, propensity_run and lstm_trained: the
model jobs, each in a lake of its own holding copies of its inputs (so gold_lake stays read-only).
daily_lake: a shop's two days delivered a folder a day through its own layout, ingested, cleaned and featurized
one day at a time (tests.support.DailyLake): what the delivery and featurize tests compare backfills and rebuilds with.
model_lake: one lake with every table but the LSTM's (the gold lake's, the profile, recommend and
propensity tables): what the run report, the analysts' notebooks and the example queries read.
lstm_lake: the LSTM's lake, scored: the LSTM's tables, for their own report, notebook and query tests.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import subprocess
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession

from ecomlake import lake
from ecomlake.catalog import (
    ALS_METRICS,
    BRONZE_EVENTS,
    DAILY_KPIS,
    INTERACTIONS,
    ITEM_FEATURES,
    LABELS,
    MODEL_RUNS,
    PROPENSITY_METRICS,
    PROPENSITY_SCORES,
    QUARANTINE,
    RECOMMENDATIONS,
    RUN_AUDIT,
    RUN_LEDGER,
    SEGMENT_TRANSITIONS,
    SEGMENTS,
    SESSIONS,
    SILVER_EVENTS,
    SIMILAR_ITEMS,
    USER_FEATURES,
    USER_ITEM_DAILY,
    USER_SEGMENTS,
)
from ecomlake.config import Config
from ecomlake.datasets import rees46_oct_head
from ecomlake.featurize import job as featurize_job
from ecomlake.job import Context
from ecomlake.lstm import score_job, train_job
from ecomlake.profile import job as profile_job
from ecomlake.propensity import job as propensity_job
from ecomlake.recommend import job as recommend_job
from ecomlake.sequences import job as sequences_job
from tests.support import (
    DELIVERY_DAYS,
    DELIVERY_GENERATOR,
    DELIVERY_HORIZON,
    EXTRA_TYPE,
    GOLD_CUTOFF,
    GOLD_DAYS,
    GOLD_HORIZON,
    GOLD_LAST_DAY,
    GOLD_START,
    PROPENSITY_SMALL,
    REPO,
    SHOP_LAYOUT,
    SMALL_LSTM,
    DailyLake,
    copy_tables,
    day_of,
    lake_config,
    run_job,
    sorted_rows,
    write_csv,
)

GOLD_TABLES = (SESSIONS, USER_ITEM_DAILY, DAILY_KPIS, LABELS, USER_FEATURES, ITEM_FEATURES, INTERACTIONS)


@pytest.fixture(scope="session")
def gold_lake(spark: SparkSession, config: Config, tmp_path_factory: pytest.TempPathFactory) -> Config:
    """A lake of 28 generated days (about 60k events, 4,000 users) through generate, ingest, clean and featurize.

    The files are ingested as one delivery on the last day (clean keeps them all as late arrivals), which
    gives the same silver as day-by-day runs for far less fixed cost. Featurizing the last day then
    writes every daily slice, the snapshots as of that day and the labels of GOLD_CUTOFF; featurizing
    GOLD_CUTOFF adds the snapshots the labels pair with (a full rebuild, a snapshot a day, takes 6 minutes).
    """
    root = tmp_path_factory.mktemp("gold")
    generator = ("generator.events=60000", "generator.users=4000", "generator.products=600", f"generator.start_date={GOLD_START}")
    cfg = lake_config(
        config, root, f"clean.max_late_days={GOLD_DAYS}", f"featurize.label_horizon_days={GOLD_HORIZON}", *generator, f"generator.days={GOLD_DAYS}"
    )
    landing = run_job(spark, cfg, "generate").output
    run_job(spark, cfg, "ingest", date=GOLD_LAST_DAY, paths=(f"{landing}/event_date=*",))
    run_job(spark, cfg, "clean", date=GOLD_LAST_DAY)
    run_job(spark, cfg, "featurize", date=GOLD_LAST_DAY)
    run_job(spark, cfg, "featurize", date=GOLD_CUTOFF)
    return cfg


@pytest.fixture(scope="session")
def daily_lake(spark: SparkSession, config: Config, tmp_path_factory: pytest.TempPathFactory) -> DailyLake:
    """The shop's days (tests.support DELIVERY_*) in a folder per event day, day 1's file again in day 2's folder (a
    re-sent export); each day ingested with the layout file, then cleaned and featurized without it, as a scheduler runs them."""
    root = tmp_path_factory.mktemp("deliveries")
    layout_file = root / "shop.yaml"
    layout_file.write_text(SHOP_LAYOUT)
    header, lines = _shop_lines(spark, lake_config(config, root / "gen", *DELIVERY_GENERATOR, f"generator.output={root / 'generated'}"))
    history = write_csv(root / "history" / "2019-Oct.csv", header, lines)
    days = {d: [ln for ln in lines if day_of(ln) == d] for d in DELIVERY_DAYS}
    folders = {d: write_csv(root / "daily" / f"event_date={d}" / "events.csv", header, days[d]).parent for d in DELIVERY_DAYS}
    write_csv(folders[DELIVERY_DAYS[1]] / "resent-events.csv", header, days[DELIVERY_DAYS[0]])
    cfg = lake_config(config, root / "lake", EXTRA_TYPE, DELIVERY_HORIZON)
    ingest_cfg = lake_config(config, root / "lake", EXTRA_TYPE, DELIVERY_HORIZON, f"ingest.layout={layout_file}")
    featurized, snapshots = [], {}
    for d in DELIVERY_DAYS:
        run_job(spark, ingest_cfg, "ingest", date=d, paths=(str(folders[d]),))
        run_job(spark, cfg, "clean", date=d)
        featurized.append(run_job(spark, cfg, "featurize", date=d))
        snapshots[d] = sorted_rows(lake.read(spark, cfg, USER_FEATURES, {"as_of_date": d}))
    rows = {d: len(days[d]) for d in DELIVERY_DAYS}
    return DailyLake(cfg, layout_file, history, rows, tuple(featurized), snapshots)


def _shop_lines(spark: SparkSession, cfg: Config) -> tuple[list[str], list[list[str]]]:
    """Generated events and the real REES46 sample, its later half moved to the next day: the header and the lines, in file order."""
    landing = run_job(spark, cfg, "generate").output
    header: list[str] = []
    lines: list[list[str]] = []
    for path in sorted(Path(landing.removeprefix("file:")).glob("event_date=*/*.csv")):
        with path.open(newline="") as f:
            reader = csv.reader(f)
            header = next(reader)
            lines += list(reader)
    with rees46_oct_head().open(newline="") as f:
        reader = csv.reader(f)
        assert next(reader) == header
        for row in reader:
            when = dt.datetime.strptime(row[0], "%Y-%m-%d %H:%M:%S UTC")
            if when.hour * 60 + when.minute >= 85:  # 00:00-01:24 stays on day 1, 01:25-02:50 moves to day 2
                row[0] = (when + dt.timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S UTC")
            lines.append(row)
    return header, lines


@pytest.fixture(scope="session")
def analyst_python() -> str:
    """The python of the analysts' own environment (scripts/setup_analyst.sh: deltalake, DuckDB, notebooks; no Spark)."""
    return subprocess.run([str(REPO / "scripts" / "setup_analyst.sh")], capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture(scope="session")
def profile_lake(gold_lake: Config, config: Config, tmp_path_factory: pytest.TempPathFactory) -> Config:
    """The gold lake's user_features copied into a lake of its own: the profile tables and model runs stay here."""
    cfg = lake_config(config, tmp_path_factory.mktemp("profile"), f"featurize.label_horizon_days={GOLD_HORIZON}")
    copy_tables(gold_lake, cfg, USER_FEATURES)
    return cfg


@pytest.fixture(scope="session")
def profile_runs(spark: SparkSession, profile_lake: Config) -> dict[str, profile_job.ProfileResult]:
    """Train as of the cut-off, score the last day with that model, then train as of the last day."""
    ctx = Context(spark, profile_lake)
    results = {
        "cutoff": profile_job.run(ctx, profile_job.ProfileParams(GOLD_CUTOFF)),
        "scored": profile_job.run(ctx, profile_job.ProfileParams(GOLD_LAST_DAY, score_only=True)),
        "last": profile_job.run(ctx, profile_job.ProfileParams(GOLD_LAST_DAY)),
    }
    for label, r in results.items():
        print(f"\nprofile {label}:\n{r.summary()}")
    return results


@pytest.fixture(scope="session")
def rec_lake(gold_lake: Config, tmp_path_factory: pytest.TempPathFactory) -> Config:
    """A lake holding a copy of the generated gold.interactions (the recommend runs write their own tables, registry included)."""
    cfg = lake_config(gold_lake, tmp_path_factory.mktemp("recommend"), f"featurize.label_horizon_days={GOLD_HORIZON}")
    copy_tables(gold_lake, cfg, INTERACTIONS)
    return cfg


@pytest.fixture(scope="session")
def first_run(spark: SparkSession, rec_lake: Config) -> recommend_job.RecommendResult:
    return recommend_job.run(Context(spark, rec_lake), recommend_job.RecommendParams(GOLD_LAST_DAY))


@pytest.fixture(scope="session")
def propensity_lake(gold_lake: Config, tmp_path_factory: pytest.TempPathFactory) -> Config:
    """Copies of the propensity job's inputs (gold.labels, gold.user_features), small trees."""
    cfg = lake_config(gold_lake, tmp_path_factory.mktemp("propensity"), f"featurize.label_horizon_days={GOLD_HORIZON}", *PROPENSITY_SMALL)
    copy_tables(gold_lake, cfg, LABELS, USER_FEATURES)
    return cfg


@pytest.fixture(scope="session")
def propensity_run(spark: SparkSession, propensity_lake: Config) -> propensity_job.PropensityResult:
    """One training run for the last day: both targets, all three candidates."""
    return propensity_job.run(Context(spark, propensity_lake), propensity_job.PropensityParams(GOLD_LAST_DAY))


@pytest.fixture(scope="session")
def model_lake(
    spark: SparkSession,
    gold_lake: Config,
    profile_lake: Config,
    profile_runs: dict[str, profile_job.ProfileResult],
    rec_lake: Config,
    first_run: recommend_job.RecommendResult,
    propensity_lake: Config,
    propensity_run: propensity_job.PropensityResult,
    tmp_path_factory: pytest.TempPathFactory,
) -> Config:
    """Every table of the suite but the LSTM's, in one lake: what a day of the default pipeline writes.

    Dates: bronze, silver and the gold daily tables cover GOLD_START..GOLD_LAST_DAY (ingest and clean ran once, on
    the last day); segments are as of GOLD_CUTOFF and GOLD_LAST_DAY, recommendations and propensity scores as of
    GOLD_LAST_DAY. ml.model_runs holds the profile, recommend and propensity runs; ops.run_ledger the gold lake's jobs.
    """
    cfg = lake_config(gold_lake, tmp_path_factory.mktemp("models"), f"featurize.label_horizon_days={GOLD_HORIZON}")
    copy_tables(gold_lake, cfg, BRONZE_EVENTS, SILVER_EVENTS, QUARANTINE, RUN_AUDIT, RUN_LEDGER, *GOLD_TABLES)
    copy_tables(profile_lake, cfg, USER_SEGMENTS, SEGMENTS, SEGMENT_TRANSITIONS)
    copy_tables(rec_lake, cfg, RECOMMENDATIONS, SIMILAR_ITEMS, ALS_METRICS)
    copy_tables(propensity_lake, cfg, PROPENSITY_SCORES, PROPENSITY_METRICS)
    runs: list[DataFrame] = [lake.read(spark, source, MODEL_RUNS) for source in (profile_lake, rec_lake, propensity_lake)]
    lake.write(runs[0].unionByName(runs[1]).unionByName(runs[2]), cfg, MODEL_RUNS)
    return cfg


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
    copy_tables(gold_lake, cfg, SILVER_EVENTS, *GOLD_TABLES)
    ctx = Context(spark, cfg)
    dataset = sequences_job.run(ctx, sequences_job.SequencesParams(GOLD_CUTOFF))
    # The propensity baseline: trained on the labels of day 14 with the features as of day 14 (featurized
    # here), it scores the users as of day 21, whose labels the LSTM's test day has.
    featurize_job.run(ctx, featurize_job.FeaturizeParams(GOLD_CUTOFF - dt.timedelta(days=GOLD_HORIZON)))
    propensity_job.run(ctx, propensity_job.PropensityParams(GOLD_CUTOFF))
    runs = {}
    for launcher in ("horovod", "torch_distributor"):
        launcher_cfg = dataclasses.replace(cfg, lstm=dataclasses.replace(cfg.lstm, launcher=launcher))
        runs[launcher] = train_job.run(Context(spark, launcher_cfg), train_job.TrainParams(GOLD_CUTOFF))
        print(f"\n{launcher}: {runs[launcher].summary()}")
    return {"cfg": cfg, "dataset": dataset, "runs": runs}


@pytest.fixture(scope="session")
def lstm_lake(spark: SparkSession, lstm_trained: dict[str, object]) -> Config:
    """The LSTM's lake with gold.lstm_scores of GOLD_CUTOFF: every LSTM table, beside the gold tables and the churn baseline it reads."""
    cfg: Config = lstm_trained["cfg"]  # type: ignore[assignment]
    score_job.run(Context(spark, cfg), score_job.ScoreParams(GOLD_CUTOFF))
    return cfg
