"""The pieces the model jobs share: int32 id indexes and the model run record (ml.model_runs)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from ecomlake import lake
from ecomlake.catalog import MODEL_RUNS
from ecomlake.config import Config, config_hash
from ecomlake.errors import InputMissingError
from ecomlake.ml import registry
from ecomlake.ml.ids import id_index
from tests.support import lake_config


def test_id_index_is_dense_sorted_and_repeatable(spark: SparkSession) -> None:
    ids = spark.createDataFrame([(9_000_000_000,), (5,), (None,), (5,), (77,)], "user_id long")
    first = [tuple(r) for r in id_index(ids, "user_id", "user").orderBy("user").collect()]
    assert first == [(5, 0), (77, 1), (9_000_000_000, 2)]  # NULL ids get no index
    assert [tuple(r) for r in id_index(ids.repartition(3), "user_id", "user").orderBy("user").collect()] == first
    assert dict(id_index(ids, "user_id", "user").dtypes)["user"] == "int"


def test_model_versions_follow_the_date_and_the_config_section(config: Config) -> None:
    day = dt.date(2019, 10, 21)
    version = registry.model_version(day, config.recommend)
    assert version.startswith("20191021-") and version == registry.model_version(day, config.recommend)
    assert registry.model_version(day, dataclasses.replace(config.recommend, rank=3)) != version
    with_input = registry.model_version(day, config.recommend, "20191021-aaaaaaaa")  # a versioned input (the LSTM's dataset)
    assert with_input.startswith("20191021-") and with_input != version
    assert with_input != registry.model_version(day, config.recommend, "20191021-bbbbbbbb")
    assert registry.artifact_path(config, "als", version) == f"{config.lake.root}/models/als/{version}"


def test_runs_are_recorded_once_per_version_and_the_latest_is_found(spark: SparkSession, config: Config, tmp_path: Path) -> None:
    cfg = lake_config(config, tmp_path)
    with pytest.raises(InputMissingError) as err:
        registry.latest_run(spark, cfg, "als", dt.date(2019, 10, 2), "recommend")  # ml.model_runs does not even exist yet
    assert str(err.value) == (
        "no als model trained on or before 2019-10-02 in ecomlake.ml_model_runs; run `ecomlake recommend --date D` (D <= 2019-10-02) first"
    )
    for day, ndcg in ((dt.date(2019, 10, 1), 0.1), (dt.date(2019, 10, 3), 0.2), (dt.date(2019, 10, 3), 0.3)):  # the last re-runs a day
        version = registry.model_version(day, cfg.recommend)
        registry.record_run(spark, cfg, "als", version, day, "run", 100, {"rank": 32}, {"ndcg_at_k": ndcg, "skipped": None})
    runs = lake.read(spark, cfg, MODEL_RUNS).orderBy("run_date").collect()
    assert [(r.run_date.day, r.metrics) for r in runs] == [(1, {"ndcg_at_k": 0.1}), (3, {"ndcg_at_k": 0.3})]
    assert {(r.model, r.run_id, r.training_rows, r.params, r.config_hash) for r in runs} == {("als", "run", 100, '{"rank": 32}', config_hash(cfg))}
    with pytest.raises(
        InputMissingError, match=r"^no kmeans model trained on or before 2019-10-30 in ecomlake\.ml_model_runs; run `ecomlake profile "
    ):
        registry.latest_run(spark, cfg, "kmeans", dt.date(2019, 10, 30), "profile")  # another model's runs do not count
    latest = registry.latest_run(spark, cfg, "als", dt.date(2019, 10, 2), "recommend")
    assert (latest.run_date, latest.params, latest.artifact_path) == (
        dt.date(2019, 10, 1),
        {"rank": 32},
        f"{cfg.lake.root}/models/als/{registry.model_version(dt.date(2019, 10, 1), cfg.recommend)}",
    )
    assert registry.latest_run(spark, cfg, "als", dt.date(2019, 10, 30), "recommend").metrics == {"ndcg_at_k": 0.3}
