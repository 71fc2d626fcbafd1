"""The daily pipeline's steps, declared once: which jobs run for a date, in which order, and when a step may be skipped.

Everything else derives from :data:`STEPS`: the config's ``pipeline.steps`` (its default and its
validation), ``ecomlake pipeline``, the demo and the Airflow example DAG. Free of Spark, so the config and
a scheduler's DAG file can import it.

A step is skipped (not failed) only when its input cannot exist yet for the date by design: the
propensity models need labels, which need ``featurize.label_horizon_days`` of later events; the
sequences need train, validation and test days; the LSTM jobs need the dataset and the model those
write. Any other error fails the step.
"""

from __future__ import annotations

from dataclasses import dataclass

from ecomlake.errors import DataQualityError, EcomlakeError, InputMissingError


@dataclass(frozen=True)
class Step:
    """A pipeline step: the job run for each date (``ecomlake <job> --date D``)."""

    job: str
    default: bool = True  # among pipeline.steps by default
    skip_on: tuple[type[EcomlakeError], ...] = ()  # errors meaning "not possible yet for this date"


STEPS: tuple[Step, ...] = (
    Step("ingest"),
    Step("clean"),
    Step("featurize"),
    Step("profile"),
    Step("recommend"),
    Step("propensity", skip_on=(InputMissingError,)),
    Step("sequences", default=False, skip_on=(DataQualityError,)),
    Step("train-lstm", default=False, skip_on=(InputMissingError,)),
    Step("score-lstm", default=False, skip_on=(InputMissingError,)),
)
STEP_NAMES: tuple[str, ...] = tuple(s.job for s in STEPS)
DEFAULT_STEPS: tuple[str, ...] = tuple(s.job for s in STEPS if s.default)
