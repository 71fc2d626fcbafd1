"""The propensity tables' documented schemas: every column's name, type, meaning and unit."""

from __future__ import annotations

from pyspark.sql import types as T

from ecomlake.schema import Field, TableSchema

LONG, INT, DOUBLE, STRING = T.LongType(), T.IntegerType(), T.DoubleType(), T.StringType()
DATE, BOOL = T.DateType(), T.BooleanType()

LIFT_TABLE = T.ArrayType(
    T.StructType(
        [
            T.StructField("decile", INT),  # 1 = the tenth of users the model ranks most likely
            T.StructField("rows", LONG),
            T.StructField("positives", LONG),
            T.StructField("positive_rate", DOUBLE),
            T.StructField("lift", DOUBLE),  # positive_rate / the split's positive rate
        ]
    )
)
IMPORTANCES = T.ArrayType(T.StructType([T.StructField("feature", STRING), T.StructField("importance", DOUBLE)]))

PROPENSITY_SCORES = TableSchema(
    "gold.propensity_scores",
    "One row per user and target: the probability that the user churns (no session) or purchases in the "
    "featurize.label_horizon_days after features_as_of, from the model version named. Users are those of "
    "gold.user_features as of the run date. Partitioned by run_date.",
    (
        Field("user_id", LONG, "the user", nullable=False),
        Field("target", STRING, "churned or purchased (gold.labels column the model predicts)", nullable=False),
        Field("probability", DOUBLE, "calibrated probability of the target (isotonic regression fitted on validation users)", "probability 0-1"),
        Field("raw_probability", DOUBLE, "the classifier's own probability, before calibration (class-weighted training inflates it)", "0-1"),
        Field("decile", INT, "1 = the tenth of users ranked most likely by the model .. 10 = least likely", "1-10"),
        Field("model_version", STRING, "ml.model_runs model_version of propensity_<target>"),
        Field("model_type", STRING, "logistic_regression, random_forest or gbt: the candidate chosen by validation ROC-AUC"),
        Field("run_date", DATE, "the day scored (the job's --date)", nullable=False),
        Field("features_as_of", DATE, "as_of_date of the gold.user_features snapshot the scores are computed from"),
    ),
)

PROPENSITY_METRICS = TableSchema(
    "ml.propensity_metrics",
    "One row per run, target, candidate model and split (train, validation, test) of users: how well the candidate "
    "ranks and how well its calibrated probabilities fit. Ranking metrics (ROC-AUC, PR-AUC, lift) use the raw "
    "probability; calibration is monotone and keeps that order. Probability metrics (log loss, Brier, mean "
    "probability) use the calibrated probability. Validation users fit the calibration, so only test figures are unbiased.",
    (
        Field("run_date", DATE, "the job's --date", nullable=False),
        Field("cutoff_date", DATE, "gold.labels cut-off trained on; the features are gold.user_features as of this day", nullable=False),
        Field("model_version", STRING, "ml.model_runs model_version (the same for every target of a run)", nullable=False),
        Field("target", STRING, "churned or purchased", nullable=False),
        Field("model_type", STRING, "logistic_regression, random_forest or gbt", nullable=False),
        Field("is_chosen", BOOL, "true for the candidate with the best validation ROC-AUC: the one saved and scored with"),
        Field("split", STRING, "train, validation or test: users by a seeded hash of user_id", nullable=False),
        Field("rows", LONG, "users in the split", "users"),
        Field("positives", LONG, "users with the target true", "users"),
        Field("positive_rate", DOUBLE, "positives / rows: the base rate", "ratio 0-1"),
        Field("mean_probability", DOUBLE, "mean calibrated probability; close to positive_rate when calibrated", "probability 0-1"),
        Field("roc_auc", DOUBLE, "area under the ROC curve of the raw probability (0.5 = random)", "0-1"),
        Field("pr_auc", DOUBLE, "area under the precision-recall curve of the raw probability (random = positive_rate)", "0-1"),
        Field("log_loss", DOUBLE, "mean negative log-likelihood of the calibrated probability, clipped to [1e-6, 1 - 1e-6]", "nats"),
        Field("brier", DOUBLE, "mean squared error of the calibrated probability", "probability²"),
        Field("lift_top_decile", DOUBLE, "positive rate of the 10% of users ranked most likely / positive_rate", "ratio"),
        Field("lift", LIFT_TABLE, "the lift table: per decile of the ranking (1 = most likely), rows, positives, positive rate and lift"),
        Field(
            "top_features",
            IMPORTANCES,
            "the candidate's most important features, largest first; importance is a share of the total "
            "(random forest, GBT: impurity-based featureImportances; logistic regression: |standardised coefficient|)",
            "share 0-1",
        ),
    ),
)

SCHEMAS: tuple[TableSchema, ...] = (PROPENSITY_SCORES, PROPENSITY_METRICS)
