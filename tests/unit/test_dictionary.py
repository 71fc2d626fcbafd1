"""The data dictionary in docs/ is the one the schemas in code render (regenerate: `ecomlake docs`), and it covers every table."""

from __future__ import annotations

import re

from ecomlake.config import load_config
from ecomlake.dictionary import all_schemas, data_dictionary
from ecomlake.tables import ALL_TABLES
from tests.conftest import REPO

# Long columns that label rather than count: no unit.
LABELS = {"seed"}


def test_committed_data_dictionary_is_current() -> None:
    committed = (REPO / "docs" / "data_dictionary.md").read_text()
    assert committed == data_dictionary(load_config(None, environ={})), "docs/data_dictionary.md is stale: run `ecomlake docs`"


def test_every_table_of_the_lake_has_a_section() -> None:
    committed = (REPO / "docs" / "data_dictionary.md").read_text()
    sections = re.findall(r"^### `([a-z_]+\.[a-z_]+)`$", committed, flags=re.MULTILINE)
    tables = [f"{t.layer}.{t.name}" for t in ALL_TABLES]
    assert not [t for t in tables if t not in sections], "tables of ecomlake.tables.ALL_TABLES without a section in docs/data_dictionary.md"
    assert not [s for s in sections if s not in tables], "sections of docs/data_dictionary.md that are not tables of ecomlake.tables.ALL_TABLES"
    assert len(sections) == len(set(sections)), "a table documented twice"


def test_every_documented_column_has_a_meaning_and_numbers_have_units() -> None:
    for schema in all_schemas((7, 30)):
        assert len(set(schema.names)) == len(schema.names), schema.name
        for f in schema.fields:
            assert len(f.meaning) > 5, f"{schema.name}.{f.name}"
            is_measure = f.type.typeName() in ("double", "long") and not f.name.endswith("_id") and f.name not in LABELS
            assert f.unit or not is_measure, f"{schema.name}.{f.name} is a number without a unit"
