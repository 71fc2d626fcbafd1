"""Config loading: defaults, overrides, and a clear error naming key and origin for each failure kind."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from ecomlake.config import Config, config_hash, load_config
from ecomlake.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "conf.yaml"
    path.write_text(text)
    return path


def test_local_yaml_is_the_defaults() -> None:
    from_file = load_config(REPO / "conf" / "local.yaml", environ={})
    assert dataclasses.replace(from_file, origin="x") == dataclasses.replace(load_config(None, environ={}), origin="x")


def test_cluster_example_loads_and_keeps_uris() -> None:
    cfg = load_config(REPO / "conf" / "cluster.yaml", environ={})
    assert cfg.spark.master == "yarn"
    assert cfg.lake.root == "s3a://my-bucket/ecomlake"
    assert cfg.spark.checkpoint_dir == "hdfs:///tmp/ecomlake/checkpoints"
    assert cfg.spark.conf["spark.sql.adaptive.enabled"] == "true"


def test_defaults_resolve_paths_under_the_lake_root(tmp_path: Path) -> None:
    cfg = load_config(None, overrides=[f"lake.root={tmp_path}"], environ={})
    assert cfg.spark.checkpoint_dir == f"{tmp_path}/_checkpoints"
    assert cfg.generator.output == f"{tmp_path}/landing/events"
    assert cfg.generator.start_date == dt.date(2019, 10, 1)


def test_precedence_file_then_environment_then_set_then_flags(tmp_path: Path) -> None:
    path = write(tmp_path, "lake:\n  root: /from/file\ngenerator:\n  events: 5000\n")
    assert load_config(path, environ={}).lake.root == "/from/file"
    assert load_config(path, environ={"ECOMLAKE_LAKE_ROOT": "/from/env"}).lake.root == "/from/env"
    cfg = load_config(
        path, overrides=["lake.root=/from/set", "generator.events=7000"], environ={"ECOMLAKE_LAKE_ROOT": "/env"}, flags={"generator.events": 9000}
    )
    assert (cfg.lake.root, cfg.generator.events) == ("/from/set", 9000)


def test_unknown_key_names_key_and_file(tmp_path: Path) -> None:
    path = write(tmp_path, "spark:\n  mastr: local[4]\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={})
    assert str(path) in str(err.value) and "'spark.mastr'" in str(err.value) and "master" in str(err.value)


def test_unknown_section_names_key_and_file(tmp_path: Path) -> None:
    path = write(tmp_path, "sparky:\n  master: local[4]\n")
    with pytest.raises(ConfigError, match=r"conf\.yaml: key 'sparky': unknown key in the top level"):
        load_config(path, environ={})


def test_wrong_type_names_key_and_file(tmp_path: Path) -> None:
    path = write(tmp_path, "generator:\n  events: lots\n")
    with pytest.raises(ConfigError, match=r"conf\.yaml: key 'generator\.events': expected an integer, got 'lots'"):
        load_config(path, environ={})


def test_wrong_type_in_nested_section(tmp_path: Path) -> None:
    path = write(tmp_path, "generator:\n  faults:\n    duplicate: yes\n")
    with pytest.raises(ConfigError, match=r"key 'generator\.faults\.duplicate': expected a number, got True"):
        load_config(path, environ={})


def test_bad_choice_lists_the_choices(tmp_path: Path) -> None:
    path = write(tmp_path, "generator:\n  format: xml\n")
    with pytest.raises(ConfigError, match=r"key 'generator\.format': must be one of csv, json, parquet; got 'xml'"):
        load_config(path, environ={})


def test_missing_file_is_named() -> None:
    with pytest.raises(ConfigError, match=r"config file not found: /no/such/conf\.yaml"):
        load_config("/no/such/conf.yaml", environ={})


def test_missing_required_value_names_key_and_file(tmp_path: Path) -> None:
    path = write(tmp_path, "lake:\n  root:\n")
    with pytest.raises(ConfigError, match=r"conf\.yaml: key 'lake\.root': a value is required"):
        load_config(path, environ={})


def test_invalid_yaml_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "spark: [unclosed\n")
    with pytest.raises(ConfigError, match=r"conf\.yaml: not valid YAML"):
        load_config(path, environ={})


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "- a\n- b\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(path, environ={})


def test_impossible_combination_names_key(tmp_path: Path) -> None:
    path = write(tmp_path, "generator:\n  events: 1000\n  users: 5000\n")
    with pytest.raises(ConfigError, match=r"key 'generator\.users': must be between 1 and events \(1000\)"):
        load_config(path, environ={})
    path = write(tmp_path, "generator:\n  faults:\n    duplicate: 0.4\n    malformed: 0.2\n")
    with pytest.raises(ConfigError, match="fault rates add up to 0.6"):
        load_config(path, environ={})


def test_featurize_lists_and_weights_are_checked(tmp_path: Path) -> None:
    cfg = load_config(None, overrides=["featurize.windows_days=[1, 7]", "featurize.interaction_half_life_days=null"], environ={})
    assert cfg.featurize.windows_days == (1, 7) and cfg.featurize.interaction_half_life_days is None
    path = write(tmp_path, "featurize:\n  windows_days: [7, seven]\n")
    with pytest.raises(ConfigError, match=r"key 'featurize\.windows_days\[1\]': expected an integer, got 'seven'"):
        load_config(path, environ={})
    with pytest.raises(ConfigError, match=r"key 'featurize\.windows_days': must be distinct whole days >= 1"):
        load_config(None, overrides=["featurize.windows_days=[7, 7]"], environ={})
    with pytest.raises(ConfigError, match=r"key 'featurize\.windows_days': expected a list of integers, got 7"):
        load_config(None, overrides=["featurize.windows_days=7"], environ={})
    with pytest.raises(ConfigError, match=r"key 'featurize\.interaction_weights\.cart': must be >= 0"):
        load_config(None, overrides=["featurize.interaction_weights.cart=-1"], environ={})


def test_bad_override_names_the_flag() -> None:
    with pytest.raises(ConfigError, match=r"--set spark.shuffle_partitions=many: key 'spark.shuffle_partitions'"):
        load_config(None, overrides=["spark.shuffle_partitions=many"], environ={})
    with pytest.raises(ConfigError, match="expected key=value"):
        load_config(None, overrides=["spark.master"], environ={})
    with pytest.raises(ConfigError, match=r"--set lake.root=: key 'lake.root': must not be empty"):
        load_config(None, overrides=["lake.root="], environ={})


def test_set_reaches_spark_properties_whose_names_have_dots() -> None:
    cfg = load_config(None, overrides=["spark.conf.spark.eventLog.enabled=true", "spark.conf.spark.sql.shuffle.partitions=8"], environ={})
    assert cfg.spark.conf == {"spark.eventLog.enabled": "true", "spark.sql.shuffle.partitions": "8"}


def test_config_is_frozen_and_hash_is_stable() -> None:
    cfg = load_config(None, environ={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.spark.master = "yarn"  # type: ignore[misc]
    assert config_hash(cfg) == config_hash(load_config(None, environ={}))
    assert config_hash(cfg) != config_hash(load_config(None, overrides=["generator.seed=1"], environ={}))
    assert isinstance(cfg, Config)


def test_model_sections_are_checked() -> None:
    cfg = load_config(None, overrides=["profile.k=4", "propensity.features=[orders, revenue]", "recommend.exclude_seen=false"], environ={})
    assert (cfg.profile.k, cfg.propensity.features, cfg.recommend.exclude_seen) == (4, ("orders", "revenue"), False)
    with pytest.raises(ConfigError, match=r"key 'recommend\.test_fraction': must be between 0 and 1"):
        load_config(None, overrides=["recommend.test_fraction=1.5"], environ={})
    with pytest.raises(ConfigError, match=r"key 'recommend\.rank': must be >= 1"):
        load_config(None, overrides=["recommend.rank=0"], environ={})
    with pytest.raises(ConfigError, match=r"key 'profile\.log_features': must be among features"):
        load_config(None, overrides=["profile.features=[orders]", "profile.log_features=[revenue]"], environ={})
    with pytest.raises(ConfigError, match=r"key 'profile\.k_min'"):
        load_config(None, overrides=["profile.k_min=9"], environ={})
    with pytest.raises(ConfigError, match=r"key 'propensity\.models': must be among"):
        load_config(None, overrides=["propensity.models=[xgboost]"], environ={})
    with pytest.raises(ConfigError, match=r"key 'propensity\.validation_fraction'"):
        load_config(None, overrides=["propensity.validation_fraction=0.6", "propensity.test_fraction=0.5"], environ={})
