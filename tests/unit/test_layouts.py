"""Source layouts load strictly (like the config): each failure names the key and the file. Also the ingest config section."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from ecomlake.config import load_config
from ecomlake.errors import ConfigError
from ecomlake.ingest.layouts import Layout, builtin_layouts, check_event_types, load_layout
from ecomlake.vocabulary import CANONICAL_COLUMNS

RETAILROCKET_YAML = """\
name: my_retailrocket
format: csv
options:
  header: true
columns:
  event_time: timestamp
  event_type: event
  product_id: itemid
  user_id: visitorid
  order_id: transactionid
time_format: epoch_millis
event_types:
  addtocart: cart
  transaction: purchase
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "layout.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_builtin_layouts_load_and_are_named_after_their_files() -> None:
    assert builtin_layouts() == ("rees46", "rees46_json", "rees46_parquet", "retailrocket")
    layouts = {name: load_layout(name) for name in builtin_layouts()}
    assert {name: layout.name for name, layout in layouts.items()} == {name: name for name in builtin_layouts()}
    assert {name: layout.format for name, layout in layouts.items()} == {
        "rees46": "csv",
        "rees46_json": "json",
        "rees46_parquet": "parquet",
        "retailrocket": "csv",
    }
    rees46 = layouts["rees46"]
    assert tuple(rees46.columns) == CANONICAL_COLUMNS[:-1] and rees46.has_header and rees46.time_format == "yyyy-MM-dd HH:mm:ss z"
    assert layouts["rees46_parquet"].time_format == "timestamp"
    assert layouts["rees46"].origin.endswith("ecomlake/sources/rees46.yaml")


def test_retailrocket_maps_onto_canonical_columns() -> None:
    layout = load_layout("retailrocket")
    assert layout.columns == {
        "event_time": "timestamp",
        "event_type": "event",
        "product_id": "itemid",
        "user_id": "visitorid",
        "order_id": "transactionid",
    }
    assert layout.event_types == {"view": "view", "addtocart": "cart", "transaction": "purchase"}
    assert layout.source_columns == ("timestamp", "event", "itemid", "visitorid", "transactionid")


def test_a_layout_file_by_path(tmp_path: Path) -> None:
    path = write(tmp_path, RETAILROCKET_YAML)
    layout = load_layout(str(path))
    assert isinstance(layout, Layout) and layout.name == "my_retailrocket" and layout.origin == str(path)
    assert layout.options == {"header": "true"}  # YAML booleans become Spark's option text
    with pytest.raises(AttributeError):
        layout.name = "other"  # type: ignore[misc]  # frozen


def test_unknown_key_names_key_and_file(tmp_path: Path) -> None:
    path = write(tmp_path, RETAILROCKET_YAML.replace("time_format:", "time_fromat:"))
    with pytest.raises(ConfigError) as err:
        load_layout(str(path))
    assert f"{path}: key 'time_fromat': unknown key" in str(err.value) and "time_format" in str(err.value)


def test_wrong_type_names_key_and_file(tmp_path: Path) -> None:
    path = write(tmp_path, RETAILROCKET_YAML.replace("format: csv", "format: xml"))
    with pytest.raises(ConfigError, match=r"layout\.yaml: key 'format': must be one of csv, json, parquet; got 'xml'"):
        load_layout(str(path))
    path = write(tmp_path, RETAILROCKET_YAML.replace("time_format: epoch_millis", "time_format: 13"))
    with pytest.raises(ConfigError, match=r"layout\.yaml: key 'time_format': expected a string, got 13"):
        load_layout(str(path))
    path = write(tmp_path, RETAILROCKET_YAML + "fields: timestamp,visitorid\n")
    with pytest.raises(ConfigError, match=r"layout\.yaml: key 'fields': expected a list of strings"):
        load_layout(str(path))
    path = write(tmp_path, RETAILROCKET_YAML.replace("  user_id: visitorid\n", "  user_id: [visitorid]\n"))
    with pytest.raises(ConfigError, match=r"layout\.yaml: key 'columns\.user_id': expected a scalar value"):
        load_layout(str(path))


def test_missing_required_key_names_it_and_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, RETAILROCKET_YAML.replace("time_format: epoch_millis\n", ""))
    with pytest.raises(ConfigError, match=r"layout\.yaml: key '<root>': missing required key: .*'time_format'"):
        load_layout(str(path))
    path = write(tmp_path, RETAILROCKET_YAML.replace("  event_time: timestamp\n", ""))
    with pytest.raises(ConfigError, match=r"layout\.yaml: key 'columns': must map event_time"):
        load_layout(str(path))


def test_values_are_checked_against_the_canonical_schema(tmp_path: Path) -> None:
    path = write(tmp_path, RETAILROCKET_YAML.replace("  user_id: visitorid", "  visitor: visitorid"))
    with pytest.raises(ConfigError, match=r"key 'columns\.visitor': not a canonical column; map onto one of event_time, "):
        load_layout(str(path))
    path = write(tmp_path, RETAILROCKET_YAML.replace("addtocart: cart", "addtocart: Add To Cart"))
    with pytest.raises(ConfigError, match=r"key 'event_types\.addtocart': must name an event type such as view, cart, remove_from_cart, purchase"):
        load_layout(str(path))
    path = write(tmp_path, RETAILROCKET_YAML.replace("  header: true", "  header: true\n  mode: DROPMALFORMED"))
    with pytest.raises(ConfigError, match=r"key 'options\.mode': ingest sets this reader option itself"):
        load_layout(str(path))
    path = write(tmp_path, RETAILROCKET_YAML.replace("  header: true", "  header: false"))
    with pytest.raises(ConfigError, match=r"key 'fields': a CSV layout without header: true must list its source columns"):
        load_layout(str(path))
    path = write(tmp_path, RETAILROCKET_YAML + "fields: [timestamp, visitorid, event, itemid]\n")
    with pytest.raises(ConfigError, match=r"key 'fields': must list every mapped source column; missing transactionid"):
        load_layout(str(path))


def test_missing_file_and_unknown_name_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"layout file not found: /no/such/layout\.yaml"):
        load_layout("/no/such/layout.yaml")
    with pytest.raises(ConfigError, match=r"unknown layout 'rees47': built-in layouts are rees46, rees46_json, rees46_parquet, retailrocket"):
        load_layout("rees47")
    path = write(tmp_path, "- name\n")
    with pytest.raises(ConfigError, match=r"layout\.yaml: a layout must be a mapping"):
        load_layout(str(path))
    path = write(tmp_path, "name: [unclosed\n")
    with pytest.raises(ConfigError, match=r"layout\.yaml: not valid YAML"):
        load_layout(str(path))


def test_ingest_config_defaults_and_landing_resolution(tmp_path: Path) -> None:
    cfg = load_config(None, overrides=[f"lake.root={tmp_path}"], environ={})
    assert (cfg.ingest.layout, cfg.ingest.day_path) == ("rees46", "event_date={date}")
    assert cfg.ingest.landing == f"{tmp_path}/landing/events" == cfg.generator.output
    relative = load_config(None, overrides=["ingest.landing=incoming"], environ={})
    assert relative.ingest.landing == str(Path("incoming").resolve())
    assert load_config(None, overrides=["ingest.landing=s3a://b/landing"], environ={}).ingest.landing == "s3a://b/landing"


def test_ingest_config_is_validated(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"key 'ingest\.day_path': must contain \{date\}"):
        load_config(None, overrides=["ingest.day_path=daily"], environ={})
    with pytest.raises(ConfigError, match=r"key 'ingest\.day_path': only \{date\} may be substituted"):
        load_config(None, overrides=["ingest.day_path=day/{date}/{hour}"], environ={})
    conf = tmp_path / "conf.yaml"
    conf.write_text("ingest:\n  layuot: rees46\n")
    with pytest.raises(ConfigError, match=rf"{conf}: key 'ingest\.layuot': unknown key in ingest; known keys: day_path, landing, layout"):
        load_config(conf, environ={})


def test_a_layout_maps_only_onto_configured_event_types(tmp_path: Path) -> None:
    layout = load_layout(str(write(tmp_path, RETAILROCKET_YAML.replace("addtocart: cart", "addtocart: basket"))))
    with pytest.raises(
        ConfigError, match=r"layout\.yaml: key 'event_types\.addtocart': maps onto 'basket', which is not an event type .*events\.extra_types"
    ):
        check_event_types(layout, load_config().events.types)
    check_event_types(layout, load_config(overrides=["events.extra_types.basket=2.0"]).events.types)  # declared: accepted
    with pytest.raises(ConfigError, match=r"key 'events\.extra_types\.purchase': is already a canonical type"):
        load_config(overrides=["events.extra_types.purchase=1.0"])
    with pytest.raises(ConfigError, match=r"key 'events\.extra_types\.wish': the interaction weight must be >= 0"):
        load_config(overrides=["events.extra_types.wish=-1"])
    assert load_config(overrides=["events.extra_types={wishlist: 2, search: 0}"]).events.types[4:] == ("wishlist", "search")
