"""The recommender's output tables, documented: gold.recommendations, gold.similar_items, ml.als_metrics.

The run records of the ALS models themselves go to ml.model_runs (ecomlake.ml.registry).
"""

from __future__ import annotations

from pyspark.sql import types as T

from ecomlake.schema import Field, TableSchema

LONG, INT, DOUBLE, STRING, DATE = T.LongType(), T.IntegerType(), T.DoubleType(), T.StringType(), T.DateType()

RECOMMENDATIONS = TableSchema(
    "gold.recommendations",
    "Top `recommend.top_n` products per user from the ALS model, best first; products the user already interacted with as of run_date "
    "are left out when `recommend.exclude_seen`. Users the model has not seen get none. Partitioned by run_date.",
    (
        Field("user_id", LONG, "the user", nullable=False),
        Field("rank", INT, "1 = best; by score, ties by product_id", nullable=False),
        Field("product_id", LONG, "the recommended product", nullable=False),
        Field("score", DOUBLE, "ALS predicted preference: the dot product of user and product factors, higher = more likely", "score, about 0-1"),
        Field("model_version", STRING, "the ALS model that scored it (ml.model_runs)", nullable=False),
        Field("run_date", DATE, "interactions up to the end of this UTC day were seen", nullable=False),
    ),
)

SIMILAR_ITEMS = TableSchema(
    "gold.similar_items",
    "Top `recommend.similar_items` most similar products per product: cosine similarity of the ALS item factors, best first. "
    "Partitioned by run_date.",
    (
        Field("product_id", LONG, "the product", nullable=False),
        Field("rank", INT, "1 = most similar; ties by similar_product_id", nullable=False),
        Field("similar_product_id", LONG, "a similar product (never the product itself)", nullable=False),
        Field("similarity", DOUBLE, "cosine of the two products' ALS factor vectors", "-1..1"),
        Field("model_version", STRING, "the ALS model the factors come from (ml.model_runs)", nullable=False),
        Field("run_date", DATE, "the model's training date", nullable=False),
    ),
)

ALS_METRICS = TableSchema(
    "ml.als_metrics",
    "One row per model (als, popularity) per recommend run: ranking metrics at k on the per-user chronological split "
    "(each evaluated user's latest first-touched `recommend.test_fraction` of products held out), the top k over products unseen in training. "
    "Definitions are Spark's RankingEvaluator's, averaged over evaluated users (relevance is binary: a held-out product).",
    (
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

SCHEMAS: tuple[TableSchema, ...] = (RECOMMENDATIONS, SIMILAR_ITEMS, ALS_METRICS)
