"""Documented table schemas: each column's name, type, meaning and unit, kept in one place.

A :class:`TableSchema` shapes a job's output (``conform`` selects the columns in order, casts them and
attaches each column's comment), is written into Delta as table and column comments (see
:func:`ecomlake.lake.write`), and renders the data dictionary (``docs/data_dictionary.md``).

Types are written in Spark's JSON form of a data type (``"long"``, :class:`ArrayOf`, :class:`MapOf`,
:class:`StructOf`), so this module and the table catalog need no Spark: the analysts' side imports
them in an environment without pyspark. :func:`spark_type` turns one into Spark's own type.

Example:
    >>> s = TableSchema("demo", "one row per user", (Field("user_id", LONG, "user", nullable=False),))
    >>> s.struct().fields[0].metadata["comment"]
    'user'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    from pyspark.sql import types as T

# Atomic types, by their name in Spark's JSON schema format.
LONG, INT, DOUBLE, FLOAT, STRING = "long", "integer", "double", "float", "string"
DATE, TIMESTAMP, BOOL = "date", "timestamp", "boolean"


@dataclass(frozen=True)
class ArrayOf:
    element: DataType
    contains_null: bool = True


@dataclass(frozen=True)
class MapOf:
    key: DataType
    value: DataType
    value_contains_null: bool = True


@dataclass(frozen=True)
class StructOf:
    """A struct of nullable fields: ``StructOf((("rank", INT), ("name", STRING)))``."""

    fields: tuple[tuple[str, DataType], ...]


DataType = str | ArrayOf | MapOf | StructOf


def json_type(t: DataType) -> str | dict[str, Any]:
    """The type in Spark's JSON schema format (what ``DataType.jsonValue()`` gives)."""
    if isinstance(t, str):
        return t
    if isinstance(t, ArrayOf):
        return {"type": "array", "elementType": json_type(t.element), "containsNull": t.contains_null}
    if isinstance(t, MapOf):
        return {"type": "map", "keyType": json_type(t.key), "valueType": json_type(t.value), "valueContainsNull": t.value_contains_null}
    return {"type": "struct", "fields": [_json_field(name, tp, True, "") for name, tp in t.fields]}


def spark_type(t: DataType) -> T.DataType:
    """Spark's data type for ``t`` (parsed from the JSON form by Spark's public API; no session needed)."""
    from pyspark.sql import types as T

    return T.StructType.fromJson({"type": "struct", "fields": [_json_field("t", t, True, "")]}).fields[0].dataType


def _json_field(name: str, t: DataType, nullable: bool, comment: str) -> dict[str, Any]:
    return {"name": name, "type": json_type(t), "nullable": nullable, "metadata": {"comment": comment} if comment else {}}


@dataclass(frozen=True)
class Field:
    """One column: what it means and in which unit (empty for identifiers, flags and names)."""

    name: str
    type: DataType
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
        from pyspark.sql import types as T

        return T.StructType.fromJson({"type": "struct", "fields": [_json_field(f.name, f.type, f.nullable, f.comment) for f in self.fields]})

    def conform(self, df: DataFrame) -> DataFrame:
        """``df``'s columns in the documented order and types, with comments; a missing or extra column is a bug."""
        from pyspark.sql import functions as F

        missing, extra = set(self.names) - set(df.columns), set(df.columns) - set(self.names)
        if missing or extra:
            raise ValueError(f"{self.name}: output columns do not match the documented schema; missing {sorted(missing)}, extra {sorted(extra)}")
        return df.select(*[F.col(f.name).cast(spark_type(f.type)).alias(f.name, metadata={"comment": f.comment}) for f in self.fields])

    def markdown(self) -> str:
        """The table as a Markdown section for the data dictionary."""
        lines = [f"### `{self.name}`", "", self.description, "", "| column | type | meaning | unit |", "|---|---|---|---|"]
        for f in self.fields:
            meaning = f.meaning.replace("|", "\\|")
            lines.append(f"| `{f.name}` | {spark_type(f.type).simpleString()} | {meaning} | {f.unit} |")
        return "\n".join(lines) + "\n"
