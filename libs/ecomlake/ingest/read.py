"""Reading raw event files as a layout says, and mapping them onto the bronze schema.

Bronze keeps every value as the string it came as: nothing is parsed or cast here (cleaning does
that), and nothing is dropped. CSV and JSON are read with an all-string schema in PERMISSIVE mode
plus a corrupt-record column, so a line the reader cannot split (wrong number of fields, broken
JSON) still becomes a row, with the whole line in ``raw_record``. The one exception to "as it came"
is the event-type vocabulary: the layout's ``event_types`` map source values onto the canonical
ones, so that cleaning needs no knowledge of layouts to recognise a view or a purchase.

Example:
    >>> layout = load_layout("rees46")  # doctest: +SKIP
    >>> raw = read_raw(spark, layout, ["/data/events.csv"])  # doctest: +SKIP
    >>> bronze = to_bronze(raw, layout, dt.date(2019, 10, 1), dt.datetime.now(dt.UTC), "run-1")  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ecomlake.config import IngestConfig
from ecomlake.errors import ConfigError, InputMissingError
from ecomlake.ingest.layouts import CORRUPT_RECORD_COLUMN, Layout, map_event_type, parse_event_time
from ecomlake.vocabulary import CANONICAL_COLUMNS

SOURCE_FILE = "source_file"
# Hadoop spells a local file "file:///x" when listing and "file:/x" in _metadata.file_path.
_EMPTY_AUTHORITY = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):///")


def day_input_path(ingest: IngestConfig, date: dt.date) -> str:
    """The folder of one day's raw files: ``<landing>/<day_path with {date}>``.

    Example:
        >>> day_input_path(IngestConfig(landing="/lake/landing/events"), dt.date(2019, 10, 1))
        '/lake/landing/events/event_date=2019-10-01'
    """
    assert ingest.landing, "load_config resolves ingest.landing"
    return f"{ingest.landing.rstrip('/')}/{ingest.day_path.format(date=date.isoformat())}"


def normalize_file_uri(uri: str) -> str:
    """A file URI spelled as Spark's ``_metadata.file_path`` spells it (``file:/x``, not ``file:///x``)."""
    return _EMPTY_AUTHORITY.sub(r"\1:/", uri)


def list_input_files(spark: SparkSession, paths: Sequence[str]) -> tuple[str, ...]:
    """The data files under ``paths`` (files, folders or globs), as Spark's file sources see them.

    Lists through Spark's own file index (hidden ``_``/``.`` files skipped, any Hadoop file system),
    reading no data. Raises InputMissingError naming the path when nothing is there.
    """
    try:
        files = spark.read.format("text").load(list(paths)).inputFiles()
    except AnalysisException as exc:
        if exc.getCondition() == "PATH_NOT_FOUND":
            raise InputMissingError(f"no input at {', '.join(paths)}: {exc.getMessage()} (check --date, --path or ingest.landing)") from exc
        raise
    if not files:
        raise InputMissingError(f"no input files in {', '.join(paths)} (the folder exists but holds no data files)")
    return tuple(sorted(normalize_file_uri(f) for f in files))


def _col(name: str) -> Column:
    """A column by its exact name, even with dots or spaces in it (source files have any names)."""
    return F.col("`" + name.replace("`", "``") + "`")


def _csv_fields(spark: SparkSession, layout: Layout, paths: Sequence[str]) -> tuple[str, ...]:
    """The CSV source columns in file order: the layout's ``fields``, else the header line of the first file.

    Every file's header is also checked against these by Spark (enforceSchema off), so a file of
    another layout fails loudly instead of filling the wrong columns.
    """
    fields = layout.fields or tuple(spark.read.options(**layout.options).csv(list(paths)).columns)  # reads one line
    missing = [(c, s) for c, s in layout.columns.items() if s not in fields]
    if missing:
        canonical, source = missing[0]
        raise ConfigError(
            f"{layout.origin}: key 'columns.{canonical}': source column {source!r} is not among the file's columns "
            f"({', '.join(fields)}) in {', '.join(paths)}; choose the matching layout with --layout or fix the layout file"
        )
    return fields


def read_raw(spark: SparkSession, layout: Layout, paths: Sequence[str]) -> DataFrame:
    """Read ``paths`` (files, folders or globs) as ``layout`` says: source columns as strings, corrupt record, source file.

    Reads the paths the user gave, not the listed files: listed names are URI-encoded, and a file
    name may hold glob characters.

    Output columns: every mapped source column (string, named as in the source),
    ``_corrupt_record`` (string; always NULL for Parquet) and ``source_file``.
    """
    if layout.format == "parquet":
        typed = spark.read.options(**layout.options).parquet(*paths)
        types = {f.name: f.dataType for f in typed.schema.fields}
        missing = [(c, s) for c, s in layout.columns.items() if s not in types]
        if missing:
            canonical, source = missing[0]
            raise ConfigError(
                f"{layout.origin}: key 'columns.{canonical}': the Parquet files have no column {source!r} (they have {', '.join(types)})"
            )

        def as_text(name: str) -> Column:
            # Bronze holds strings; a fixed timestamp pattern (session zone, UTC) keeps cleaning's parse simple.
            is_timestamp = isinstance(types[name], T.TimestampType | T.TimestampNTZType)
            return F.date_format(_col(name), "yyyy-MM-dd HH:mm:ss") if is_timestamp else _col(name).cast("string")

        return typed.select(
            *[as_text(s).alias(s) for s in layout.source_columns],
            F.lit(None).cast("string").alias(CORRUPT_RECORD_COLUMN),
            F.col("_metadata.file_path").alias(SOURCE_FILE),
        )

    fields = _csv_fields(spark, layout, paths) if layout.format == "csv" else layout.fields or layout.source_columns
    schema = T.StructType([T.StructField(f, T.StringType(), True) for f in fields] + [T.StructField(CORRUPT_RECORD_COLUMN, T.StringType(), True)])
    reader = (
        spark.read.schema(schema)
        .options(**layout.options)
        .option("mode", "PERMISSIVE")  # keep every record; malformed ones carry the raw line
        .option("columnNameOfCorruptRecord", CORRUPT_RECORD_COLUMN)
    )
    # CSV with a header: Spark checks every file's header names against the schema instead of trusting positions.
    raw = reader.option("enforceSchema", not layout.has_header).csv(list(paths)) if layout.format == "csv" else reader.json(list(paths))
    # Selecting the value columns with the corrupt one also avoids Spark's refusal of queries on raw
    # files that reference only the corrupt-record column.
    return raw.select(
        *[_col(s).alias(s) for s in layout.source_columns],
        _col(CORRUPT_RECORD_COLUMN),
        F.col("_metadata.file_path").alias(SOURCE_FILE),
    )


def to_bronze(raw: DataFrame, layout: Layout, ingest_date: dt.date, ingested_at: dt.datetime, run_id: str) -> DataFrame:
    """Map the raw columns onto bronze.events (ecomlake.catalog.events): canonical names, event types mapped, unmapped columns NULL.

    A pure transform of :func:`read_raw`'s output; values stay the strings they were.
    """

    def canonical(name: str) -> Column:
        source = layout.columns.get(name)
        return _col(source) if source is not None else F.lit(None).cast("string")

    values = {name: canonical(name) for name in CANONICAL_COLUMNS}
    values["event_type"] = map_event_type(values["event_type"], layout.event_types)
    return raw.select(
        *[values[name].alias(name) for name in CANONICAL_COLUMNS],
        _col(CORRUPT_RECORD_COLUMN).alias("raw_record"),
        F.col(SOURCE_FILE).alias("source_file"),
        F.lit(layout.name).alias("source_layout"),
        F.lit(layout.digest).alias("layout_hash"),
        F.lit(ingest_date).cast("date").alias("ingest_date"),
        F.lit(ingested_at).cast("timestamp").alias("ingested_at"),
        F.lit(run_id).alias("run_id"),
    )


def event_day(layout: Layout, first: dt.date, last: dt.date) -> Column:
    """A historic load's ingest date for each record: its event's UTC day, as if each day had been delivered on its own.

    An event before ``first`` or after ``last`` (or whose time does not parse) goes to the nearest end of the
    range, as if it had come with the first or the last day's delivery: cleaning then judges it there (a late
    arrival, or out of range), so no record is left behind. Over :func:`to_bronze`'s output (its canonical event_time).
    """
    day = F.to_date(parse_event_time(F.nullif(F.trim(F.col("event_time")), F.lit("")), layout.time_format))
    return F.when(day.isNull() | (day < F.lit(first)), F.lit(first)).when(day > F.lit(last), F.lit(last)).otherwise(day)
