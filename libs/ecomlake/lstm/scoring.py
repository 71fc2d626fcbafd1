"""Score users with a trained LSTM inside Spark: each user's latest sequence through the model in mapInPandas.

The sequences are built by the same transforms as the training data (``ecomlake.sequences.build``),
with the vocabularies saved beside the dataset the model was trained on, so an id means the same
thing at scoring time. The checkpoint travels to the executors as a broadcast of its bytes: no
shared filesystem is needed, each Python worker builds the model once per partition, and the bytes loaded
are the bytes whose sha256 ``score-lstm`` checked against ml.model_runs.

Event types are numbered by the vocabulary of the model's dataset (its manifest's ``event_types``). The
next-event probabilities of the four canonical types and exit have columns of their own; those of a site's
extra event types (``events.extra_types``, classes of the model's) go to the ``p_next_extra`` map, by type.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence

import pandas as pd
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from ecomlake.catalog import LSTM_SCORES
from ecomlake.config import Config
from ecomlake.sequences import build
from ecomlake.vocabulary import EXIT, NEXT_EVENT_CLASSES

SCORE_COLUMNS = ("user_id", "anchor_time", "length", *build.STEP_COLUMNS)


def latest_sequences(
    silver: DataFrame,
    items: DataFrame,
    categories: DataFrame,
    config: Config,
    run_date: dt.date,
    length: int,
    unit: str,
    event_types: Sequence[str] | None = None,
) -> DataFrame:
    """One row per user with events in the lookback days up to ``run_date``: their newest sequence, padded.

    ``items`` and ``categories`` are the vocabularies saved with the dataset the model was trained on, and
    ``event_types`` its event vocabulary (the manifest's ``event_types``; default ``config.events.types``).
    An event of another type in the lookback days is a DataQualityError: the model has no id for it.
    Only each user's last ``length + 1`` events are sessionised and windowed (the extra one gives the
    oldest event its real time gap), instead of the whole lookback.
    """
    sc = config.sequences
    types = tuple(event_types) if event_types is not None else config.events.types
    first_anchor = run_date - dt.timedelta(days=sc.lookback_days - 1)
    events = build.context_events(silver, first_anchor, run_date, sc.lookback_days, sc.include_bots)
    build.check_event_types(
        events,
        types,
        f"score-lstm {run_date}: the silver events scored",
        "the model knows only these: declare them in events.extra_types, then rebuild the sequences and retrain (ecomlake sequences, train-lstm)",
    )
    newest_first = Window.partitionBy("user_id").orderBy(*[F.col(c).desc() for c in build.EVENT_ORDER])
    recent = events.withColumn("_n", F.row_number().over(newest_first)).where(F.col("_n") <= length + 1).drop("_n")
    fc = config.featurize
    return (
        build.steps(build.with_vocabulary_ids(recent, items, categories), unit, length, fc.session_gap_minutes, fc.dwell_cap_seconds, types)
        .where(F.col("is_user_last") & (F.col("anchor_date") >= F.lit(first_anchor)))
        .transform(build.padded, length)
        .select(*SCORE_COLUMNS)
    )


def score_sequences(sequences: DataFrame, checkpoint: bytes, model_version: str, run_date: dt.date) -> DataFrame:
    """gold.lstm_scores rows: ``sequences`` (``latest_sequences``) through the checkpoint's model.

    The model's classes come from the checkpoint: each canonical class and exit fills its column, the
    extra event types the ``p_next_extra`` map (empty for a model without them).
    """
    broadcast = sequences.sparkSession.sparkContext.broadcast(checkpoint)

    def score(batches: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import torch

        from ecomlake.lstm.model import load_checkpoint, model_from_checkpoint, predict

        torch.set_num_threads(1)  # one Python worker per core already
        model = model_from_checkpoint(load_checkpoint(broadcast.value))  # weights_only: tensors and plain data, nothing else unpickled
        classes = model.next_event_classes
        extras = [(i, c) for i, c in enumerate(classes) if c not in NEXT_EVENT_CLASSES]
        for batch in batches:
            p = predict(model, batch)
            probs = p["next_event_probs"].astype("float64")
            yield pd.DataFrame(
                {
                    "user_id": batch["user_id"],
                    "last_event_time": batch["anchor_time"],
                    "sequence_events": batch["length"],
                    **{_probability_column(c): probs[:, classes.index(c)] for c in NEXT_EVENT_CLASSES},
                    "p_next_extra": [{c: float(row[i]) for i, c in extras} for row in probs],
                    "predicted_next_event": [classes[i] for i in probs.argmax(axis=1)],
                    "purchase_probability": p["purchase_probability"].astype("float64"),
                    "churn_probability": p["churn_probability"].astype("float64"),
                }
            )

    output = ", ".join(
        [
            "user_id long, last_event_time timestamp, sequence_events int",
            *[f"{_probability_column(c)} double" for c in NEXT_EVENT_CLASSES],
            "p_next_extra map<string, double>, predicted_next_event string, purchase_probability double, churn_probability double",
        ]
    )
    scored = sequences.mapInPandas(score, output)
    return scored.select(*[F.col(c) for c in scored.columns], F.lit(run_date).alias("run_date"), F.lit(model_version).alias("model_version")).select(
        *LSTM_SCORES.schema().names
    )


def _probability_column(next_event: str) -> str:
    return "p_exit" if next_event == EXIT else f"p_next_{next_event}"
