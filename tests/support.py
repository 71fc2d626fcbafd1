"""What the tests share besides fixtures: the repository's path, configs for lakes of their own, CLI keys, table copies, jobs.

Fixtures live in the conftest files; everything a test module imports lives here.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from ecomlake import jobs
from ecomlake.catalog import Table
from ecomlake.config import Config, load_config
from ecomlake.featurize.job import FeaturizeResult
from ecomlake.ingest.layouts import load_layout
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


def copy_lake(source: Config, root: Path, *overrides: str) -> Config:
    """A copy of a whole lake at ``root``: a lake of its own for a test that writes. Its config is the test config with
    ``overrides`` (a config does not keep the overrides it was made with: pass the source's again)."""
    shutil.copytree(source.lake.root, root)
    return lake_config(source, root, *overrides)


def sorted_rows(df: DataFrame) -> list[tuple[Any, ...]]:
    """A DataFrame's rows as tuples in a fixed order, to compare two tables or two versions of one."""
    return sorted((tuple(r) for r in df.collect()), key=repr)


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


# ---- a shop's daily deliveries (tests/spark/conftest.py: daily_lake) -------------------------------------------
# Generated events of two days (faults injected, no malformed lines, a few undeclared event types) and the real
# REES46 sample spread over both, in the shop's own layout: REES46's under another name, mapping the site's
# wishlist events onto a declared extra type. Labels look one day ahead, so the first day gets its labels.
DELIVERY_DAYS = (dt.date(2019, 10, 1), dt.date(2019, 10, 2))
SHOP_LAYOUT = load_layout("rees46").text.replace("name: rees46", "name: shop") + "  wishlist: wishlist\n"
EXTRA_TYPE = "events.extra_types.wishlist=2.0"
DELIVERY_HORIZON = "featurize.label_horizon_days=1"
DELIVERY_GENERATOR = (
    "generator.events=3000", "generator.users=150", "generator.products=200", f"generator.start_date={DELIVERY_DAYS[0]}",
    f"generator.days={len(DELIVERY_DAYS)}", "generator.faults.malformed=0", "generator.faults.unknown_event_type=0.03",
    "generator.bot_user_rate=0.02",
)  # fmt: skip


@dataclass(frozen=True)
class DailyLake:
    """The shop's days delivered a folder a day (tests/spark/conftest.py: daily_lake); read-only, copy_lake it to write."""

    cfg: Config  # clean and featurize: no layout, they read it from bronze.layouts
    layout_file: Path  # ingest's (ingest.layout)
    history: Path  # every line in one file, as a month's download
    rows_per_day: dict[dt.date, int]  # lines per event day (day_of)
    featurized: tuple[FeaturizeResult, ...]  # each day's featurize
    snapshots: dict[dt.date, list[tuple[Any, ...]]]  # user_features as of each day, as that day's featurize left them

    @property
    def redelivered_rows(self) -> int:
        """Day 1's lines, delivered again in day 2's folder."""
        return self.rows_per_day[DELIVERY_DAYS[0]]


def day_of(line: list[str]) -> dt.date:
    """The event day a line belongs to, as backfill assigns it: its UTC day, clamped to DELIVERY_DAYS (unparseable: the first)."""
    try:
        day = dt.datetime.strptime(line[0], "%Y-%m-%d %H:%M:%S UTC").date()
    except (ValueError, IndexError):
        return DELIVERY_DAYS[0]
    return min(max(day, DELIVERY_DAYS[0]), DELIVERY_DAYS[-1])


def write_csv(path: Path, header: list[str], lines: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(lines)
    return path


def secret_forms(secret: bytes) -> list[str]:
    """How a key could show in a plan or a log: as text, hex, base64, and the HMAC's two pads (key XOR 0x36, 0x5c) likewise."""
    padded = secret.ljust(64, b"\0")
    forms = [secret, bytes(b ^ 0x36 for b in padded), bytes(b ^ 0x5C for b in padded)]
    return [
        text
        for b in forms
        for text in (b.decode("latin-1"), b.hex(), b.hex().upper(), base64.b64encode(b).decode(), base64.b64encode(b[:24]).decode()[:32])
    ]
