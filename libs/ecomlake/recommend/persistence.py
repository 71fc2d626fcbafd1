"""A trained recommender on storage: the ALS model (MLlib's format) and its id maps (Parquet), under one folder.

Layout of a model version (``registry.artifact_path``): ``model/``, ``users/`` (user_id -> index),
``items/`` (product_id -> index). The id maps are part of the model: ALS knows int32 indexes only.
"""

from __future__ import annotations

from pyspark.ml.recommendation import ALSModel
from pyspark.sql import SparkSession

from ecomlake.recommend.als import IdMaps


def save_model(model: ALSModel, maps: IdMaps, path: str) -> None:
    """The model and its id maps under ``path``, replacing what was there."""
    model.write().overwrite().save(f"{path}/model")
    maps.users.write.mode("overwrite").parquet(f"{path}/users")
    maps.items.write.mode("overwrite").parquet(f"{path}/items")


def load_model(spark: SparkSession, path: str) -> tuple[ALSModel, IdMaps]:
    """What :func:`save_model` saved."""
    return ALSModel.load(f"{path}/model"), IdMaps(spark.read.parquet(f"{path}/users"), spark.read.parquet(f"{path}/items"))
