"""The propensity training set: which labels, which features, how NULLs become numbers, and the split.

* Labels: for a run date D and horizon H (``featurize.label_horizon_days``), the cut-off C is the
  latest gold.labels cut-off on or before D - H (labels of C are complete once D >= C + H). Features
  are gold.user_features as of C (``ecomlake.featurize.labels.training_set``): no label leaks in.
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

import datetime as dt
from collections.abc import Sequence

from pyspark.ml.feature import SQLTransformer
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ecomlake import lake
from ecomlake.config import Config
from ecomlake.errors import ConfigError, InputMissingError

SPLITS = ("train", "validation", "test")
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


def label_cutoff(spark: SparkSession, config: Config, run_date: dt.date) -> dt.date:
    """The latest gold.labels cut-off C <= run_date - horizon with the configured horizon: the labels to train on.

    Raises InputMissingError when there is none, naming the featurize run that writes them.

    Example:
        >>> label_cutoff(spark, config, dt.date(2019, 10, 28))  # horizon 7  # doctest: +SKIP
        datetime.date(2019, 10, 21)
    """
    horizon = config.featurize.label_horizon_days
    latest = run_date - dt.timedelta(days=horizon)
    table = lake.LABELS.qualified_name(config.lake)
    missing = InputMissingError(
        f"{table} has no labels with a {horizon}-day horizon for a cut-off on or before {latest} (run date {run_date} - "
        f"featurize.label_horizon_days): labels need {horizon} days of events after their cut-off, so featurize at least "
        f"{horizon + 1} days first; `ecomlake featurize --date {run_date}` writes the labels of cut-off {latest} when it has events"
    )
    if not lake.table_exists(spark, config.lake, lake.LABELS):
        raise missing
    row = (
        lake.read_table(spark, config.lake, lake.LABELS)
        .where((F.col("cutoff_date") <= F.lit(latest)) & (F.col("horizon_days") == F.lit(horizon)))
        .agg(F.max("cutoff_date"))
        .first()
    )
    if row is None or row[0] is None:
        raise missing
    return row[0]


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


def features_as_of(spark: SparkSession, config: Config, as_of: dt.date) -> DataFrame:
    """gold.user_features as of ``as_of``: the users to score. Raises InputMissingError without such a snapshot."""
    snapshot = lake.read_table(spark, config.lake, lake.USER_FEATURES).where(F.col("as_of_date") == F.lit(as_of))
    if snapshot.select("user_id").first() is None:
        raise InputMissingError(
            f"{lake.USER_FEATURES.qualified_name(config.lake)} has no users as of {as_of}; run `ecomlake featurize --date {as_of}` first"
        )
    return snapshot
