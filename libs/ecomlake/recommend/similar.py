"""Item-item similarity from ALS item factors: cosine, top n per item, computed on the executors.

The item factors are normalised on the driver and broadcast as one numpy matrix (items x rank
floats: 40k items at rank 32 are 5 MB); each executor scores its share of items against all of them
in blocks. The cost is O(items^2 * rank) multiply-adds (40k items at rank 32: 5e10, tens of seconds
on a core) and O(block * items) memory per task: fine to hundreds of thousands of items; beyond,
use approximate neighbours (e.g. MLlib's BucketedRandomProjectionLSH on the normalised factors).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pyspark.ml.recommendation import ALSModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ecomlake.recommend.als import ITEM, IdMaps

BLOCK_CELLS = 1 << 22  # similarities held at once per task (float32: 16 MiB)


def unit_factors(model: ALSModel) -> tuple[NDArray[Any], NDArray[Any]]:
    """(item ids, their factor vectors scaled to length 1), sorted by id; collects the item factors to the driver."""
    factors = model.itemFactors.orderBy("id").toPandas()
    ids = factors["id"].to_numpy(dtype=np.int32)
    matrix = np.array(factors["features"].tolist(), dtype=np.float32).reshape(len(ids), model.rank)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return ids, matrix / np.where(norms == 0, 1, norms)  # an all-zero vector stays zero: similarity 0 to everything


def top_similar(ids: NDArray[Any], unit: NDArray[Any], rows: NDArray[Any], n: int) -> tuple[NDArray[Any], NDArray[Any]]:
    """For the items at positions ``rows`` of ``ids``: the positions and cosines of their n most similar other items.

    Ranked by similarity, ties by item id; never the item itself. Returns two arrays of shape (len(rows), min(n, items - 1)).
    """
    n = min(n, len(ids) - 1)
    sims = unit[rows] @ unit.T
    sims[np.arange(len(rows)), rows] = -np.inf  # not similar to itself
    top = np.argpartition(-sims, n - 1, axis=1)[:, :n]  # the n best, unordered
    top_sims = np.take_along_axis(sims, top, axis=1)
    order = np.lexsort((ids[top], -top_sims), axis=1)
    return np.take_along_axis(top, order, axis=1), np.take_along_axis(top_sims, order, axis=1)


def similar_items(model: ALSModel, n: int) -> DataFrame:
    """(ITEM, rank, similar_item, similarity): each item's n most similar items by cosine of the model's factors.

    Example:
        >>> similar_items(model, 10).where("item = 0").orderBy("rank").first()  # doctest: +SKIP
        Row(item=0, rank=1, similar_item=17, similarity=0.93)
    """
    spark = model.itemFactors.sparkSession
    schema = f"{ITEM} int, rank int, similar_item int, similarity double"
    ids, unit = unit_factors(model)
    if n < 1 or len(ids) < 2:
        return spark.createDataFrame([], schema)
    shared = spark.sparkContext.broadcast((ids, unit))

    def score(batches: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        all_ids, all_unit = shared.value
        block = max(1, BLOCK_CELLS // max(1, len(all_ids)))
        for batch in batches:
            positions = np.searchsorted(all_ids, batch["id"].to_numpy())
            for start in range(0, len(positions), block):
                rows = positions[start : start + block]
                top, sims = top_similar(all_ids, all_unit, rows, n)
                width = top.shape[1]
                yield pd.DataFrame(
                    {
                        ITEM: np.repeat(all_ids[rows], width),
                        "rank": np.tile(np.arange(1, width + 1, dtype=np.int32), len(rows)),
                        "similar_item": all_ids[top].ravel(),
                        "similarity": sims.ravel().astype(np.float64),
                    }
                )

    return model.itemFactors.select("id").mapInPandas(score, schema)


def similar_products(model: ALSModel, maps: IdMaps, n: int, version: str, run_date: dt.date) -> DataFrame:
    """gold.similar_items rows: :func:`similar_items` with the product ids of ``maps``."""
    other = maps.items.select(F.col(ITEM).alias("similar_item"), F.col("product_id").alias("similar_product_id"))
    return (
        similar_items(model, n)
        .join(maps.items, on=ITEM, how="inner")
        .join(other, on="similar_item", how="inner")
        .select("product_id", "rank", "similar_product_id", "similarity", F.lit(version).alias("model_version"), F.lit(run_date).alias("run_date"))
    )
