"""Profile features: the chosen user_features columns, NULLs filled, then log1p, assembled and standardised.

NULLs are filled with 0 before anything else (:data:`FILL_VALUE`): in gold.user_features a NULL is a
rate without a denominator (``view_to_cart_rate`` of a user with no views) or an amount that never
happened, and 0 is what those mean for a profile. Do not list a column whose NULL means "never" with
a day count (``days_since_last_purchase``): 0 would read as "today"; ``recency_days`` is the one to use.

The transform after the fill is a :class:`~pyspark.ml.Pipeline` saved with the model, so a model
scores later days the way it was trained whatever the config says by then:

1. ``log1p`` of each ``log_features`` column (heavy-tailed counts and amounts; negatives count as 0);
2. ``VectorAssembler`` into one vector, in the order of ``features``;
3. ``StandardScaler(withMean=True, withStd=True)``: each feature centred and divided by its standard
   deviation, so that no feature outweighs the others by its unit. A constant feature scales to 0.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.ml import Pipeline
from pyspark.ml.feature import SQLTransformer, StandardScaler, VectorAssembler
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

FILL_VALUE = 0.0
FEATURES_COL = "features"  # the standardised vector KMeans reads
_RAW_VECTOR_COL = "raw_features"
_LOG_SUFFIX = "__log1p"


def filled_features(users: DataFrame, features: Sequence[str]) -> DataFrame:
    """``user_id`` and each feature as a double, NULL -> :data:`FILL_VALUE`; the features' original units.

    Example:
        >>> filled_features(spark.createDataFrame([(1, None)], "user_id long, orders long"), ["orders"]).first()  # doctest: +SKIP
        Row(user_id=1, orders=0.0)
    """
    return users.select("user_id", *[F.coalesce(F.col(f).cast("double"), F.lit(FILL_VALUE)).alias(f) for f in features])


def feature_pipeline(features: Sequence[str], log_features: Sequence[str]) -> Pipeline:
    """log1p of ``log_features``, assembled in ``features`` order, standardised with mean into :data:`FEATURES_COL`."""
    logged = [f"log1p(greatest(`{f}`, 0D)) AS `{f}{_LOG_SUFFIX}`" for f in features if f in log_features]
    log1p = SQLTransformer(statement=f"SELECT *{''.join(', ' + e for e in logged)} FROM __THIS__")
    assembler = VectorAssembler(inputCols=[f + _LOG_SUFFIX if f in log_features else f for f in features], outputCol=_RAW_VECTOR_COL)
    scaler = StandardScaler(inputCol=_RAW_VECTOR_COL, outputCol=FEATURES_COL, withMean=True, withStd=True)
    return Pipeline(stages=[log1p, assembler, scaler])
