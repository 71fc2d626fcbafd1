"""The data dictionary in docs/ is the one the table catalog renders (regenerate: `ecomlake docs`), and it covers every table:
its columns, the jobs that write it, its partitioning and how long it keeps rows."""

from __future__ import annotations

import re

from ecomlake.catalog import ALL_TABLES, RUN_LEDGER, SECTIONS, Table
from ecomlake.config import load_config
from ecomlake.dictionary import data_dictionary
from ecomlake.schema import LONG, Field
from tests.support import REPO

# Long columns that label rather than count: no unit.
LABELS = {"seed"}


def sections_of(text: str) -> dict[str, str]:
    """Each table's section of the dictionary (from its ### heading to the next heading), by table key."""
    parts = re.split(r"^(?=##+ )", text, flags=re.MULTILINE)
    found = {}
    for part in parts:
        heading = re.match(r"^### `([a-z_]+\.[a-z_]+)`$", part, flags=re.MULTILINE)
        if heading:
            found[heading.group(1)] = part
    return found


def test_committed_data_dictionary_is_current() -> None:
    committed = (REPO / "docs" / "data_dictionary.md").read_text()
    assert committed == data_dictionary(load_config(None, environ={})), "docs/data_dictionary.md is stale: run `ecomlake docs`"


def test_every_table_of_the_catalog_has_a_section() -> None:
    committed = (REPO / "docs" / "data_dictionary.md").read_text()
    sections = re.findall(r"^### `([a-z_]+\.[a-z_]+)`$", committed, flags=re.MULTILINE)
    tables = [t.key for t in ALL_TABLES]
    assert sections == tables, "docs/data_dictionary.md must have one section per table of ecomlake.catalog.ALL_TABLES, in catalog order"
    assert len(tables) == len(set(tables)), "a table declared twice in the catalog"
    assert [t for _, group in SECTIONS for t in group] == list(ALL_TABLES)
    assert "ops.generator_runs" not in committed  # generate's figures are in ops.run_ledger now


def test_every_section_says_who_writes_the_table_its_partitioning_and_retention() -> None:
    by_key = sections_of(data_dictionary(load_config(None, environ={})))
    assert set(by_key) == {t.key for t in ALL_TABLES}
    for table in ALL_TABLES:
        section = by_key[table.key]
        writers = ", ".join("every job" if job == "every job" else f"`ecomlake {job}`" for job in table.produced_by)
        partitioning = ", ".join(table.partition_by) or "nothing"
        facts = f"Written by: {writers}. Partitioned by: {partitioning}. Retention: {table.retention}."
        assert facts in section, f"{table.key}: expected {facts!r}"
        assert table.description in section and section.index(facts) < section.index(table.description)
        for f in table.schema().fields:
            assert f"| `{f.name}` |" in section, f"{table.key}.{f.name} is not in its section"
    assert "Written by: every job. Partitioned by: nothing. Retention: append-only history" in by_key[RUN_LEDGER.key]
    featurize = by_key["gold.user_features"]
    assert "Written by: `ecomlake featurize`. Partitioned by: as_of_date." in featurize and "| `views_90d` |" in featurize


def test_the_producers_of_every_table_are_jobs_of_the_command_line() -> None:
    from ecomlake.jobs import JOB_MODULES

    for table in ALL_TABLES:
        assert table.produced_by, f"{table.key} names no producer"
        unknown = [job for job in table.produced_by if job not in JOB_MODULES and job != "every job"]
        assert not unknown, f"{table.key}: produced_by names {unknown}, which are not ecomlake commands"


def test_retention_in_words() -> None:
    fields = (Field("day", LONG, "a day number", "days"),)
    assert Table("ops", "t", ("clean",), "d", fields, retention_days=30).retention == "slices older than 30 days are expired"
    assert Table("ops", "t", ("clean",), "d", fields, append_only=True).retention.startswith("append-only history")
    assert Table("ops", "t", ("clean",), "d", fields).retention == "every slice is kept until it is replaced, rebuilt or erased"


def test_windowed_columns_follow_the_configured_windows() -> None:
    text = data_dictionary(load_config(None, overrides=["featurize.windows_days=[7, 28]"], environ={}))
    user_features = sections_of(text)["gold.user_features"]
    assert "| `views_28d` |" in user_features and "| `views_90d` |" not in user_features
    assert "shown for the default `featurize.windows_days` (7, 28)" in text


def test_every_documented_column_has_a_meaning_and_numbers_have_units() -> None:
    for table in ALL_TABLES:
        schema = table.schema((7, 30))
        assert len(set(schema.names)) == len(schema.names), schema.name
        for f in schema.fields:
            assert len(f.meaning) > 5, f"{schema.name}.{f.name}"
            is_measure = f.type in ("double", "long") and not f.name.endswith("_id") and f.name not in LABELS
            assert f.unit or not is_measure, f"{schema.name}.{f.name} is a number without a unit"
