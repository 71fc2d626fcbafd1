"""The data dictionary in docs/ is the one the schemas in code render (regenerate: `ecomlake docs`)."""

from __future__ import annotations

from ecomlake.config import load_config
from ecomlake.dictionary import data_dictionary, model_schemas
from ecomlake.featurize.schemas import gold_schemas
from tests.conftest import REPO


def test_committed_data_dictionary_is_current() -> None:
    committed = (REPO / "docs" / "data_dictionary.md").read_text()
    assert committed == data_dictionary(load_config(None, environ={})), "docs/data_dictionary.md is stale: run `ecomlake docs`"


def test_every_documented_column_has_a_meaning_and_numbers_have_units() -> None:
    for schema in (*gold_schemas((7, 30)), *model_schemas()):
        assert len(set(schema.names)) == len(schema.names), schema.name
        for f in schema.fields:
            assert len(f.meaning) > 5, f"{schema.name}.{f.name}"
            is_measure = f.type.typeName() in ("double", "long") and not f.name.endswith("_id")
            assert f.unit or not is_measure, f"{schema.name}.{f.name} is a number without a unit"
