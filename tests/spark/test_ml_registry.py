"""The pieces the model jobs share: int32 id indexes, the model run record (ml.model_runs) and what a record may point at:
versions checked before a path or a slice is built, paths inside the lake's models folder, files as recorded."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import shutil
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from ecomlake import artifacts, lake
from ecomlake.artifacts import ArtifactPathError, TamperedArtifactError
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


# ---- what a row may point at: versions, paths, files (ecomlake.artifacts) ----------------------------

VERSION = "20191021-3f2a9c1b"


@pytest.mark.parametrize(
    "bad",
    ["20191021-3f2a9c1b' OR '1'='1", "../../../etc", "20191021-3f2a9c1b/..", "2019-10-21", "20191021-3F2A9C1B", "20191021-3f2a9c1", "", None],
)
def test_a_malformed_version_is_refused_before_a_path_or_slice_is_built(config: Config, bad: object) -> None:
    with pytest.raises(registry.InvalidVersionError, match=r"is not of the form YYYYMMDD-<8 hex digits>"):
        registry.check_version(bad, "test")
    with pytest.raises(registry.InvalidVersionError):
        registry.artifact_path(config, "kmeans_profile", bad)  # type: ignore[arg-type]
    with pytest.raises(registry.InvalidVersionError):
        registry.artifact_path(config, "../kmeans_profile", VERSION)


def test_a_malformed_version_in_the_table_is_refused(spark: SparkSession, config: Config, tmp_path: Path) -> None:
    """A row edited into ml.model_runs: its version never reaches a path or a replaceWhere, and record_run writes none."""
    cfg = lake_config(config, tmp_path)
    bad = "20191021-3f2a9c1b' OR true OR '"
    with pytest.raises(registry.InvalidVersionError):
        registry.record_run(spark, cfg, "kmeans_profile", bad, dt.date(2019, 10, 21), "run", 1, {}, {})
    assert not lake.exists(spark, cfg.lake, MODEL_RUNS)
    row = {"model": "kmeans_profile", "model_version": bad, "run_date": dt.date(2019, 10, 21), "run_id": "edited", "params": "{}"}
    lake.append(spark, cfg, MODEL_RUNS, [row | {"artifact_path": f"{cfg.lake.root}/models/kmeans_profile/x"}])
    table = re.escape(MODEL_RUNS.qualified_name(cfg.lake))
    with pytest.raises(registry.InvalidVersionError, match=rf"^{table} row of kmeans_profile \(run edited\): model version .* refusing to use it"):
        registry.latest_run(spark, cfg, "kmeans_profile", dt.date(2019, 10, 30), "profile")
    with pytest.raises(registry.InvalidVersionError):
        registry.recorded_run(spark, cfg, "kmeans_profile", bad)


def _artifact(cfg: Config, model: str = "kmeans_profile", version: str = VERSION) -> registry.ModelRun:
    """A small artifact folder (two files) in cfg's models folder and the run record of it, as a job records it."""
    folder = Path(registry.artifact_path(cfg, model, version))
    (folder / "stages" / "0_SQLTransformer" / "metadata").mkdir(parents=True)
    (folder / "stages" / "0_SQLTransformer" / "metadata" / "part-00000").write_text('{"statement": "SELECT * FROM __THIS__"}')
    (folder / "metadata").mkdir()
    (folder / "metadata" / "part-00000").write_text('{"class": "pyspark.ml.PipelineModel"}')
    files = tuple(artifacts.scan(str(folder)))
    return registry.ModelRun(model, version, dt.date(2019, 10, 21), str(folder), {}, {}, "run-1", files, "profile")


def test_recorded_paths_must_lie_in_the_models_folder_of_their_model(config: Config, tmp_path: Path) -> None:
    cfg = lake_config(config, tmp_path / "lake")
    run = _artifact(cfg)
    assert registry.checked_artifact(cfg, run).root == str(Path(run.artifact_path).resolve())
    models = f"{cfg.lake.root}/models/kmeans_profile"
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(run.artifact_path, elsewhere)  # the same files, outside the lake: their hashes match, their place does not
    other = Path(_artifact(cfg, "als").artifact_path)
    link = Path(models) / "20191022-3f2a9c1b"
    link.symlink_to(elsewhere, target_is_directory=True)
    for path, why in (
        (f"{models}/../../../elsewhere", "holds '..'"),
        (str(elsewhere), f"is not inside {re.escape(models)}"),
        (str(other), f"is not inside {re.escape(models)}"),  # another model's folder
        (str(link), f"is not inside {re.escape(models)}"),  # a symbolic link out
        (f"hdfs://namenode/{elsewhere}", f"is not inside {re.escape(models)}"),
    ):
        with pytest.raises(ArtifactPathError, match=rf"^kmeans_profile {VERSION} \(run run-1\): the recorded path .* {why}; refusing to read it"):
            registry.checked_artifact(cfg, dataclasses.replace(run, artifact_path=path))
    assert (
        artifacts.inside("hdfs://nn:8020/lake/models/m/v", "hdfs://nn:8020/lake/models/m", what="m", recover="") == "hdfs://nn:8020/lake/models/m/v"
    )
    with pytest.raises(ArtifactPathError):
        artifacts.inside("hdfs://other:8020/lake/models/m/v", "hdfs://nn:8020/lake/models/m", what="m", recover="")
    # A symbolic link inside the folder, even to a file with the recorded content, is not a file the job wrote.
    target = Path(run.artifact_path) / "metadata" / "part-00000"
    (elsewhere / "metadata" / "part-00000").replace(tmp_path / "copy")
    target.unlink()
    target.symlink_to(tmp_path / "copy")
    with pytest.raises(TamperedArtifactError, match=r"metadata/part-00000 is a symbolic link"):
        registry.checked_artifact(cfg, run)


def test_a_row_without_file_hashes_or_with_other_files_is_refused(config: Config, tmp_path: Path) -> None:
    cfg = lake_config(config, tmp_path)
    run = _artifact(cfg)
    with pytest.raises(TamperedArtifactError, match=rf"^kmeans_profile {VERSION} \(run run-1\): .* records no file hashes for it .* Re-run "
                       r"`ecomlake profile --date 2019-10-21` to write it again\.$"):  # fmt: skip
        registry.checked_artifact(cfg, dataclasses.replace(run, files=()))  # a row of an earlier version
    (Path(run.artifact_path) / "stages" / "1_extra").mkdir()
    (Path(run.artifact_path) / "stages" / "1_extra" / "part-00000").write_text("{}")
    with pytest.raises(TamperedArtifactError, match=r": stages/1_extra/part-00000 is not among the files recorded in ecomlake\.ml_model_runs; "):
        registry.checked_artifact(cfg, run)
