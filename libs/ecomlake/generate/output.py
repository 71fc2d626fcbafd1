"""Writing generated events as the files a site would ship, and the manifest of what was injected.

Files are partitioned by the day the log was shipped (``event_date=YYYY-MM-DD/``), which is the
event's true date even where a fault moved its timestamp. Rows inside a file are sorted by time,
session and position, so a seed gives byte-identical file contents on every run and cluster.
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ecomlake.generate.faults import (
    COPY_FAULTS,
    FAULT_KINDS,
    MALFORMED_EXTRA_FIELD,
    MALFORMED_GARBLED_TIME,
    MALFORMED_NON_NUMERIC_ID,
    MALFORMED_TRUNCATED,
)
from ecomlake.vocabulary import EVENT_TYPES

REES46_COLUMNS = ("event_time", "event_type", "product_id", "category_id", "category_code", "brand", "price", "user_id", "user_session")
CSV_HEADER = ",".join(REES46_COLUMNS)


def _rees46_time(ts: Column) -> Column:
    """REES46 writes times as '2019-10-01 00:00:00 UTC'."""
    return F.concat(F.date_format(ts, "yyyy-MM-dd HH:mm:ss"), F.lit(" UTC"))


def _text_fields(df: DataFrame) -> dict[str, Column]:
    """Each REES46 column as the text a CSV line holds (NULL as an empty field)."""
    kind = F.col("malformed_kind")
    time_text = _rees46_time(F.col("event_time"))
    return {
        "event_time": F.when(
            kind == MALFORMED_GARBLED_TIME, F.concat(F.substring(time_text, 1, 14), F.lit("??"), F.substring(time_text, 17, 10))
        ).otherwise(time_text),
        "event_type": F.col("event_type"),
        "product_id": F.when(kind == MALFORMED_NON_NUMERIC_ID, F.concat(F.lit("x"), F.col("product_id").cast("string"))).otherwise(
            F.col("product_id").cast("string")
        ),
        "category_id": F.col("category_id").cast("string"),
        "category_code": F.coalesce(F.col("category_code"), F.lit("")),
        "brand": F.when(kind == MALFORMED_EXTRA_FIELD, F.concat(F.coalesce(F.col("brand"), F.lit("")), F.lit(",inc"))).otherwise(
            F.coalesce(F.col("brand"), F.lit(""))
        ),
        "price": F.format_string("%.2f", F.col("price")),
        "user_id": F.coalesce(F.col("user_id").cast("string"), F.lit("")),
        "user_session": F.coalesce(F.col("user_session"), F.lit("")),
    }


def csv_lines(df: DataFrame) -> DataFrame:
    """One REES46 CSV line per row (column named after the header), plus event_date."""
    fields = _text_fields(df)
    full = F.concat_ws(",", *[fields[c] for c in REES46_COLUMNS])
    truncated = F.concat_ws(",", *[fields[c] for c in REES46_COLUMNS[:-1]])  # 8 of 9 fields, like REES46's cut last line
    line = F.when(F.col("malformed_kind") == MALFORMED_TRUNCATED, truncated).otherwise(full)
    return df.select(line.alias(CSV_HEADER), "event_date")


def json_lines(df: DataFrame) -> DataFrame:
    """One JSON object per row (REES46 keys; NULL keys left out), plus event_date."""
    kind = F.col("malformed_kind")
    fields = _text_fields(df)
    record = F.to_json(F.struct(fields["event_time"].alias("event_time"), *REES46_COLUMNS[1:]))
    line = (
        F.when(kind == MALFORMED_NON_NUMERIC_ID, F.regexp_replace(record, '"product_id":([0-9]+)', '"product_id":"x$1"'))
        .when(kind.isin(MALFORMED_TRUNCATED, MALFORMED_EXTRA_FIELD), F.substring(record, 1, F.length(record) / 2))
        .otherwise(record)
    )
    return df.select(line.alias("value"), "event_date")


def write_events(df: DataFrame, fmt: str, path: str) -> None:
    """Write the events (with faults applied) to ``path`` in ``fmt``, replacing what was there."""
    ordered = df.sortWithinPartitions("event_date", "event_time", "session_key", "seq", "copy")
    if fmt == "csv":
        # The CSV writer gives every part file the header line. Handing it whole pre-rendered lines
        # (under a tab separator that never occurs in them) lets us write the lines no CSV writer
        # would, such as an 8-field line: injecting those is the point of a fault generator.
        (
            csv_lines(ordered)
            .write.mode("overwrite")
            .partitionBy("event_date")
            .option("header", True)
            .option("sep", "\t")
            .option("quote", "\u0001")
            .csv(path)
        )
    elif fmt == "json":
        json_lines(ordered).write.mode("overwrite").partitionBy("event_date").text(path)
    elif fmt == "parquet":
        ordered.select(*REES46_COLUMNS, "event_date").write.mode("overwrite").partitionBy("event_date").parquet(path)
    else:
        raise ValueError(f"unknown format {fmt!r}")


def manifest_counts(df: DataFrame) -> DataFrame:
    """Per event_date: rows written, human and bot events, sessions, true event types, faults injected."""
    is_first_copy = F.col("copy") == 0
    is_human = is_first_copy & ~F.col("is_bot")

    def count_where(condition: Column, name: str) -> Column:
        return F.sum(condition.cast("long")).alias(name)

    faults = [
        count_where((F.col("fault") == kind) & (F.col("copy") == 1 if kind in COPY_FAULTS else F.lit(True)), f"fault_{kind}") for kind in FAULT_KINDS
    ]
    types = [count_where(is_human & (F.col("true_event_type") == t), f"type_{t}") for t in EVENT_TYPES]
    return df.groupBy("event_date").agg(
        F.count(F.lit(1)).alias("rows"),
        count_where(is_human, "human_events"),
        count_where(is_first_copy & F.col("is_bot"), "bot_events"),
        count_where(is_human & (F.col("seq") == 0), "human_sessions"),
        count_where(is_first_copy & F.col("is_bot") & (F.col("seq") == 0), "bot_sessions"),
        *types,
        *faults,
    )


def build_manifest(per_date_rows: list[dict[str, Any]], header: dict[str, Any]) -> dict[str, Any]:
    """Nest the per-date counts and add totals: the JSON document written beside the data."""
    dates: dict[str, Any] = {}
    for row in sorted(per_date_rows, key=lambda r: str(r["event_date"])):
        dates[str(row["event_date"])] = {
            "rows": row["rows"],
            "human_events": row["human_events"],
            "bot_events": row["bot_events"],
            "human_sessions": row["human_sessions"],
            "bot_sessions": row["bot_sessions"],
            "event_types": {t: row[f"type_{t}"] for t in EVENT_TYPES},
            "faults": {k: row[f"fault_{k}"] for k in FAULT_KINDS},
        }
    totals: dict[str, Any] = {
        key: sum(d[key] for d in dates.values()) for key in ("rows", "human_events", "bot_events", "human_sessions", "bot_sessions")
    }
    totals["event_types"] = {t: sum(d["event_types"][t] for d in dates.values()) for t in EVENT_TYPES}
    totals["faults"] = {k: sum(d["faults"][k] for d in dates.values()) for k in FAULT_KINDS}
    return {**header, "totals": totals, "dates": dates}
