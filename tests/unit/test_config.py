"""Config loading: defaults, overrides, and a clear error naming key and origin for each failure kind."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from pathlib import Path

import pytest

from ecomlake.config import Config, PipelineConfig, config_hash, load_config
from ecomlake.errors import ConfigError
from ecomlake.pipeline.dag import DEFAULT_STEPS, STEP_NAMES, STEPS
from ecomlake.session import session_confs
from tests.support import REPO


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
    with pytest.raises(ConfigError, match=r"key 'propensity\.models\[0\]': must be one of logistic_regression, random_forest, gbt; got 'xgboost'$"):
        load_config(None, overrides=["propensity.models=[xgboost]"], environ={})
    with pytest.raises(ConfigError, match=r"key 'propensity\.validation_fraction'"):
        load_config(None, overrides=["propensity.validation_fraction=0.6", "propensity.test_fraction=0.5"], environ={})


@pytest.mark.parametrize(
    "override, key, choices, got",
    [
        ("sequences.unit=visit", "sequences.unit", "user, session", "'visit'"),
        ("lstm.launcher=mpirun", "lstm.launcher", "horovod, horovodrun, torch_distributor", "'mpirun'"),
        ("lstm.reader=pandas", "lstm.reader", "petastorm, pyarrow", "'pandas'"),
        ("propensity.targets=[churned, bought]", "propensity.targets[1]", "churned, purchased", "'bought'"),
        ("propensity.models=[gbt, svm]", "propensity.models[1]", "logistic_regression, random_forest, gbt", "'svm'"),
    ],
)
def test_literal_settings_refuse_a_value_outside_their_choices(override: str, key: str, choices: str, got: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(None, overrides=[override], environ={})
    assert str(err.value).endswith(f": key '{key}': must be one of {choices}; got {got}"), str(err.value)
    if "[" not in key:  # a list element's origin: see test_a_list_elements_error_names_its_set_flag
        assert str(err.value).startswith(f"--set {override}: ")


def test_a_list_elements_error_names_its_set_flag() -> None:
    with pytest.raises(ConfigError) as err:
        load_config(None, overrides=["propensity.models=[gbt, svm]"], environ={})
    assert str(err.value).startswith("--set propensity.models=[gbt, svm]: key 'propensity.models[1]'"), str(err.value)


def test_literal_settings_in_a_file_name_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "lstm:\n  launcher: horovod\n  reader: arrow\n")
    with pytest.raises(ConfigError, match=rf"^{path}: key 'lstm\.reader': must be one of petastorm, pyarrow; got 'arrow'$"):
        load_config(path, environ={})
    path = write(tmp_path, "propensity:\n  targets: [churned, churn]\n")
    with pytest.raises(ConfigError, match=rf"^{path}: key 'propensity\.targets\[1\]': must be one of churned, purchased; got 'churn'$"):
        load_config(path, environ={})
    cfg = load_config(None, overrides=["sequences.unit=session", "lstm.launcher=torch_distributor", "lstm.reader=pyarrow"], environ={})
    assert (cfg.sequences.unit, cfg.lstm.launcher, cfg.lstm.reader) == ("session", "torch_distributor", "pyarrow")


def test_files_per_split_must_cover_the_training_processes(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(None, overrides=["sequences.files_per_split=2", "lstm.num_proc=4"], environ={})
    message = str(err.value)
    assert "key 'sequences.files_per_split': must be >= lstm.num_proc (4): each training process reads whole files; got 2" in message
    assert message.startswith("--set sequences.files_per_split=2: ")
    path = write(tmp_path, "sequences:\n  files_per_split: 1\n")
    with pytest.raises(ConfigError, match=rf"^{path}: key 'sequences\.files_per_split': must be >= lstm\.num_proc \(2\)"):
        load_config(path, environ={})
    cfg = load_config(None, overrides=["sequences.files_per_split=4", "lstm.num_proc=4"], environ={})
    assert (cfg.sequences.files_per_split, cfg.lstm.num_proc) == (4, 4)


@pytest.mark.parametrize("section", ["profile", "propensity"])
def test_model_features_must_be_numeric_user_features_columns(section: str) -> None:
    extra = ["profile.log_features=[orders]"] if section == "profile" else []
    for column in ("rfm_segment", "top_categories", "last_event_time", "as_of_date", "user_id"):  # a string, an array, a time, a date, the id
        with pytest.raises(ConfigError, match=rf"key '{section}\.features': \['{column}'\] are not numeric gold\.user_features columns; choose"):
            load_config(None, overrides=[f"{section}.features=[orders, {column}]", *extra], environ={})
    with pytest.raises(ConfigError, match=rf"key '{section}\.features': \['basket_size'\] are not numeric gold\.user_features columns"):
        load_config(None, overrides=[f"{section}.features=[orders, basket_size]", *extra], environ={})
    # The windowed columns follow featurize.windows_days: views_90d exists by default, not with windows 7 and 28.
    assert load_config(None, overrides=[f"{section}.features=[orders, views_90d]", *extra], environ={})
    with pytest.raises(ConfigError) as err:
        load_config(None, overrides=[f"{section}.features=[orders, views_90d]", "featurize.windows_days=[7, 28]", *extra], environ={})
    assert f"key '{section}.features': ['views_90d'] are not numeric gold.user_features columns" in str(err.value)
    assert "views_28d" in str(err.value) and "'orders'" in str(err.value)


def test_the_default_profile_features_are_valid_for_any_windows() -> None:
    cfg = load_config(None, overrides=["featurize.windows_days=[1, 3]"], environ={})
    assert cfg.profile.features and cfg.propensity.features is None


def test_pipeline_steps_default_to_the_dags_default_steps() -> None:
    cfg = load_config(None, environ={})
    assert cfg.pipeline.steps == DEFAULT_STEPS == PipelineConfig().steps
    assert DEFAULT_STEPS == tuple(s.job for s in STEPS if s.default) == ("ingest", "clean", "featurize", "profile", "recommend", "propensity")
    assert tuple(s.job for s in STEPS if not s.default) == ("sequences", "train-lstm", "score-lstm") == STEP_NAMES[len(DEFAULT_STEPS) :]
    lstm = load_config(None, overrides=[f"pipeline.steps=[{', '.join(STEP_NAMES)}]"], environ={})
    assert lstm.pipeline.steps == STEP_NAMES
    with pytest.raises(ConfigError, match=r"key 'pipeline\.steps': must name steps among \['ingest', .*'score-lstm'\], got \['ingest', 'report'\]"):
        load_config(None, overrides=["pipeline.steps=[ingest, report]"], environ={})
    with pytest.raises(ConfigError, match=r"key 'pipeline\.steps': must be distinct and in pipeline order"):
        load_config(None, overrides=["pipeline.steps=[clean, ingest]"], environ={})


def test_the_key_variable_must_be_one_spark_redacts() -> None:
    # Spark shows environment variables and properties in its UI and event log unless spark.redaction.regex matches them.
    assert load_config(None, overrides=["privacy.key_env=SHOP_HMAC_KEY"], environ={}).privacy.key_env == "SHOP_HMAC_KEY"
    with pytest.raises(ConfigError, match=r"privacy.key_env.*'SHOP_SALT' must match .* so Spark redacts it"):
        load_config(None, overrides=["privacy.key_env=SHOP_SALT"], environ={})
    confs = session_confs(load_config(None, environ={}).spark)
    assert re.search(confs["spark.redaction.regex"], "ECOMLAKE_PSEUDONYM_KEY")
