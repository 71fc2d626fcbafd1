"""The propensity training set: which labels, which features, how NULLs become numbers, and the split.

* Labels: for a run date D and horizon H (``featurize.label_horizon_days``), the cut-off C is the
  latest gold.labels cut-off on or before D - H (labels of C are complete once D >= C + H). Features
  are gold.user_features as of C (:func:`labelled`): no label leaks in.
* Features: ``propensity.features``, or every numeric user_features column but ``user_id``. Several are
  NULL when undefined (no order: ``days_since_last_purchase``, ``avg_order_value``; no cart: the cart
  rates; ...). Every feature is taken as a double with NULL -> 0, and each NULL-able one also gets an
  ``<feature>_is_null`` 0/1 indicator, so "never bought" and "bought today" stay apart. This is one
  SQLTransformer stage of the saved pipeline, so scoring prepares rows exactly as training did.
* Split: users go to train, validation or test by a seeded hash of user_id (``xxhash64``): the same
  user always lands in the same split, whatever the partitioning, and both targets share the split.
* Class imbalance: a ``weight`` column; with ``balance_classes`` each class weighs half of the total.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.ml.feature import SQLTransformer
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ecomlake.errors import ConfigError

ID_COLUMNS = ("user_id",)
NUMERIC_TYPES = (T.ByteType, T.ShortType, T.IntegerType, T.LongType, T.FloatType, T.DoubleType, T.DecimalType)
# user_features columns that are NULL when undefined (see ecomlake.featurize.schemas.user_features).
NULLABLE_FEATURES = frozenset(
    {
        "days_since_last_purchase", "avg_order_value", "cart_abandonment_rate", "view_to_cart_rate", "cart_to_purchase_rate",
        "avg_dwell_seconds", "avg_price_viewed", "avg_price_bought", "price_ratio",
    }
)  # fmt: skip
FEATURE_PREFIX = "x_"  # prepared (NULL-free double) feature columns are x_<feature name>


def labelled(features: DataFrame, labels: DataFrame) -> DataFrame:
    """gold.user_features as of a cut-off joined to the labels of that cut-off: one row per user, no leakage.

    ``features`` is the snapshot as of C, ``labels`` gold.labels of cut-off C: the features read events
    on or before C only, the labels events after it.
    """
    return features.join(labels.drop("cutoff_date"), "user_id", how="inner")


def feature_columns(user_features: T.StructType, configured: Sequence[str] | None) -> tuple[str, ...]:
    """The model's input columns: ``configured`` (checked to exist and be numeric) or every numeric non-id column."""
    numeric = [f.name for f in user_features.fields if isinstance(f.dataType, NUMERIC_TYPES) and f.name not in ID_COLUMNS]
    if configured is None:
        return tuple(numeric)
    unusable = [c for c in configured if c not in numeric]
    if unusable:
        raise ConfigError(f"propensity.features: {unusable} are not numeric gold.user_features columns; choose among {numeric}")
    return tuple(configured)


def prepared_names(features: Sequence[str]) -> tuple[str, ...]:
    """Names of the prepared inputs, in vector order: the features, then the NULL indicators of the NULL-able ones."""
    return (*features, *(f"{f}_is_null" for f in features if f in NULLABLE_FEATURES))


def preparation(features: Sequence[str]) -> SQLTransformer:
    """The pipeline stage that adds ``x_<name>`` for each of ``prepared_names(features)``: NULL -> 0, indicators 0/1."""
    values = [f"COALESCE(CAST(`{f}` AS DOUBLE), 0D) AS `{FEATURE_PREFIX}{f}`" for f in features]
    indicators = [f"CAST(`{f}` IS NULL AS DOUBLE) AS `{FEATURE_PREFIX}{f}_is_null`" for f in features if f in NULLABLE_FEATURES]
    return SQLTransformer(statement=f"SELECT *, {', '.join(values + indicators)} FROM __THIS__")


def split_column(seed: int, validation_fraction: float, test_fraction: float) -> Column:
    """train / validation / test from a seeded hash of user_id: stable across runs and partitionings."""
    u = F.pmod(F.xxhash64(F.col("user_id"), F.lit(seed)), F.lit(1_000_000)) / F.lit(1_000_000.0)
    return (
        F.when(u < F.lit(test_fraction), F.lit("test"))
        .when(u < F.lit(test_fraction + validation_fraction), F.lit("validation"))
        .otherwise(F.lit("train"))
    )


def with_split(df: DataFrame, seed: int, validation_fraction: float, test_fraction: float) -> DataFrame:
    """``df`` with a ``split`` column."""
    return df.withColumn("split", split_column(seed, validation_fraction, test_fraction))


def class_weights(rows: int, positives: int, balance: bool) -> tuple[float, float]:
    """(weight of a positive, weight of a negative): each class totals rows / 2 when balancing, else 1 each."""
    if not balance:
        return 1.0, 1.0
    return rows / (2.0 * positives), rows / (2.0 * (rows - positives))


def with_label(df: DataFrame, target: str, positive_weight: float, negative_weight: float) -> DataFrame:
    """``df`` with ``label`` (the target as 0/1 double) and its class ``weight``."""
    label = F.col(target).cast(T.DoubleType())
    return df.withColumn("label", label).withColumn("weight", F.when(label == 1.0, F.lit(positive_weight)).otherwise(F.lit(negative_weight)))
