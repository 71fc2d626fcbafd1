"""Dense int32 indexes for ids of any type (MLlib's ALS takes only int32 user and item ids).

The index is the id's position in sorted order, computed distributed (sort + zipWithIndex, no
driver-side label list), so the same ids always get the same indexes and a re-run trains the same
model. Keep the mapping beside the model to map its output back.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import types as T

INT32_MAX = 2**31 - 1


def id_index(ids: DataFrame, column: str, index_column: str) -> DataFrame:
    """Distinct values of ``ids[column]`` with a dense ``index_column`` (int, 0-based, in sorted order).

    Raises ValueError when there are more distinct ids than int32 holds.

    Example:
        >>> id_index(spark.createDataFrame([(30,), (10,), (30,)], "user_id long"), "user_id", "user").collect()  # doctest: +SKIP
        [Row(user_id=10, user=0), Row(user_id=30, user=1)]
    """
    distinct = ids.select(column).where(ids[column].isNotNull()).distinct().orderBy(column)
    field = distinct.schema[column]
    indexed = distinct.rdd.zipWithIndex().map(lambda pair: (pair[0][0], pair[1]))
    schema = T.StructType([T.StructField(column, field.dataType, False), T.StructField(index_column, T.LongType(), False)])
    mapping = distinct.sparkSession.createDataFrame(indexed, schema)
    return mapping.select(column, mapping[index_column].cast(T.IntegerType()).alias(index_column)).where(
        _fits_int32(mapping[index_column], column, index_column)
    )


def _fits_int32(index: Column, column: str, index_column: str) -> Column:
    from pyspark.sql import functions as F

    return F.when(index <= INT32_MAX, F.lit(True)).otherwise(
        F.raise_error(F.lit(f"more than {INT32_MAX + 1:,} distinct {column} values: they do not fit {index_column} (int32)"))
    )
