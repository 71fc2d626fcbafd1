"""The lake's Delta tables without Spark: opened by name through their Delta log (deltalake), queried with DuckDB.

Runs in the analysts' own environment (``scripts/setup_analyst.sh``; see requirements/analyst.txt for
why it is not the Spark one). A table is read from the files its Delta log lists for the version asked
(the current one by default), never by globbing Parquet files: files a later overwrite or delete
removed are not read, and ``versions={"gold_sessions": 3}`` travels back in time.

    >>> lake = DuckLake("lake")                                          # doctest: +SKIP
    >>> lake.sql("SELECT * FROM gold_daily_kpis ORDER BY kpi_date").df()  # doctest: +SKIP

From the shell: ``python -m ecomlake sql --engine duckdb --lake lake "SELECT ..."`` (:mod:`ecomlake.analyst.sql`).

Read-only: the tables are views over pyarrow datasets, which DuckDB cannot write (DELETE, UPDATE, INSERT on them
fail; CREATE and DROP touch only the connection's in-memory catalog). DuckDB itself can write files, though: COPY ...
TO (over a table's Parquet file too), EXPORT DATABASE, ATTACH of a database file, INSTALL of an extension. So
:meth:`DuckLake.sql` runs SELECT statements only (and EXPLAIN of one), checked on DuckDB's parse (:func:`require_read_only`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import duckdb
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from ecomlake.catalog import ALL_TABLES, Table
from ecomlake.config import LakeConfig
from ecomlake.errors import ConfigError, InputMissingError

# DESCRIBE, SHOW, SUMMARIZE, FROM t, VALUES and PIVOT ... IN (...) parse as SELECT too. An allow-list, deny by default:
# a statement type a later DuckDB adds is refused, not run.
READ_STATEMENTS = frozenset({duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN})
# EXPLAIN ANALYZE runs its statement (EXPLAIN ANALYZE COPY ... TO writes the file): what follows EXPLAIN and its
# options must itself parse as one SELECT. The statement's text as DuckDB split it starts with the keyword.
_EXPLAIN = re.compile(r"EXPLAIN\s+(?:ANALY[SZ]E\s+)?(?:\([^()]*\)\s*)?", re.IGNORECASE)


def _refusal(kind: str) -> ConfigError:
    return ConfigError(f"ecomlake sql is read-only: {kind} is not a query; it runs SELECT (also DESCRIBE, SHOW) and EXPLAIN of one; ran nothing")


def _parse(statement: str) -> list[duckdb.Statement]:
    try:
        return duckdb.extract_statements(statement)
    except duckdb.Error as exc:
        raise ConfigError(f"the query failed: {str(exc).splitlines()[0]}") from exc
    except ValueError as exc:  # a type the Python enum does not name (UPDATE EXTENSIONS in DuckDB 2.0): not a query either
        raise _refusal(f"a statement DuckDB's Python API cannot name ({exc})") from exc


def require_read_only(statement: str) -> None:
    """Refuse (ConfigError) SQL holding any statement but a SELECT or an EXPLAIN of one, on DuckDB's parse; nothing runs."""
    for parsed in _parse(statement):  # con.sql runs every statement of the text, not only the last
        if parsed.type not in READ_STATEMENTS:
            raise _refusal(parsed.type.name)
        if parsed.type == duckdb.StatementType.EXPLAIN:
            explained = _EXPLAIN.match(parsed.query)
            inner = _parse(parsed.query[explained.end() :]) if explained else []
            if [s.type for s in inner] != [duckdb.StatementType.SELECT]:
                raise _refusal(f"EXPLAIN of anything but one SELECT ({parsed.query.strip()[:60]!r})")


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
        """The statement's relation; a statement that is not a read is refused (ConfigError) before it runs."""
        require_read_only(statement)
        try:
            return self.con.sql(statement)
        except duckdb.Error as exc:
            raise ConfigError(f"the query failed: {str(exc).splitlines()[0]} (tables: {', '.join(sorted(self.tables))})") from exc
