"""The cleaning rules one by one, on tiny inline DataFrames: parse, quarantine reason and detail,
duplicates, bots, filling. The end-to-end runs (real files, Delta tables, counts) are in test_clean.py.

Rows are named where they would be hard to tell apart (bronze's source_file, a ``label`` column), and
every expected row is compared whole; codes are written as literals: they are the contract.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual, assertSchemaEqual

from ecomlake.clean.pseudonyms import new_numbers, with_pseudonyms
from ecomlake.clean.rules import (
    delivered_records,
    fill_category_and_brand,
    flag_bots,
    mark_duplicates,
    mark_redelivered,
    parse_events,
    quarantine_detail,
    quarantine_reason,
)
from ecomlake.config import CleanConfig
from ecomlake.ingest.layouts import load_layout
from ecomlake.vocabulary import CANONICAL_COLUMNS, EVENT_TYPES
from tests.support import secret_forms

RUN_DATE = dt.date(2019, 10, 1)
LAYOUTS = {"rees46": load_layout("rees46"), "retailrocket": load_layout("retailrocket")}  # yyyy-MM-dd HH:mm:ss z; epoch_millis

# ---- parse_events, quarantine_reason and quarantine_detail on bronze rows --------------------------

BRONZE_DDL = (
    "event_time STRING, event_type STRING, product_id STRING, category_id STRING, category_code STRING, brand STRING, price STRING, "
    "user_id STRING, user_session STRING, order_id STRING, raw_record STRING, source_file STRING, source_layout STRING, ingest_date DATE"
)
TIME = "2019-10-01 10:00:00 UTC"
# One bronze row per case, named by its source_file: (values..., raw_record, source_file, source_layout).
BRONZE_ROWS = [
    (TIME, " VIEW ", "100", "2053013555631882655", "electronics.smartphone", " Apple ", "12.50", "42", "s1", "", None, "good", "rees46"),
    ("2019-10-01 02:50:00 UTC", None, None, None, None, None, None, None, None, None, "2019-10-01 02:50:00 UTC,vi", "split", "rees46"),
    ("yesterday", "view", "100", "1", "a.b", "x", "1.0", "42", "s1", None, None, "bad_time", "rees46"),
    (None, "view", "100", "1", "a.b", "x", "1.0", "42", "s1", None, None, "null_time", "rees46"),
    (TIME, "view", "p-1", "1", "a.b", "x", "1.0", "42", "s1", None, None, "bad_product", "rees46"),
    (TIME, "view", "100", "1", "a.b", "x", "12,50", "42", "s1", None, None, "bad_price", "rees46"),
    (TIME, "view", "100", "cat", "a.b", "x", None, "42", "s1", None, None, "bad_category", "rees46"),
    (TIME, "view", "100", "1", "a.b", "x", "1.0", "u42", "s1", None, None, "bad_user", "rees46"),
    (TIME, "purchase", " 7 ", " ", "", " ", "  ", " ", "", " ", None, "blanks", "rees46"),
    ("1433221332117", "purchase", "355908", None, None, None, None, "257597", None, "4000", None, "millis", "retailrocket"),
    (TIME, "view", "100", "1", "a.b", "x", "1.0", "42", "s1", None, None, "unknown_layout", "mystery"),
    (TIME, " Click ", "100", "1", "a.b", "x", "1.0", "42", "s1", None, None, "click", "rees46"),
    (TIME, "cart", "100", "1", "a.b", "x", "250.51", "42", "s1", None, None, "expensive", "rees46"),
    ("2019-09-29 23:59:59 UTC", "cart", "100", "1", "a.b", "x", "1.0", "42", "s1", None, None, "late", "rees46"),
]
BRONZE_FIELDS = (*CANONICAL_COLUMNS, "raw_record")


def ingest_date(layout: str) -> dt.date:
    return dt.date(2015, 6, 2) if layout == "retailrocket" else RUN_DATE


def bronze(spark: SparkSession, rows: list[tuple] = BRONZE_ROWS) -> DataFrame:
    return spark.createDataFrame([(*r, ingest_date(r[-1])) for r in rows], BRONZE_DDL)


def lineage(label: str) -> tuple:
    """What parse_events carries over from the BRONZE_ROWS row ``label``: layout, ingest date and the bronze values as they came."""
    (row,) = [r for r in BRONZE_ROWS if r[11] == label]
    return row[12], ingest_date(row[12]), row[:11]


PARSED_SCHEMA = T.StructType(
    [
        T.StructField("event_time", T.TimestampType()),
        T.StructField("event_type", T.StringType()),
        T.StructField("product_id", T.LongType()),
        T.StructField("category_id", T.LongType()),
        T.StructField("category_code", T.StringType()),
        T.StructField("brand", T.StringType()),
        T.StructField("price", T.DoubleType()),
        T.StructField("user_id", T.LongType()),
        T.StructField("is_user_unparseable", T.BooleanType()),
        T.StructField("user_session", T.StringType()),
        T.StructField("order_id", T.StringType()),
        T.StructField("is_unparseable", T.BooleanType()),
        T.StructField("is_unsplit", T.BooleanType()),
        T.StructField("source_file", T.StringType()),
        T.StructField("source_layout", T.StringType()),
        T.StructField("ingest_date", T.DateType()),
        T.StructField("bronze", T.StructType([T.StructField(c, T.StringType()) for c in BRONZE_FIELDS])),
    ]
)


def test_parse_events_types_every_value_or_marks_it_unparseable(spark: SparkSession) -> None:
    parsed = parse_events(bronze(spark), LAYOUTS, None)
    assertSchemaEqual(parsed.schema, PARSED_SCHEMA)
    at_ten = dt.datetime(2019, 10, 1, 10)
    # source_file, event_time, event_type, product_id, category_id, category_code, brand, price, user_id, is_user_unparseable,
    # user_session, order_id, is_unparseable (then is_unsplit, the lineage and the bronze values, untouched)
    expected = [
        # trimmed and lower-cased event type and brand; a blank order id is NULL
        ("good", at_ten, "view", 100, 2053013555631882655, "electronics.smartphone", "apple", 12.5, 42, False, "s1", None, False),
        # the reader's partial split is typed as far as it goes; the raw record alone makes it unparseable
        ("split", dt.datetime(2019, 10, 1, 2, 50), None, None, None, None, None, None, None, False, None, None, True),
        ("bad_time", None, "view", 100, 1, "a.b", "x", 1.0, 42, False, "s1", None, True),
        ("null_time", None, "view", 100, 1, "a.b", "x", 1.0, 42, False, "s1", None, True),
        ("bad_product", at_ten, "view", None, 1, "a.b", "x", 1.0, 42, False, "s1", None, True),
        ("bad_price", at_ten, "view", 100, 1, "a.b", "x", None, 42, False, "s1", None, True),
        ("bad_category", at_ten, "view", 100, None, "a.b", "x", None, 42, False, "s1", None, True),
        # a user id that is not a number has its own flag (the row is otherwise parseable)
        ("bad_user", at_ten, "view", 100, 1, "a.b", "x", 1.0, None, True, "s1", None, False),
        # blank values are NULL, not unparseable; a padded number still parses
        ("blanks", at_ten, "purchase", 7, None, None, None, None, None, False, None, None, False),
        # each layout parses its own time format (epoch milliseconds here)
        ("millis", dt.datetime(2015, 6, 2, 5, 2, 12, 117000), "purchase", 355908, None, None, None, None, 257597, False, None, "4000", False),
        # a layout the run does not know: no time format, so no time
        ("unknown_layout", None, "view", 100, 1, "a.b", "x", 1.0, 42, False, "s1", None, True),
        ("click", at_ten, "click", 100, 1, "a.b", "x", 1.0, 42, False, "s1", None, False),
        ("expensive", at_ten, "cart", 100, 1, "a.b", "x", 250.51, 42, False, "s1", None, False),
        ("late", dt.datetime(2019, 9, 29, 23, 59, 59), "cart", 100, 1, "a.b", "x", 1.0, 42, False, "s1", None, False),
    ]
    assertDataFrameEqual(
        parsed.select("source_file", *[c for c in parsed.columns if c != "source_file"]),
        [(*row, row[0] == "split", *lineage(row[0])) for row in expected],
    )


KEY = b"a-secret-key-of-32-bytes-or-more-for-tests"
USER_ROWS = [
    (TIME, "view", "100", None, None, None, None, raw, None, None, None, label, "rees46")
    for label, raw in (("plain", "42"), ("padded", " 42 "), ("zero_padded", "042"), ("other", "257597"), ("not_a_number", "u42"), ("null_user", None))
]


def test_pseudonymising_numbers_parsed_ids_and_leaves_no_raw_id_in_the_bronze_columns(spark: SparkSession) -> None:
    rows = [*USER_ROWS, (None, None, None, None, None, None, None, "42", None, None, "42,garbled,line", "split", "rees46")]
    numbers = spark.createDataFrame([(42, 7), (257597, 8)], "source_user_id LONG, user_id LONG")  # as silver.user_pseudonyms gives them
    hidden = parse_events(bronze(spark, rows), LAYOUTS, numbers)
    plain = parse_events(bronze(spark, rows), LAYOUTS)
    assertDataFrameEqual(
        hidden.select("source_file", "user_id", "is_user_unparseable", "is_unparseable", "bronze.user_id", "bronze.raw_record"),
        [
            ("plain", 7, False, False, "7", None),
            ("padded", 7, False, False, "7", None),  # the same person whatever the spelling
            ("zero_padded", 7, False, False, "7", None),
            ("other", 8, False, False, "8", None),
            ("not_a_number", None, True, False, None, None),  # malformed in both modes, and its raw value is not kept
            ("null_user", None, False, False, None, None),
            ("split", None, False, True, None, None),  # the raw line holds the raw id, its partial split no user: not kept
        ],
    )
    # The same rows parse and fail to parse with and without pseudonymisation: only the ids change.
    flags = ["source_file", "is_user_unparseable", "is_unparseable", "is_unsplit"]
    assertDataFrameEqual(hidden.select(*flags), plain.select(*flags))
    assert plain.where(F.col("source_file") == "zero_padded").first()["user_id"] == 42
    # The quarantine's detail names no raw value either.
    config = CleanConfig()
    reasons = hidden.withColumn("reason", quarantine_reason(config, RUN_DATE, EVENT_TYPES)).where(F.col("reason").isNotNull())
    assertDataFrameEqual(
        reasons.select("source_file", quarantine_detail(config, RUN_DATE, EVENT_TYPES)),
        [
            ("not_a_number", "user_id is not a number (user ids are pseudonymised: the value stays in bronze.events only)"),
            ("null_user", "user_id is empty"),
            ("split", "the reader could not split the record into its fields"),
        ],
    )


def test_pseudonyms_are_the_hmac_of_the_parsed_id_and_the_key_is_in_no_plan(spark: SparkSession, capsys: pytest.CaptureFixture[str]) -> None:
    ids = spark.createDataFrame([(42,), (257597,), (9_007_199_254_740_993,)], "source_user_id LONG")
    secret = spark.sparkContext.broadcast(KEY)
    try:
        hashed = with_pseudonyms(ids, secret)
        reference = [(i, hmac.new(KEY, str(i).encode(), hashlib.sha256).hexdigest()[:32]) for i in (42, 257597, 9_007_199_254_740_993)]
        assertDataFrameEqual(hashed, reference)  # 128 bits, from the number's decimal text (no float rounding of big ids)
        hashed.explain(mode="extended")
        plan = capsys.readouterr().out
        assert "MapInPandas" in plan and "hash_batches" in plan  # the plan was printed, with the hashing step in it
        assert not [form for form in secret_forms(KEY) if form in plan]
    finally:
        secret.destroy()


def test_new_pseudonyms_are_numbered_after_the_highest_in_pseudonym_order(spark: SparkSession) -> None:
    known = spark.createDataFrame(
        [("bb", 1, RUN_DATE, "r0"), ("dd", 2, RUN_DATE, "r0")], "pseudonym STRING, user_id LONG, first_ingest_date DATE, run_id STRING"
    )
    day = spark.createDataFrame([("ee",), ("bb",), ("aa",)], "pseudonym STRING")
    next_day = RUN_DATE + dt.timedelta(days=1)
    assertDataFrameEqual(new_numbers(day, known, 2, next_day, "r1"), [("aa", 3, next_day, "r1"), ("ee", 4, next_day, "r1")])


def reasons_input(spark: SparkSession, rows: list[tuple]) -> DataFrame:
    ddl = "label STRING, event_time TIMESTAMP, event_type STRING, price DOUBLE, user_id LONG, is_unparseable BOOLEAN, is_user_unparseable BOOLEAN"
    return spark.createDataFrame(rows, ddl)


def test_quarantine_reason_takes_the_first_rule_and_trusts_a_half_open_window(spark: SparkSession) -> None:
    at = dt.datetime
    noon = at(2019, 10, 1, 12)
    # label, event_time, event_type, price, user_id, is_unparseable, is_user_unparseable -> default config, launched 2019-09-30
    cases = [
        (("clean", noon, "view", 10.0, 1, False, False), None, None),
        (("unparseable_and_null_user", None, "view", None, None, True, False), "malformed", "malformed"),
        (("user_unparseable", noon, "view", 10.0, None, False, True), "malformed", "malformed"),
        (("null_user_and_bad_type", noon, "click", 10.0, None, False, False), "null_user", "null_user"),
        (("bad_type_and_bad_price", noon, "click", -1.0, 1, False, False), "unknown_event_type", "unknown_event_type"),
        (("null_type", noon, None, 10.0, 1, False, False), "unknown_event_type", "unknown_event_type"),
        (("site_type", noon, "wishlist", 10.0, 1, False, False), "unknown_event_type", None),  # with events.extra_types.wishlist: kept
        (("negative_price_and_old", at(2019, 9, 1), "cart", -0.01, 1, False, False), "bad_price", "bad_price"),
        (("price_above_max", noon, "purchase", 100_000.01, 1, False, False), "bad_price", "bad_price"),
        (("price_nan", noon, "purchase", float("nan"), 1, False, False), "bad_price", "bad_price"),
        (("price_at_max", noon, "purchase", 100_000.0, 1, False, False), None, None),
        (("price_zero", noon, "purchase", 0.0, 1, False, False), None, None),
        (("price_null", noon, "view", None, 1, False, False), None, None),
        # the window is [run date - 3 days, run date + 1 day + 60 minutes), never before the site launched
        (("before_earliest", at(2019, 9, 27, 23, 59, 59, 999999), "view", 1.0, 1, False, False), "timestamp_out_of_range", "timestamp_out_of_range"),
        (("at_earliest", at(2019, 9, 28), "view", 1.0, 1, False, False), None, "timestamp_out_of_range"),
        (("before_launch", at(2019, 9, 29, 23, 59, 59), "view", 1.0, 1, False, False), None, "timestamp_out_of_range"),
        (("at_launch", at(2019, 9, 30), "view", 1.0, 1, False, False), None, None),
        (("before_latest", at(2019, 10, 2, 0, 59, 59, 999999), "view", 1.0, 1, False, False), None, None),
        (("at_latest", at(2019, 10, 2, 1), "view", 1.0, 1, False, False), "timestamp_out_of_range", "timestamp_out_of_range"),
    ]
    launched = CleanConfig(site_launch=dt.date(2019, 9, 30))
    got = reasons_input(spark, [row for row, _, _ in cases]).select(
        "label",
        quarantine_reason(CleanConfig(), RUN_DATE, EVENT_TYPES).alias("reason"),
        quarantine_reason(launched, RUN_DATE, (*EVENT_TYPES, "wishlist")).alias("reason_after_launch_with_wishlist"),
    )
    assertDataFrameEqual(got, [(row[0], default, after_launch) for row, default, after_launch in cases])


def test_quarantine_detail_names_the_field_its_raw_value_and_the_limits(spark: SparkSession) -> None:
    config = CleanConfig(max_price=250.5, max_late_days=1, max_future_minutes=30)  # trusted: [2019-09-30 00:00, 2019-10-02 00:30)
    parsed = parse_events(bronze(spark), LAYOUTS, None).withColumn("reason", quarantine_reason(config, RUN_DATE, EVENT_TYPES))
    got = parsed.select("source_file", "reason", quarantine_detail(config, RUN_DATE, EVENT_TYPES).alias("detail"))
    window = "is outside the trusted window [2019-09-30 00:00:00, 2019-10-02 00:30:00)"
    assertDataFrameEqual(
        got,
        [
            ("good", None, None),
            ("split", "malformed", "the reader could not split the record into its fields"),
            ("bad_time", "malformed", "event_time 'yesterday' does not parse"),
            ("null_time", "malformed", "event_time 'NULL' does not parse"),
            ("unknown_layout", "malformed", "event_time '2019-10-01 10:00:00 UTC' does not parse"),
            ("bad_product", "malformed", "product_id 'p-1' is not a number"),
            ("bad_price", "malformed", "category_id '1' or price '12,50' is not a number"),
            ("bad_category", "malformed", "category_id 'cat' or price 'NULL' is not a number"),
            ("bad_user", "malformed", "user_id 'u42' is not a number"),
            ("blanks", "null_user", "user_id is empty"),
            ("click", "unknown_event_type", "event_type ' Click ' is not one of view, cart, remove_from_cart, purchase"),
            ("expensive", "bad_price", "price 250.51 is outside [0, 250.5]"),
            ("late", "timestamp_out_of_range", f"event_time 2019-09-29 23:59:59 UTC {window}"),
            ("millis", "timestamp_out_of_range", f"event_time 1433221332117 {window}"),
        ],
    )


# ---- mark_duplicates -------------------------------------------------------------------------------

EVENTS_DDL = (
    "event_time TIMESTAMP, event_type STRING, product_id LONG, category_id LONG, category_code STRING, brand STRING, price DOUBLE, "
    "user_id LONG, user_session STRING, order_id STRING, source_file STRING"
)
T0 = dt.datetime(2019, 10, 1, 10)


def after(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def event(seconds: float, event_type: str, product: int, user: int, source_file: str, brand: str | None = "x", price: float = 5.0) -> tuple:
    """A valid event (category_code and order_id NULL)."""
    return (after(seconds), event_type, product, 1, None, brand, price, user, "s1", None, source_file)


def test_mark_duplicates_keeps_the_first_copy_and_marks_quick_repeats(spark: SparkSession) -> None:
    # the event -> duplicate with near_duplicate_seconds=1, and with 0
    cases = [
        # three exact copies (equal NULLs included): the copy from the earliest source file survives
        (event(0, "view", 10, 1, "b.csv"), "exact", "exact"),
        (event(0, "view", 10, 1, "a.csv"), None, None),
        (event(0, "view", 10, 1, "c.csv"), "exact", "exact"),
        # the same action again: 1 s later is near (<= 1), 2 s after that is not; same second, other price: near even for 0
        (event(20, "view", 11, 1, "a.csv"), None, None),
        (event(21, "view", 11, 1, "a.csv"), "near", None),
        (event(23, "view", 11, 1, "a.csv"), None, None),
        (event(23, "view", 11, 1, "a.csv", price=6.0), "near", "near"),
        # another type or another product within the second: not a duplicate
        (event(21, "cart", 11, 1, "a.csv"), None, None),
        (event(21, "view", 12, 1, "a.csv"), None, None),
        # a NULL brand against a known one: the same action, not an exact copy
        (event(30, "view", 12, 1, "a.csv", brand=None), None, None),
        (event(30, "view", 12, 1, "a.csv"), "near", "near"),
        # another user doing the same at the same time: not a duplicate
        (event(0, "view", 10, 2, "b.csv"), None, None),
        (event(21, "view", 11, 2, "a.csv"), None, None),
    ]
    events = spark.createDataFrame([e for e, _, _ in cases], EVENTS_DDL)
    got = mark_duplicates(events, 1).withColumnRenamed("duplicate", "within_1s").transform(mark_duplicates, 0)
    assert got.columns == [*events.columns, "within_1s", "duplicate"]
    assertDataFrameEqual(got, [(*e, one, zero) for e, one, zero in cases])


def test_mark_duplicates_measures_the_gap_with_fractions_of_a_second(spark: SparkSession) -> None:
    cases = [
        (event(0.0, "view", 10, 1, "a.csv"), None),
        (event(1.9, "view", 10, 1, "a.csv"), None),  # 1.9 s after: beyond 1 s
        (event(2.4, "view", 10, 1, "a.csv"), "near"),  # 0.5 s after the previous one
        (event(10.0, "view", 10, 1, "a.csv", brand=None), None),
    ]
    events = spark.createDataFrame([e for e, _ in cases], EVENTS_DDL)
    assertDataFrameEqual(mark_duplicates(events, 1), [(*e, d) for e, d in cases])


# ---- flag_bots -------------------------------------------------------------------------------------


def test_flag_bots_names_the_rule_and_the_figure_and_leaves_people_alone(spark: SparkSession) -> None:
    config = CleanConfig(bot_max_events_per_minute=3, bot_max_events_per_day=5)
    seconds = {
        1: [0, 10, 20, 30],  # 4 in one minute
        2: [0, 10, 20, 60, 70, 80],  # 3 a minute, 6 in the day
        3: [58, 59, 59.5, 60, 61],  # 5 within 3 s, but 3 and 2 per calendar minute, 5 in the day: a person
        4: [0, 1, 2, 3, 120, 180, 240],  # 4 in one minute and 7 in the day: the minute rule is named
        5: [0],
        6: [0, 1, 2, 86_400, 86_401, 86_402],  # 3 on each of two days: 6 in the batch, but a person per event day
        7: [0, 86_400, 86_460, 86_520, 86_580, 86_640, 86_700],  # 1 on the first day, 6 on the next: only that day is a bot's
    }
    rules = {
        1: "more than 3 events in a minute (4)",
        2: "more than 5 events in a day (6)",
        3: None,
        4: "more than 3 events in a minute (4)",
        5: None,
        6: None,
        7: "more than 5 events in a day (6)",
    }
    rows = [(user, after(s), 100 + i, None if i % 2 else 1.5) for user, times in seconds.items() for i, s in enumerate(times)]
    events = spark.createDataFrame(rows, "user_id LONG, event_time TIMESTAMP, product_id LONG, price DOUBLE")
    flagged = flag_bots(events, config)
    assertSchemaEqual(flagged.schema, T.StructType([*events.schema.fields, T.StructField("bot_rule", T.StringType())]))
    first_day_of_7 = (7, after(0))
    assertDataFrameEqual(flagged, [(*r, None if r[:2] == first_day_of_7 else rules[r[0]]) for r in rows])


# ---- mark_redelivered ------------------------------------------------------------------------------


def test_mark_redelivered_matches_records_as_they_came_whatever_happened_to_them(spark: SparkSession) -> None:
    # Delivered on earlier days: a good row, a malformed line and a row without a session (NULL fields match NULL fields).
    delivered = [row[:12] for row in BRONZE_ROWS if row[11] in ("good", "split", "blanks")]
    again = [
        *[(*row[:11], f"again_{row[11]}") for row in delivered],  # the same records in another day's file: redelivered
        *[(*row[:11], f"twice_{row[11]}") for row in delivered[:1]],  # a second copy of one: redelivered too
        *[(*row[:6], "12.51", *row[7:11], "changed_price") for row in delivered[:1]],  # a corrected record: new
    ]
    today = bronze(spark, [(*r, "rees46") for r in again])
    got = mark_redelivered(today, delivered_records(bronze(spark, [(*r, "rees46") for r in delivered])))
    assert got.columns == [*today.columns, "redelivered"]
    assertDataFrameEqual(got.select("source_file", "redelivered"), [(r[11], not r[11].startswith("changed")) for r in again])


# ---- fill_category_and_brand -----------------------------------------------------------------------


def test_fill_category_and_brand_from_the_products_most_frequent_value(spark: SparkSession) -> None:
    # label, product_id, category_code, brand -> category_code, brand, category_code_origin, brand_origin
    cases = [
        # product 1: a.b twice, c.d once; brands x and y once each (a tie: the smallest, x)
        (("1-a", 1, "a.b", "y"), ("a.b", "y", "source", "source")),
        (("1-b", 1, "a.b", None), ("a.b", "x", "source", "product")),
        (("1-c", 1, "c.d", "x"), ("c.d", "x", "source", "source")),
        (("1-d", 1, None, None), ("a.b", "x", "product", "product")),
        # product 2: no category code known at all; a known brand
        (("2-a", 2, None, "z"), ("unknown", "z", "unknown", "source")),
        (("2-b", 2, None, None), ("unknown", "z", "unknown", "product")),
        # product 3: a tie between codes goes to the smallest; a product's values never fill another's
        (("3-a", 3, "z.z", None), ("z.z", "unknown", "source", "unknown")),
        (("3-b", 3, "b.b", None), ("b.b", "unknown", "source", "unknown")),
        (("3-c", 3, None, None), ("b.b", "unknown", "product", "unknown")),
        # no product at all: nothing to fill from
        (("none", None, None, None), ("unknown", "unknown", "unknown", "unknown")),
    ]
    events = spark.createDataFrame([row for row, _ in cases], "label STRING, product_id LONG, category_code STRING, brand STRING")
    filled = fill_category_and_brand(events)
    expected_schema = T.StructType(
        [
            T.StructField("label", T.StringType()),
            T.StructField("product_id", T.LongType()),
            T.StructField("category_code", T.StringType(), nullable=False),
            T.StructField("brand", T.StringType(), nullable=False),
            T.StructField("category_code_origin", T.StringType(), nullable=False),
            T.StructField("brand_origin", T.StringType(), nullable=False),
        ]
    )
    assertSchemaEqual(filled.schema, expected_schema, ignoreNullable=False, ignoreColumnOrder=True)
    got = filled.select("label", "product_id", "category_code", "brand", "category_code_origin", "brand_origin")
    assertDataFrameEqual(got, [(row[0], row[1], *out) for row, out in cases])
