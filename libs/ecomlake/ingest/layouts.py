"""Source layouts: how one kind of raw event file maps onto the canonical event columns.

A layout is a small YAML file (built-in ones in ``ecomlake/sources/``), loaded into a frozen
:class:`Layout` with the strictness of the config: an unknown key, a wrong type or a missing
required key raises :class:`~ecomlake.errors.ConfigError` naming the key and the file. A user with a
new layout writes YAML, not code, and passes its path wherever a layout name is accepted.

Example:
    >>> layout = load_layout("retailrocket")
    >>> layout.columns["user_id"], layout.event_types["addtocart"], layout.time_format
    ('visitorid', 'cart', 'epoch_millis')
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Literal

import yaml
from pyspark.sql import Column
from pyspark.sql import functions as F

from ecomlake import lake
from ecomlake.catalog import LAYOUTS
from ecomlake.config import Config, InvalidValue, from_mapping
from ecomlake.errors import ConfigError
from ecomlake.job import Context
from ecomlake.vocabulary import CANONICAL_COLUMNS, EVENT_TYPES, REQUIRED_COLUMNS

log = logging.getLogger(__name__)

# time_format values that are not Spark datetime patterns.
EPOCH_MILLIS, EPOCH_SECONDS, TYPED_TIMESTAMP = "epoch_millis", "epoch_seconds", "timestamp"
# How ingest renders a typed (Parquet) timestamp as text; parse_event_time reads it back with this pattern.
TIMESTAMP_TEXT_PATTERN = "yyyy-MM-dd HH:mm:ss"
CORRUPT_RECORD_COLUMN = "_corrupt_record"
# Reader options ingest sets itself, so that no record is ever dropped or silently re-typed.
RESERVED_OPTIONS = ("mode", "columnnameofcorruptrecord", "inferschema", "enforceschema")
RESERVED_SOURCE_COLUMNS = (CORRUPT_RECORD_COLUMN, "source_file", "_metadata")
BUILTIN_DIR = "sources"
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Layout:
    """One source layout: file format, reader options, column mapping, time format, event-type vocabulary."""

    name: str  # recorded in bronze.events.source_layout
    format: Literal["csv", "json", "parquet"]
    columns: dict[str, str]  # canonical column -> source column; canonical columns not listed are NULL
    time_format: str  # a Spark datetime pattern, or epoch_millis / epoch_seconds, or timestamp (typed input)
    event_types: dict[str, str] = field(default_factory=dict)  # source value -> canonical value; others pass through
    options: dict[str, str] = field(default_factory=dict)  # Spark reader options, e.g. header, sep
    fields: tuple[str, ...] = ()  # CSV: every source column in file order; () = read them from the header line
    description: str = ""
    origin: str = field(default="<code>", compare=False)  # the file it was loaded from
    text: str = field(default="", compare=False, repr=False)  # the YAML it was loaded from, as ingest records it (bronze.layouts)

    def validate(self) -> None:
        if not _NAME.match(self.name):
            raise InvalidValue("name", f"must be letters, digits, '_', '.' or '-'; got {self.name!r}")
        for canonical, source in self.columns.items():
            if canonical not in CANONICAL_COLUMNS:
                raise InvalidValue(f"columns.{canonical}", f"not a canonical column; map onto one of {', '.join(CANONICAL_COLUMNS)}")
            if not source:
                raise InvalidValue(f"columns.{canonical}", "the source column name must not be empty (leave the key out to get NULL)")
            if source in RESERVED_SOURCE_COLUMNS:
                raise InvalidValue(f"columns.{canonical}", f"{source!r} is a name ingest uses itself; rename the source column with fields")
        for canonical in REQUIRED_COLUMNS:
            if canonical not in self.columns:
                raise InvalidValue("columns", f"must map {canonical} (required: {', '.join(REQUIRED_COLUMNS)})")
        for source_value, canonical in self.event_types.items():
            if not _EVENT_TYPE.match(canonical):  # which types exist is the config's (events.extra_types): ingest checks it
                raise InvalidValue(f"event_types.{source_value}", f"must name an event type such as {', '.join(EVENT_TYPES)}; got {canonical!r}")
        if not self.time_format.strip():
            raise InvalidValue("time_format", f"must be a Spark datetime pattern or one of {EPOCH_MILLIS}, {EPOCH_SECONDS}, {TYPED_TIMESTAMP}")
        for key in self.options:
            if key.lower() in RESERVED_OPTIONS:
                raise InvalidValue(f"options.{key}", "ingest sets this reader option itself (PERMISSIVE, all strings, nothing dropped)")
        missing = [s for s in self.columns.values() if self.fields and s not in self.fields]
        if missing:
            raise InvalidValue("fields", f"must list every mapped source column; missing {', '.join(missing)}")
        if self.format == "csv" and not self.fields and not self.has_header:
            raise InvalidValue("fields", "a CSV layout without header: true must list its source columns in file order")

    @property
    def has_header(self) -> bool:
        """True when the CSV files start with a header line (option ``header``, case-insensitive)."""
        return any(k.lower() == "header" and v.lower() == "true" for k, v in self.options.items())

    @property
    def digest(self) -> str:
        """A short SHA-256 of the layout's YAML text: bronze rows name the exact version they were read with."""
        return hashlib.sha256(self.text.encode()).hexdigest()[:16]

    @property
    def source_columns(self) -> tuple[str, ...]:
        """The mapped source columns, each once, in canonical order."""
        return tuple(dict.fromkeys(self.columns[c] for c in CANONICAL_COLUMNS if c in self.columns))


def builtin_layouts() -> tuple[str, ...]:
    """The names of the layouts shipped in ``ecomlake/sources/``."""
    folder = resources.files("ecomlake") / BUILTIN_DIR
    return tuple(sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")))


def layout_path(name_or_path: str) -> Path | Traversable:
    """The YAML file of a layout: a built-in name (``rees46``) or a path to a file (``my/layout.yaml``)."""
    is_path = "/" in name_or_path or name_or_path.endswith((".yaml", ".yml"))
    if is_path:
        return Path(name_or_path)
    builtin = resources.files("ecomlake") / BUILTIN_DIR / f"{name_or_path}.yaml"
    if not builtin.is_file():
        raise ConfigError(
            f"unknown layout {name_or_path!r}: built-in layouts are {', '.join(builtin_layouts())}; "
            "or pass the path of a layout YAML file (see the README's 'Source layouts')"
        )
    return builtin  # a Traversable: it also reads from inside a zip (spark-submit --py-files)


def load_layout(name_or_path: str) -> Layout:
    """Load and validate a layout by built-in name or file path; every error is a ConfigError naming the file.

    Example:
        >>> load_layout("rees46").format
        'csv'
    """
    path = layout_path(name_or_path)
    if not path.is_file():
        raise ConfigError(f"layout file not found: {path} (pass a built-in name such as {', '.join(builtin_layouts())}, or an existing file)")
    return layout_from_text(path.read_text(encoding="utf-8"), str(path))


def layout_from_text(text: str, origin: str) -> Layout:
    """A layout from its YAML text (a file's, or the version bronze.layouts recorded at ingest); ``origin`` names it in errors."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{origin}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: a layout must be a mapping with keys name, format, columns, time_format, got {type(raw).__name__}")
    return dataclasses.replace(from_mapping(Layout, raw, origin), origin=origin, text=text)


def check_event_types(layout: Layout, event_types: Sequence[str]) -> None:
    """Every value the layout maps onto must be a configured event type (the four, or one of events.extra_types)."""
    for source_value, canonical in layout.event_types.items():
        if canonical not in event_types:
            raise ConfigError(
                f"{layout.origin}: key 'event_types.{source_value}': maps onto {canonical!r}, which is not an event type "
                f"({', '.join(event_types)}); declare it in events.extra_types with its interaction weight, e.g. "
                f"--set events.extra_types.{canonical}=1.0"
            )


def map_event_type(raw: Column, event_types: Mapping[str, str]) -> Column:
    """The canonical event type of a raw value; values the layout does not list pass through unchanged.

    Unknown values are kept (not NULLed) so that cleaning can count and quarantine them as such.
    """
    mapped: Column = raw
    for source_value, canonical in event_types.items():
        if source_value != canonical:
            mapped = F.when(raw == F.lit(source_value), F.lit(canonical)).otherwise(mapped)
    return mapped


def parse_event_time(raw: Column, time_format: str) -> Column:
    """The event time as a timestamp from bronze's raw text (for cleaning); NULL where it does not parse.

    Uses ``try_`` functions: under ANSI mode (Spark 4's default) a plain cast would fail the whole job
    on one garbled value.

    Example:
        >>> parse_event_time(F.col("event_time"), load_layout("retailrocket").time_format)  # doctest: +SKIP
    """
    if time_format == EPOCH_MILLIS:
        return F.timestamp_millis(raw.try_cast("long"))
    if time_format == EPOCH_SECONDS:
        return F.timestamp_seconds(raw.try_cast("long"))
    pattern = TIMESTAMP_TEXT_PATTERN if time_format == TYPED_TIMESTAMP else time_format
    return F.try_to_timestamp(raw, F.lit(pattern))


def record_layout(ctx: Context, layout: Layout) -> None:
    """Record the layout's exact version in bronze.layouts (once per version), so that clean reads it from the lake.

    A layout file changed under a name already recorded is a new version: logged with both versions, and
    the rows read with each name their own (bronze.events.layout_hash).
    """
    spark, config = ctx.spark, ctx.config
    known = lake.read(spark, config, LAYOUTS, missing="empty").where(F.col("name") == layout.name).select("layout_hash", "origin").collect()
    if any(r["layout_hash"] == layout.digest for r in known):
        return
    for r in known:
        log.warning(
            "layout %s changed: %s is version %s, bronze.layouts holds version %s (from %s); rows name the version they were read with",
            layout.name, layout.origin, layout.digest, r["layout_hash"], r["origin"],
        )  # fmt: skip
    record = {
        "layout_hash": layout.digest, "name": layout.name, "origin": layout.origin, "content": layout.text,
        "recorded_at": dt.datetime.now(dt.UTC), "run_id": ctx.run_id,
    }  # fmt: skip
    lake.append(spark, config, LAYOUTS, [record], where={"layout_hash": layout.digest})


def configured_layout(config: Config) -> Layout:
    """The layout of ingest.layout, its event types checked against the configured vocabulary (events)."""
    layout = load_layout(config.ingest.layout)
    check_event_types(layout, config.events.types)
    return layout
