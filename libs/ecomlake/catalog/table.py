"""What a table of the lake is: where it lives, what it holds, who writes it and how long it keeps rows.

Free of Spark on purpose: the analysts' DuckDB side (:mod:`ecomlake.analyst.duck`) opens the same
tables by the same names in an environment without pyspark.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from ecomlake.config import FeaturizeConfig, LakeConfig
from ecomlake.schema import Field, TableSchema

Layer = Literal["bronze", "silver", "gold", "ml", "ops"]
DEFAULT_WINDOWS: tuple[int, ...] = FeaturizeConfig().windows_days
Fields = tuple[Field, ...] | Callable[[Sequence[int]], tuple[Field, ...]]  # windowed tables: fields for featurize.windows_days


@dataclass(frozen=True)
class Table:
    """One Delta table: at ``<lake.root>/<layer>/<name>``, named ``<database>.<layer>_<name>`` in the catalog.

    ``fields`` documents every column (a function of ``featurize.windows_days`` for the windowed feature
    tables); ``produced_by`` names the jobs that write it, which a missing input's error tells to run.
    ``append_only`` tables are histories: rows are added, never replaced. ``retention_days``: how long a
    slice (by the first partition column) is kept; None keeps every slice until it is erased or rebuilt.
    """

    layer: Layer
    name: str
    produced_by: tuple[str, ...]
    description: str
    fields: Fields
    partition_by: tuple[str, ...] = ()
    append_only: bool = False
    retention_days: int | None = None

    @property
    def key(self) -> str:
        """``<layer>.<name>``, as the data dictionary and the jobs' summaries name it."""
        return f"{self.layer}.{self.name}"

    def path(self, lake: LakeConfig) -> str:
        return f"{lake.root}/{self.layer}/{self.name}"

    def qualified_name(self, lake: LakeConfig) -> str:
        return f"{lake.database}.{self.layer}_{self.name}"

    def schema(self, windows: Sequence[int] = DEFAULT_WINDOWS) -> TableSchema:
        """The documented columns; ``windows`` (``featurize.windows_days``) names the windowed ones."""
        fields = self.fields if isinstance(self.fields, tuple) else self.fields(windows)
        return TableSchema(self.key, self.description, fields)

    @property
    def retention(self) -> str:
        """How long rows stay, in words (the data dictionary's)."""
        if self.append_only:
            return "append-only history: runs add rows, nothing is rewritten"
        if self.retention_days is not None:
            return f"slices older than {self.retention_days} days are expired"
        return "every slice is kept until it is replaced, rebuilt or erased"
