"""When a date's input is due: the "not due yet" conditions, in one place.

Each function returns why an input cannot exist yet for the date by design (the reason a job's
:class:`~ecomlake.errors.NotDueError` gives, and the pipeline's skip records), or None when it is due, so
that its absence is a real failure (InputMissingError). Both count from the lake's first day:

- labels: featurize writes the labels of cut-off D - H for D, from the first session date on, so none
  exists for a cut-off on or before D - H while the lake began after D - H;
- sequences: a dataset needs train days before its validation and test days, so none can be built (nor
  a model trained on one) while the lake's first event day is after the train days of D.

:func:`latest_after_sequences` is the lookup of the jobs downstream of sequences (train-lstm, score-lstm).
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from ecomlake import lake
from ecomlake.catalog import SESSIONS, SILVER_EVENTS
from ecomlake.config import Config
from ecomlake.errors import InputMissingError, NotDueError
from ecomlake.ml import registry
from ecomlake.sequences.build import split_dates


def labels(spark: SparkSession, config: Config, run_date: dt.date) -> str | None:
    """Why gold.labels can have no cut-off on or before run_date - featurize.label_horizon_days yet, or None."""
    horizon = config.featurize.label_horizon_days
    # The first day as featurize counts it for labels (its first session date), so the two agree on what is due.
    first: dt.date | None = lake.read(spark, config, SESSIONS, missing="empty").agg(F.min("session_date")).collect()[0][0]
    if first is None or run_date - dt.timedelta(days=horizon) >= first:
        return None
    return (
        f"the lake's first day is {first} and labels need {horizon} days of events after their cut-off; "
        f"the first ones (cut-off {first}) come with `ecomlake featurize --date {first + dt.timedelta(days=horizon)}`"
    )


def sequences(spark: SparkSession, config: Config, run_date: dt.date) -> str | None:
    """Why no sequences dataset can be built for the date yet (its train days end before the lake's first event day), or None.

    A date before the lake's first day is due: its events are missing, not yet to come.
    """
    sc = config.sequences
    last_train, _ = split_dates(run_date, sc.validation_days, sc.test_days)
    first: dt.date | None = lake.read(spark, config, SILVER_EVENTS, missing="empty").agg(F.min("event_date")).collect()[0][0]
    if first is None or not last_train < first <= run_date:
        return None
    return (
        f"its train days end on {last_train}, before the lake's first event day {first}; the first date with train, validation "
        f"and test days (sequences.validation_days={sc.validation_days}, test_days={sc.test_days}) is "
        f"{first + dt.timedelta(days=sc.validation_days + sc.test_days)}"
    )


def latest_after_sequences(
    spark: SparkSession, config: Config, model: str, run_date: dt.date, *, trained_by: str, job: str, what: str
) -> registry.ModelRun:
    """The newest registry run of ``model`` (by ``trained_by``) on or before the date, for ``job``; ``what`` names it in messages.

    NotDueError when none can exist yet because sequences was not due; InputMissingError when one should exist.
    """
    try:
        return registry.latest_run(spark, config, model, run_date, trained_by=trained_by)
    except InputMissingError as missing:
        reason = sequences(spark, config, run_date)
        if reason is None:
            raise  # sequences was due: its dataset, and a model trained on it, should be there
        raise NotDueError(f"{job} {run_date}: not due yet, no {what} can exist on or before {run_date}: {reason}") from missing
