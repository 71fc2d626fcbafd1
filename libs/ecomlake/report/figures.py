"""The figures of a day's run report, read from the lake's tables with Spark and collected as small pandas frames.

Each section is read on its own and is None when its table does not exist or has nothing for the day
(the report then says which job writes it). Model sections use the latest run on or before the day.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from ecomlake import lake
from ecomlake.catalog import (
    ALS_METRICS,
    DAILY_KPIS,
    LSTM_METRICS,
    LSTM_SCORES,
    PROPENSITY_METRICS,
    PROPENSITY_SCORES,
    RECOMMENDATIONS,
    RUN_AUDIT,
    RUN_LEDGER,
    SEGMENT_TRANSITIONS,
    SEGMENTS,
    USER_SEGMENTS,
    Table,
)
from ecomlake.clean.day import Counts
from ecomlake.config import Config
from ecomlake.errors import InputMissingError

KPI_TREND_DAYS = 28
# The columns each section shows.
SEGMENT_COLUMNS = ["segment_name", "users", "share", "silhouette"]
TRANSITION_COLUMNS = ["from_segment", "to_segment", "users"]
ALS_COLUMNS = ["model", "k", "precision_at_k", "recall_at_k", "ndcg_at_k", "map_at_k", "coverage", "users_evaluated"]
PROPENSITY_COLUMNS = [
    "cutoff_date",
    "target",
    "model_type",
    "rows",
    "positive_rate",
    "mean_probability",
    "roc_auc",
    "pr_auc",
    "brier",
    "lift_top_decile",
]
LSTM_COLUMNS = ["model", "launcher", "test_rows", "next_event_accuracy", "next_event_macro_f1", "purchase_roc_auc", "churn_roc_auc", "train_seconds"]


@dataclass(frozen=True)
class DayFigures:
    """Everything the report shows for one day; a section is None when its table has nothing for the day."""

    date: dt.date
    lake_root: str
    clean_run_id: str | None  # the day's latest successful clean run (ops.run_audit)
    conservation: Counts | None  # its row conservation: rows in = kept + quarantined + duplicates + bot rows removed
    kpis: pd.DataFrame | None  # gold.daily_kpis, the KPI_TREND_DAYS days up to the date
    segments: pd.DataFrame | None  # ml.segments of the latest profile run: name, users, share
    transitions: pd.DataFrame | None  # gold.segment_transitions of that run
    recommend: pd.DataFrame | None  # ml.als_metrics of the latest recommend run: als and popularity rows
    propensity: pd.DataFrame | None  # ml.propensity_metrics, test split of the chosen candidates
    propensity_lift: pd.DataFrame | None  # their lift tables: target, decile, lift
    lstm: pd.DataFrame | None  # ml.lstm_metrics of the latest LSTM run: lstm and baseline rows
    ledger: pd.DataFrame | None  # ops.run_ledger rows of the date (every job run for it), oldest first

    @property
    def day_kpis(self) -> pd.Series[Any] | None:
        if self.kpis is None:
            return None
        day = self.kpis[self.kpis["kpi_date"] == self.date]
        return None if day.empty else day.iloc[0]


def day_figures(spark: SparkSession, config: Config, date: dt.date) -> DayFigures:
    """The day's figures; a day with neither a clean run nor KPIs is an InputMissingError (nothing to report)."""
    (clean_run_id, audit), kpis = conservation(spark, config, date), kpi_trend(spark, config, date)
    if audit is None and kpis is None:
        raise InputMissingError(
            f"nothing to report for {date}: no clean run in ops.run_audit and no gold.daily_kpis row for that day "
            f"in the lake at {config.lake.root} (run ecomlake pipeline --date {date})"
        )
    segments = _in_use(spark, config, USER_SEGMENTS, date)
    recommend = _in_use(spark, config, RECOMMENDATIONS, date)
    propensity = _in_use(spark, config, PROPENSITY_SCORES, date)
    lstm = _in_use(spark, config, LSTM_SCORES, date)
    chosen_test = F.col("is_chosen") & (F.col("split") == "test")
    return DayFigures(
        date=date,
        lake_root=config.lake.root,
        clean_run_id=clean_run_id,
        conservation=audit,
        kpis=kpis,
        segments=_rows(spark, config, SEGMENTS, segments, SEGMENT_COLUMNS, "users", same_day=True),
        transitions=_rows(spark, config, SEGMENT_TRANSITIONS, segments, TRANSITION_COLUMNS, "users", same_day=True),
        recommend=_rows(spark, config, ALS_METRICS, recommend, ALS_COLUMNS, "model"),
        propensity=_rows(spark, config, PROPENSITY_METRICS, propensity, PROPENSITY_COLUMNS, "target", where=chosen_test),
        propensity_lift=_propensity_lift(spark, config, propensity, chosen_test),
        lstm=_rows(spark, config, LSTM_METRICS, lstm, LSTM_COLUMNS, "model"),
        ledger=_ledger(spark, config, date),
    )


def conservation(spark: SparkSession, config: Config, date: dt.date) -> tuple[str | None, Counts | None]:
    """The run id and row counts of the day's latest successful clean run; (None, None) without one."""
    audit = _read(spark, config, RUN_AUDIT)
    row = audit.where((F.col("run_date") == date) & (F.col("status") == "succeeded")).orderBy(F.col("started_at").desc()).first()
    if row is None:
        return None, None
    return row.run_id, Counts(
        rows_in=row.rows_in,
        kept=row.rows_kept,
        quarantined=row.rows_quarantined,
        duplicates_exact=row.duplicates_exact,
        duplicates_near=row.duplicates_near,
        duplicates_redelivered=row.duplicates_redelivered or 0,
        bot_rows_removed=row.bot_rows_removed,
        bot_rows_flagged=row.bot_rows_flagged,
        quarantined_by_reason=dict(sorted((row.quarantined_by_reason or {}).items(), key=lambda kv: -kv[1])),
    )


def kpi_trend(spark: SparkSession, config: Config, date: dt.date) -> pd.DataFrame | None:
    kpis = _read(spark, config, DAILY_KPIS)
    first = date - dt.timedelta(days=KPI_TREND_DAYS - 1)
    trend = kpis.where(F.col("kpi_date").between(first, date)).orderBy("kpi_date").toPandas()
    return trend if (trend["kpi_date"] == date).any() else None


def _read(spark: SparkSession, config: Config, table: Table) -> DataFrame:
    """The table, or no rows when it does not exist yet: each section then reports which job writes it."""
    return lake.read(spark, config, table, missing="empty")


def _in_use(spark: SparkSession, config: Config, output: Table, date: dt.date) -> tuple[dt.date, str] | None:
    """(run_date, model_version) of the model whose output the table holds for its latest run date on or before the date.

    A model's metrics are shown for the model in use: a score-only run keeps the training run's version.
    """
    df = _read(spark, config, output)
    latest = df.where(F.col("run_date") <= date).select("run_date", "model_version").orderBy(F.col("run_date").desc()).first()
    return None if latest is None else (latest.run_date, latest.model_version)


def _rows(
    spark: SparkSession,
    config: Config,
    table: Table,
    in_use: tuple[dt.date, str] | None,
    columns: list[str],
    order: str,
    same_day: bool = False,
    where: Column | None = None,
) -> pd.DataFrame | None:
    """The table's rows of the model version in use (and of its run date, with same_day), as pandas; None when there are none."""
    df = _read(spark, config, table)
    if in_use is None:
        return None
    run_date, version = in_use
    df = df.where(F.col("run_date") == run_date) if same_day else df
    df = df.where(F.col("model_version") == version) if "model_version" in df.columns else df
    df = df.where(where) if where is not None else df
    result = df.select("run_date", *columns).toPandas()
    if result.empty:
        return None
    return result.sort_values(order, ascending=order != "users", kind="stable").reset_index(drop=True)


def _propensity_lift(spark: SparkSession, config: Config, in_use: tuple[dt.date, str] | None, where: Column) -> pd.DataFrame | None:
    df = _read(spark, config, PROPENSITY_METRICS)
    if in_use is None:
        return None
    chosen = df.where((F.col("model_version") == in_use[1]) & where)
    lift = chosen.select("target", F.explode("lift").alias("d")).select("target", "d.decile", "d.positive_rate", "d.lift")
    result = lift.orderBy("target", "decile").toPandas()
    return None if result.empty else result


def _ledger(spark: SparkSession, config: Config, date: dt.date) -> pd.DataFrame | None:
    df = _read(spark, config, RUN_LEDGER)
    rows = df.where(F.col("run_date") == date).orderBy("started_at").toPandas()
    return None if rows.empty else rows
