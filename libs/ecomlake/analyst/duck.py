"""The lake's Delta tables without Spark: opened by name through their Delta log (deltalake), queried with DuckDB.

Runs in the analysts' own environment (``scripts/setup_analyst.sh``; see requirements/analyst.txt for
why it is not the Spark one). A table is read from the files its Delta log lists for the version asked
(the current one by default), never by globbing Parquet files: files a later overwrite or delete
removed are not read, and ``versions={"gold_sessions": 3}`` travels back in time.

    >>> lake = DuckLake("lake")                                          # doctest: +SKIP
    >>> lake.sql("SELECT * FROM gold_daily_kpis ORDER BY kpi_date").df()  # doctest: +SKIP

From the shell: ``python -m ecomlake sql --engine duckdb --lake lake "SELECT ..."`` (:mod:`ecomlake.analyst.sql`).
"""

from __future__ import annotations

from collections.abc import Mapping

import duckdb
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from ecomlake.catalog import ALL_TABLES, Table
from ecomlake.config import LakeConfig
from ecomlake.errors import ConfigError, InputMissingError


class DuckLake:
    """A DuckDB connection with every existing table of the lake as a view ``<layer>_<name>`` (also ``<database>.<layer>_<name>``)."""

    def __init__(self, root: str, database: str = "ecomlake", versions: Mapping[str, int] | None = None, threads: int | None = None) -> None:
        self.lake = LakeConfig(root=root, database=database)
        self.versions = dict(versions or {})
        unknown = set(self.versions) - {self.view_name(t) for t in ALL_TABLES}
        if unknown:
            raise ConfigError(f"versions: no table named {', '.join(sorted(unknown))}; tables are {', '.join(self.view_name(t) for t in ALL_TABLES)}")
        self.con = duckdb.connect()
        if threads is not None:
            self.con.execute(f"SET threads = {int(threads)}")
        self.con.execute(f'CREATE SCHEMA IF NOT EXISTS "{database}"')
        self.tables: dict[str, DeltaTable] = {}
        for table in ALL_TABLES:
            delta = self._open(table)
            if delta is None:
                continue
            name = self.view_name(table)
            self.tables[name] = delta
            # A pyarrow dataset of exactly the log's files for that version; DuckDB pushes filters and projections into it.
            self.con.register(f"__delta_{name}", delta.to_pyarrow_dataset())
            self.con.execute(f'CREATE VIEW "{name}" AS SELECT * FROM "__delta_{name}"')
            self.con.execute(f'CREATE VIEW "{database}"."{name}" AS SELECT * FROM "__delta_{name}"')

    @staticmethod
    def view_name(table: Table) -> str:
        return f"{table.layer}_{table.name}"

    def _open(self, table: Table) -> DeltaTable | None:
        name, path = self.view_name(table), table.path(self.lake)
        try:
            return DeltaTable(path, version=self.versions.get(name))
        except TableNotFoundError:
            if name in self.versions:
                raise InputMissingError(f"{name}: no Delta table at {path}") from None
            return None
        except Exception as exc:  # deltalake raises a plain exception for a version the log does not have
            if name in self.versions:
                raise InputMissingError(f"{name} at {path}: cannot open version {self.versions[name]}: {exc}") from exc
            raise

    def version(self, name: str) -> int:
        """The Delta version of a table as opened."""
        return self.tables[name].version()

    def sql(self, statement: str) -> duckdb.DuckDBPyRelation:
        try:
            return self.con.sql(statement)
        except duckdb.Error as exc:
            raise ConfigError(f"the query failed: {str(exc).splitlines()[0]} (tables: {', '.join(sorted(self.tables))})") from exc
