"""Documented table schemas: each column's name, type, meaning and unit, kept in one place.

A :class:`TableSchema` shapes a job's output (``conform`` selects the columns in order, casts them and
attaches each column's comment), is written into Delta as table and column comments (see
:func:`ecomlake.lake.write_table`), and renders the data dictionary (``docs/data_dictionary.md``).

Example:
    >>> s = TableSchema("demo", "one row per user", (Field("user_id", T.LongType(), "user", nullable=False),))
    >>> s.struct().fields[0].metadata["comment"]
    'user'
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T


@dataclass(frozen=True)
class Field:
    """One column: what it means and in which unit (empty for identifiers, flags and names)."""

    name: str
    type: T.DataType
    meaning: str
    unit: str = ""
    nullable: bool = True

    @property
    def comment(self) -> str:
        return f"{self.meaning} [{self.unit}]" if self.unit else self.meaning


@dataclass(frozen=True)
class TableSchema:
    """A table's documented columns; ``description`` says what one row is."""

    name: str
    description: str
    fields: tuple[Field, ...]

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    def struct(self) -> T.StructType:
        return T.StructType([T.StructField(f.name, f.type, f.nullable, {"comment": f.comment}) for f in self.fields])

    def conform(self, df: DataFrame) -> DataFrame:
        """``df``'s columns in the documented order and types, with comments; a missing or extra column is a bug."""
        missing, extra = set(self.names) - set(df.columns), set(df.columns) - set(self.names)
        if missing or extra:
            raise ValueError(f"{self.name}: output columns do not match the documented schema; missing {sorted(missing)}, extra {sorted(extra)}")
        return df.select(*[F.col(f.name).cast(f.type).alias(f.name, metadata={"comment": f.comment}) for f in self.fields])

    def markdown(self) -> str:
        """The table as a Markdown section for the data dictionary."""
        lines = [f"### `{self.name}`", "", self.description, "", "| column | type | meaning | unit |", "|---|---|---|---|"]
        for f in self.fields:
            meaning = f.meaning.replace("|", "\\|")
            lines.append(f"| `{f.name}` | {f.type.simpleString()} | {meaning} | {f.unit} |")
        return "\n".join(lines) + "\n"
