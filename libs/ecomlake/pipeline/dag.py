"""The daily pipeline's steps, declared once: which jobs run for a date, and in which order.

Everything else derives from :data:`STEPS`: the config's ``pipeline.steps`` (its default and its
validation), ``ecomlake pipeline``, the demo and the Airflow example DAG. Free of Spark, so the config and
a scheduler's DAG file can import it.

One rule for every step: it is skipped (not failed) exactly when its job raises
:class:`~ecomlake.errors.NotDueError`, which a job raises only where its input cannot exist yet for the
date by design (the conditions live in :mod:`ecomlake.pipeline.due`):

- propensity: no labels for a cut-off on or before D - ``featurize.label_horizon_days`` while the
  lake's first day (gold.sessions', as featurize counts it) is after that cut-off;
- sequences: the lake's first event day is after D's train days (no train, validation and test days yet);
- train-lstm: no sequences dataset on or before D while sequences is not due for D;
- score-lstm: no LSTM trained on or before D while sequences (hence train-lstm) is not due for D.

Anything else missing (a table, a snapshot, a slice, a dataset folder, a model where one could have been
trained) is an InputMissingError and fails the step.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    """A pipeline step: the job run for each date (``ecomlake <job> --date D``)."""

    job: str
    default: bool = True  # among pipeline.steps by default


STEPS: tuple[Step, ...] = (
    Step("ingest"),
    Step("clean"),
    Step("featurize"),
    Step("profile"),
    Step("recommend"),
    Step("propensity"),
    Step("sequences", default=False),
    Step("train-lstm", default=False),
    Step("score-lstm", default=False),
)
STEP_NAMES: tuple[str, ...] = tuple(s.job for s in STEPS)
DEFAULT_STEPS: tuple[str, ...] = tuple(s.job for s in STEPS if s.default)
