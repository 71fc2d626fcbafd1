"""The model tables: what profile, recommend, propensity and the LSTM write, and ml.model_runs, every trained model version.

Scores and assignments hold one slice per run date; metrics one row per run and model; ml.model_runs one
row per (model, version), the record a --score-only run finds its saved model by (:mod:`ecomlake.ml.registry`).
Segment names come from :mod:`ecomlake.profile.naming`.
"""

from __future__ import annotations

from ecomlake.catalog.table import Table
from ecomlake.schema import BOOL, DATE, DOUBLE, INT, LONG, STRING, TIMESTAMP, ArrayOf, Field, MapOf, StructOf
from ecomlake.vocabulary import GONE_SEGMENT, NEW_SEGMENT

FEATURE_MAP = MapOf(STRING, DOUBLE)
LIFT_TABLE = ArrayOf(
    StructOf(
        (
            ("decile", INT),  # 1 = the tenth of users the model ranks most likely
            ("rows", LONG),
            ("positives", LONG),
            ("positive_rate", DOUBLE),
            ("lift", DOUBLE),  # positive_rate / the split's positive rate
        )
    )
)
IMPORTANCES = ArrayOf(StructOf((("feature", STRING), ("importance", DOUBLE))))
ARTIFACT_FILES = ArrayOf(StructOf((("path", STRING), ("bytes", LONG), ("sha256", STRING))))  # ecomlake.artifacts.FileRecord

# Profile (ecomlake profile)
USER_SEGMENTS = Table(
    "gold",
    "user_segments",
    produced_by=("profile",),
    partition_by=("run_date",),
    description="One row per user of gold.user_features as of run_date: the KMeans segment the user is in. Partitioned by run_date; "
    "a run replaces its date's slice.",
    fields=(
        Field("user_id", LONG, "the user", nullable=False),
        Field("segment_id", INT, "the KMeans cluster index (0-based; only meaningful within one model_version)", nullable=False),
        Field("segment_name", STRING, "the segment's readable name (rules in ecomlake.profile.naming); compare runs by name", nullable=False),
        Field(
            "distance",
            DOUBLE,
            "euclidean distance from the user's standardised features to the segment's centroid (0: a typical member)",
            "standard deviations",
        ),
        Field("model_version", STRING, "the model that assigned the segment (ml.model_runs)", nullable=False),
        Field("run_date", DATE, "features as of this day were assigned", nullable=False),
    ),
)

SEGMENTS = Table(
    "ml",
    "segments",
    produced_by=("profile",),
    description="One row per segment per run (run_date, model_version): its name, size and centroid in the features' original units, "
    "computed from its users' features (not by inverting the scaling). A training run and each --score-only run add rows; "
    "a re-run replaces its (run_date, model_version) rows. Segments without users are left out.",
    fields=(
        Field("run_date", DATE, "the day the users' features are as of", nullable=False),
        Field("model_version", STRING, "the model (ml.model_runs)", nullable=False),
        Field("segment_id", INT, "the KMeans cluster index", nullable=False),
        Field(
            "segment_name",
            STRING,
            "readable name (rules in ecomlake.profile.naming); a --score-only run keeps the training run's names",
            nullable=False,
        ),
        Field("users", LONG, "users in the segment", "users"),
        Field("share", DOUBLE, "users / all users of the run", "ratio 0-1"),
        Field("feature_means", FEATURE_MAP, "mean of each profile feature over the segment's users, NULLs counted as 0", "feature units"),
        Field("feature_medians", FEATURE_MAP, "approximate median of each profile feature over the segment's users", "feature units"),
        Field("k", INT, "segments the model has (KMeans clusters)", "segments"),
        Field(
            "silhouette",
            DOUBLE,
            "silhouette of the model, measured when it was trained (squared euclidean, on a seeded sample); NULL with one cluster",
            "-1..1",
        ),
    ),
)

SEGMENT_TRANSITIONS = Table(
    "gold",
    "segment_transitions",
    produced_by=("profile",),
    description="One row per (from segment, to segment) with users, between the previous run (the latest run_date before this one in "
    f"gold.user_segments) and this run, compared by segment name. `{NEW_SEGMENT}` as from_segment: users not in the previous run "
    f"(all users on the first run); `{GONE_SEGMENT}` as to_segment: users no longer in this run. A re-run replaces its run_date's rows.",
    fields=(
        Field("run_date", DATE, "this run", nullable=False),
        Field("previous_run_date", DATE, "the run compared with; NULL on the first run"),
        Field("from_segment", STRING, f"segment name in the previous run, or {NEW_SEGMENT}", nullable=False),
        Field("to_segment", STRING, f"segment name in this run, or {GONE_SEGMENT}", nullable=False),
        Field("users", LONG, "users who moved from from_segment to to_segment (or stayed, when the names are equal)", "users"),
    ),
)


# Recommendations (ecomlake recommend)
RECOMMENDATIONS = Table(
    "gold",
    "recommendations",
    produced_by=("recommend",),
    partition_by=("run_date",),
    description="Top `recommend.top_n` products per user from the ALS model, best first; products the user already interacted with as of run_date "
    "are left out when `recommend.exclude_seen`. Users the model has not seen get none. Partitioned by run_date.",
    fields=(
        Field("user_id", LONG, "the user", nullable=False),
        Field("rank", INT, "1 = best; by score, ties by product_id", nullable=False),
        Field("product_id", LONG, "the recommended product", nullable=False),
        Field("score", DOUBLE, "ALS predicted preference: the dot product of user and product factors, higher = more likely", "score, about 0-1"),
        Field("model_version", STRING, "the ALS model that scored it (ml.model_runs)", nullable=False),
        Field("run_date", DATE, "interactions up to the end of this UTC day were seen", nullable=False),
    ),
)

SIMILAR_ITEMS = Table(
    "gold",
    "similar_items",
    produced_by=("recommend",),
    partition_by=("run_date",),
    description="Top `recommend.similar_items` most similar products per product: cosine similarity of the ALS item factors, best first. "
    "Partitioned by run_date.",
    fields=(
        Field("product_id", LONG, "the product", nullable=False),
        Field("rank", INT, "1 = most similar; ties by similar_product_id", nullable=False),
        Field("similar_product_id", LONG, "a similar product (never the product itself)", nullable=False),
        Field("similarity", DOUBLE, "cosine of the two products' ALS factor vectors", "-1..1"),
        Field("model_version", STRING, "the ALS model the factors come from (ml.model_runs)", nullable=False),
        Field("run_date", DATE, "the model's training date", nullable=False),
    ),
)

ALS_METRICS = Table(
    "ml",
    "als_metrics",
    produced_by=("recommend",),
    description="One row per model (als, popularity) per recommend run: ranking metrics at k on the per-user chronological split "
    "(each evaluated user's latest first-touched `recommend.test_fraction` of products held out), the top k over products unseen in training. "
    "Definitions are Spark's RankingEvaluator's, averaged over evaluated users (relevance is binary: a held-out product).",
    fields=(
        Field("run_date", DATE, "the recommend run's date (interactions as of this day)", nullable=False),
        Field("model_version", STRING, "the ALS model version of the run (the popularity row shares it)", nullable=False),
        Field("model", STRING, "als | popularity (products ranked by distinct training users)", nullable=False),
        Field("k", INT, "cut-off of the ranking metrics", "products"),
        Field("precision_at_k", DOUBLE, "hits in the top k / k", "ratio 0-1"),
        Field("recall_at_k", DOUBLE, "hits in the top k / held-out products", "ratio 0-1"),
        Field("ndcg_at_k", DOUBLE, "DCG of the top k (gain 1 per hit, 1/log2(rank+1)) / the best possible DCG", "ratio 0-1"),
        Field("map_at_k", DOUBLE, "sum of precision@i over hits i in the top k / min(held-out products, k)", "ratio 0-1"),
        Field("coverage", DOUBLE, "distinct products recommended to evaluated users / distinct products in training", "ratio 0-1"),
        Field("users_evaluated", LONG, "users with held-out products (>= recommend.min_user_items products)", "users"),
        Field("train_users", LONG, "distinct users in the training split", "users"),
        Field("train_items", LONG, "distinct products in the training split", "products"),
        Field("train_rows", LONG, "user-product rows in the training split", "rows"),
        Field("test_rows", LONG, "user-product rows held out", "rows"),
    ),
)


# Propensity (ecomlake propensity)
PROPENSITY_SCORES = Table(
    "gold",
    "propensity_scores",
    produced_by=("propensity",),
    partition_by=("run_date",),
    description="One row per user and target: the probability that the user churns (no session) or purchases in the "
    "featurize.label_horizon_days after features_as_of, from the model version named. Users are those of "
    "gold.user_features as of the run date. Partitioned by run_date.",
    fields=(
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

PROPENSITY_METRICS = Table(
    "ml",
    "propensity_metrics",
    produced_by=("propensity",),
    description="One row per run, target, candidate model and split (train, validation, test) of users: how well the candidate "
    "ranks and how well its calibrated probabilities fit. Ranking metrics (ROC-AUC, PR-AUC, lift) use the raw "
    "probability; calibration is monotone and keeps that order. Probability metrics (log loss, Brier, mean "
    "probability) use the calibrated probability. Validation users fit the calibration, so only test figures are unbiased.",
    fields=(
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


# The sequence model (ecomlake train-lstm, score-lstm)
LSTM_SCORES = Table(
    "gold",
    "lstm_scores",
    produced_by=("score-lstm",),
    partition_by=("run_date",),
    description="One row per user with events in the sequences.lookback_days up to the run date: the LSTM's predictions from the "
    "user's last sequences.length events up to the end of that day. Partitioned by run_date.",
    fields=(
        Field("user_id", LONG, "the user", nullable=False),
        Field("run_date", DATE, "the day scored (the job's --date): events up to its end are read", nullable=False),
        Field("last_event_time", TIMESTAMP, "the user's newest event, the end of the sequence scored", "UTC"),
        Field("sequence_events", INT, "real (not padding) events in the sequence", "events"),
        Field("p_next_view", DOUBLE, "probability that the session's next event is a view", "probability 0-1"),
        Field("p_next_cart", DOUBLE, "probability that the next event is an add-to-cart", "probability 0-1"),
        Field("p_next_remove_from_cart", DOUBLE, "probability that the next event is a remove-from-cart", "probability 0-1"),
        Field("p_next_purchase", DOUBLE, "probability that the next event is a purchase", "probability 0-1"),
        Field("p_exit", DOUBLE, "probability that the session ends after the last event", "probability 0-1"),
        Field("predicted_next_event", STRING, "the most likely of view, cart, remove_from_cart, purchase, the extra event types, exit"),
        Field("purchase_probability", DOUBLE, "probability of a purchase later in the current session", "probability 0-1"),
        Field("churn_probability", DOUBLE, "probability of no session in the featurize.label_horizon_days after the run date", "probability 0-1"),
        Field("model_version", STRING, "ml.model_runs model_version of the lstm model", nullable=False),
        # Last: a table written before it existed gets it by an added column (Delta appends those), in the same place.
        Field(
            "p_next_extra",
            FEATURE_MAP,
            "probability that the next event is each of the site's own event types the model was trained with (events.extra_types), "
            "by type; empty for a model without them. With p_next_view .. p_exit it sums to 1",
            "probability 0-1",
        ),
    ),
)

LSTM_METRICS = Table(
    "ml",
    "lstm_metrics",
    produced_by=("train-lstm",),
    description="One row per LSTM training run and model (the LSTM and its baselines) on the test split of its sequences dataset: "
    "next-event accuracy and macro-F1, purchase and churn ROC-AUC, and the training run's figures. A re-run of the "
    "same run date and model version replaces its rows.",
    fields=(
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
        Field(
            "next_event_macro_f1",
            DOUBLE,
            "F1 averaged over the next-event classes (view, cart, remove, purchase, the extra event types, exit) in the test labels or predictions",
            "0-1",
        ),
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


# Every trained model version (ecomlake.ml.registry)
MODEL_RUNS = Table(
    "ml",
    "model_runs",
    produced_by=("profile", "recommend", "propensity", "sequences", "train-lstm"),
    description="One row per trained model version (and sequences dataset): what it was trained on, with which parameters, how well it did, "
    "where it is saved and the sha256 of each of its files, checked before it is loaded.",
    fields=(
        Field("model", STRING, "model name, e.g. als, kmeans_profile, propensity_churned", nullable=False),
        Field("model_version", STRING, "<run date>-<hash of the model's config section>", nullable=False),
        Field("run_date", DATE, "the date the model was trained for (its data go up to this day)", nullable=False),
        Field("run_id", STRING, "the run that trained it"),
        Field("trained_at", TIMESTAMP, "when training finished", "UTC"),
        Field("training_rows", LONG, "rows the model was fitted on", "rows"),
        Field("params", STRING, "the model's config section and chosen hyper-parameters, as JSON"),
        Field("metrics", FEATURE_MAP, "evaluation metrics by name (held-out data)"),
        Field("config_hash", STRING, "hash of the whole effective config"),
        Field("code_version", STRING, "package version and git commit"),
        Field(
            "artifact_path",
            STRING,
            "folder of the saved artifact (a PipelineModel in MLlib's format, the sequences dataset, the LSTM's checkpoints); "
            "loaded only from inside <lake.root>/models/<model>/",
        ),
        # Last: a table written before it existed gets it by an added column (Delta appends those), in the same place.
        Field(
            "artifact_files",
            ARTIFACT_FILES,
            "the artifact's files as the run wrote them: path relative to artifact_path, size and sha256 (hex). Whatever loads the "
            "artifact first checks its folder against them (ecomlake.artifacts): a file added, missing or changed refuses the load. "
            "lstm rows: the checkpoints scoring and resuming load. Empty for als rows (not checked yet) and for rows an earlier version "
            "wrote: such a profile, propensity or lstm model, or a sequences dataset, is refused until its job runs again",
        ),
    ),
)
