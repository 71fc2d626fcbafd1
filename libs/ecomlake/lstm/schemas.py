"""The LSTM's tables: per-user scores (gold.lstm_scores) and test metrics beside the baselines (ml.lstm_metrics)."""

from __future__ import annotations

from pyspark.sql import types as T

from ecomlake.schema import Field, TableSchema

LONG, INT, DOUBLE, STRING = T.LongType(), T.IntegerType(), T.DoubleType(), T.StringType()
DATE, TIMESTAMP = T.DateType(), T.TimestampType()

LSTM_SCORES = TableSchema(
    "gold.lstm_scores",
    "One row per user with events in the sequences.lookback_days up to the run date: the LSTM's predictions from the "
    "user's last sequences.length events up to the end of that day. Partitioned by run_date.",
    (
        Field("user_id", LONG, "the user", nullable=False),
        Field("run_date", DATE, "the day scored (the job's --date): events up to its end are read", nullable=False),
        Field("last_event_time", TIMESTAMP, "the user's newest event, the end of the sequence scored", "UTC"),
        Field("sequence_events", INT, "real (not padding) events in the sequence", "events"),
        Field("p_next_view", DOUBLE, "probability that the session's next event is a view", "probability 0-1"),
        Field("p_next_cart", DOUBLE, "probability that the next event is an add-to-cart", "probability 0-1"),
        Field("p_next_remove_from_cart", DOUBLE, "probability that the next event is a remove-from-cart", "probability 0-1"),
        Field("p_next_purchase", DOUBLE, "probability that the next event is a purchase", "probability 0-1"),
        Field("p_exit", DOUBLE, "probability that the session ends after the last event", "probability 0-1"),
        Field("predicted_next_event", STRING, "the most likely of view, cart, remove_from_cart, purchase, exit"),
        Field("purchase_probability", DOUBLE, "probability of a purchase later in the current session", "probability 0-1"),
        Field("churn_probability", DOUBLE, "probability of no session in the featurize.label_horizon_days after the run date", "probability 0-1"),
        Field("model_version", STRING, "ml.model_runs model_version of the lstm model", nullable=False),
    ),
)

LSTM_METRICS = TableSchema(
    "ml.lstm_metrics",
    "One row per LSTM training run and model (the LSTM and its baselines) on the test split of its sequences dataset: "
    "next-event accuracy and macro-F1, purchase and churn ROC-AUC, and the training run's figures. A re-run of the "
    "same run date and model version replaces its rows.",
    (
        Field("run_date", DATE, "the train-lstm --date", nullable=False),
        Field("model_version", STRING, "ml.model_runs model_version of the lstm model", nullable=False),
        Field("dataset_version", STRING, "the sequences dataset trained and tested on"),
        Field(
            "model",
            STRING,
            "lstm; most_frequent (always the train split's most frequent next event); last_event (the train split's "
            "most likely next event and purchase rate given the last event type); propensity (the MLlib churn model "
            "of gold.propensity_scores, on the test users it scored)",
            nullable=False,
        ),
        Field("test_rows", LONG, "test samples the next-event and purchase metrics are over", "samples"),
        Field("next_event_accuracy", DOUBLE, "share of test samples whose next event is predicted right", "0-1"),
        Field("next_event_macro_f1", DOUBLE, "F1 averaged over the five next-event classes (view, cart, remove, purchase, exit)", "0-1"),
        Field("purchase_roc_auc", DOUBLE, "ROC-AUC of a later purchase in the session", "0-1"),
        Field("churn_roc_auc", DOUBLE, "ROC-AUC of churn (gold.labels) on the churn_rows users of the test days", "0-1"),
        Field("churn_rows", LONG, "test users with a churn label (one per user and test day: their last sample)", "users"),
        Field("launcher", STRING, "horovod, horovodrun or torch_distributor (lstm rows)"),
        Field("processes", INT, "training processes (lstm rows)", "processes"),
        Field("reader", STRING, "petastorm or pyarrow (lstm rows)"),
        Field("epochs_run", INT, "epochs trained, including those of resumed runs (lstm rows)", "epochs"),
        Field("best_epoch", INT, "the epoch with the lowest validation loss, whose weights are kept (lstm rows)", "epoch"),
        Field("best_validation_loss", DOUBLE, "the multi-task loss of the best epoch on the validation split (lstm rows)", "nats per sample"),
        Field("train_seconds", DOUBLE, "wall time of the launch, start-up included (lstm rows)", "seconds"),
        Field("samples_per_second", DOUBLE, "training samples per second over all processes, mean of the epochs (lstm rows)", "samples/s"),
    ),
)

SCHEMAS = (LSTM_SCORES, LSTM_METRICS)
