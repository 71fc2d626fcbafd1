"""The pipeline's steps: each job's library function for a date, what it read and wrote, and when it may be skipped.

A step is skipped (not failed) only when its input cannot exist yet for that date by design: the
propensity models need labels, which need ``featurize.label_horizon_days`` of later events; the
sequences need train, validation and test days; the LSTM jobs need the dataset and the model those
write. Any other error fails the step.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

from pyspark.sql import SparkSession

from ecomlake.config import PIPELINE_STEPS, Config
from ecomlake.errors import DataQualityError, InputMissingError


@dataclasses.dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[SparkSession, Config, dt.date], tuple[int | None, int | None]]  # -> (rows in, rows out)
    skip_on: tuple[type[Exception], ...] = ()  # errors meaning "not possible yet for this date"


def _ingest(spark: SparkSession, config: Config, day: dt.date) -> tuple[int | None, int | None]:
    from ecomlake.ingest.job import ingest_events

    r = ingest_events(spark, config, day)
    return r.rows, r.rows


def _clean(spark: SparkSession, config: Config, day: dt.date) -> tuple[int | None, int | None]:
    from ecomlake.clean.job import clean_events

    c = clean_events(spark, config, day)
    return c.rows_in, c.kept


def _featurize(spark: SparkSession, config: Config, day: dt.date) -> tuple[int | None, int | None]:
    from ecomlake.featurize.job import featurize

    return None, sum(featurize(spark, config, day).rows.values())


def _profile(spark: SparkSession, config: Config, day: dt.date) -> tuple[int | None, int | None]:
    from ecomlake.profile.job import profile

    r = profile(spark, config, day)
    return r.users, r.users


def _recommend(spark: SparkSession, config: Config, day: dt.date) -> tuple[int | None, int | None]:
    from ecomlake.recommend.job import recommend

    r = recommend(spark, config, day)
    return r.interactions, sum(r.rows.values())


def _propensity(spark: SparkSession, config: Config, day: dt.date) -> tuple[int | None, int | None]:
    from ecomlake.propensity.job import train

    r = train(spark, config, day)
    return None, sum(t.scored_users for t in r.targets)


def _sequences(spark: SparkSession, config: Config, day: dt.date) -> tuple[int | None, int | None]:
    from ecomlake.sequences.job import build_sequences

    r = build_sequences(spark, config, day)
    return None, sum(s["rows"] for s in r.manifest["splits"].values())


def _train_lstm(spark: SparkSession, config: Config, day: dt.date) -> tuple[int | None, int | None]:
    from ecomlake.lstm.job import train_lstm

    r = train_lstm(spark, config, day)
    return sum(h["train_rows"] for h in r.training["history"]), None


def _score_lstm(spark: SparkSession, config: Config, day: dt.date) -> tuple[int | None, int | None]:
    from ecomlake.lstm.job import score_lstm

    return None, score_lstm(spark, config, day).users


STEPS: tuple[Step, ...] = (
    Step("ingest", _ingest),
    Step("clean", _clean),
    Step("featurize", _featurize),
    Step("profile", _profile),
    Step("recommend", _recommend),
    Step("propensity", _propensity, (InputMissingError,)),
    Step("sequences", _sequences, (DataQualityError,)),
    Step("train-lstm", _train_lstm, (InputMissingError,)),
    Step("score-lstm", _score_lstm, (InputMissingError,)),
)
assert tuple(s.name for s in STEPS) == PIPELINE_STEPS, "ecomlake.config.PIPELINE_STEPS names these steps, in this order"
