"""Ingest on real Spark and real Delta: the real REES46 sample, RetailRocket through YAML alone,
generated CSV / JSON / Parquet against their manifests, idempotent re-ingest, and clear failures.

All scenarios write to the one bronze.events table of the test lake, each on its own ingest_date
(or filtered by run id), which is how the table is used in production too.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType
from pyspark.testing import assertDataFrameEqual

from ecomlake import cli, datasets, lake
from ecomlake.catalog import ALL_TABLES, BRONZE_EVENTS, RUN_LEDGER
from ecomlake.config import Config, FaultRates
from ecomlake.errors import ConfigError, InputMissingError
from ecomlake.generate import traffic
from ecomlake.generate.dataset import generate_dataset
from ecomlake.generate.faults import MALFORMED_EXTRA_FIELD, MALFORMED_GARBLED_TIME, MALFORMED_NON_NUMERIC_ID, MALFORMED_TRUNCATED, inject_faults
from ecomlake.ingest.job import IngestParams, IngestResult, run
from ecomlake.ingest.layouts import load_layout, parse_event_time
from ecomlake.ingest.read import read_raw, to_bronze
from ecomlake.job import Context
from ecomlake.vocabulary import CANONICAL_COLUMNS
from tests.support import cli_keys

REES46_SAMPLE = datasets.rees46_oct_head()
GENERATED_EVENTS = 5_000
GENERATED_DATE = dt.date(2019, 11, 1)
VALUE_COLUMNS = [*CANONICAL_COLUMNS, "raw_record"]
BRONZE_COLUMNS = [*CANONICAL_COLUMNS, "raw_record", "source_file", "source_layout", "layout_hash", "ingest_date", "ingested_at", "run_id"]


def ingest(spark: SparkSession, config: Config, date: dt.date, *paths: str, layout: str | None = None) -> IngestResult:
    """``ecomlake ingest --date D [--path P ...] [--layout L]``, run directly (no run record)."""
    if layout is not None:
        config = dataclasses.replace(config, ingest=dataclasses.replace(config.ingest, layout=layout))
    return run(Context(spark, config), IngestParams(date, paths))


def bronze_of(spark: SparkSession, config: Config, result: IngestResult) -> DataFrame:
    """The bronze rows one ingest run wrote."""
    return lake.read(spark, config, BRONZE_EVENTS, {"ingest_date": result.ingest_date}).where(F.col("run_id") == result.run_id)


def bronze_on(spark: SparkSession, config: Config, date: dt.date) -> DataFrame:
    """All bronze rows of one ingest date."""
    return lake.read(spark, config, BRONZE_EVENTS, {"ingest_date": date})


def columns(schema: StructType) -> list[tuple[str, str]]:
    """Names and types (nullability and comments aside)."""
    return [(f.name, f.dataType.simpleString()) for f in schema.fields]


def file_uri(path: Path) -> str:
    return f"file:{path}"


# --- the real REES46 sample ------------------------------------------------------------------


@pytest.fixture(scope="module")
def rees46(spark: SparkSession, config: Config) -> tuple[IngestResult, DataFrame]:
    result = ingest(spark, config, dt.date(2019, 10, 1), str(REES46_SAMPLE), layout="rees46")
    return result, bronze_of(spark, config, result).cache()  # several tests read it


def test_bronze_table_has_the_contract_schema(spark: SparkSession, config: Config, rees46: tuple[IngestResult, DataFrame]) -> None:
    contract = BRONZE_EVENTS.schema()
    assert contract.names == BRONZE_COLUMNS
    assert all(f.type == "string" for f in contract.fields[:11])
    stored = lake.read(spark, config, BRONZE_EVENTS).schema
    assert columns(stored) == columns(contract.struct())
    assert [f.metadata.get("comment") for f in stored] == [f.comment for f in contract.fields]  # each column documented in Delta
    assert BRONZE_EVENTS in ALL_TABLES and BRONZE_EVENTS.partition_by == ("ingest_date",) and BRONZE_EVENTS.produced_by == ("ingest",)
    assert rees46[0].table == BRONZE_EVENTS.qualified_name(config.lake) == "ecomlake.bronze_events"


def test_rees46_sample_lands_whole(rees46: tuple[IngestResult, DataFrame]) -> None:
    result, bronze = rees46
    assert (result.rows, result.malformed, result.files) == (17_435, 1, (file_uri(REES46_SAMPLE),))
    assert bronze.count() == 17_435
    counts = {r["event_type"]: r["count"] for r in bronze.groupBy("event_type").count().collect()}
    assert counts == {"view": 17_056, "cart": 165, "purchase": 214}  # as the data README says
    meta = bronze.groupBy("source_file", "source_layout").count().collect()
    assert [tuple(r) for r in meta] == [(file_uri(REES46_SAMPLE), "rees46", 17_435)]


def test_rees46_cut_last_line_keeps_its_raw_text(rees46: tuple[IngestResult, DataFrame]) -> None:
    _, bronze = rees46
    last_line = REES46_SAMPLE.read_text().splitlines()[-1]
    assert len(last_line.split(",")) == 8
    malformed = bronze.where(F.col("raw_record").isNotNull()).select("raw_record", "user_id", "user_session").collect()
    assert [tuple(r) for r in malformed] == [(last_line, "52040330", None)]


def test_rees46_values_stay_text_and_real_nulls_stay_null(rees46: tuple[IngestResult, DataFrame]) -> None:
    _, bronze = rees46
    with REES46_SAMPLE.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if None not in r.values()]  # the 9-field lines
    empty = Counter(k for r in rows for k, v in r.items() if v == "")
    assert empty["category_code"] > 0 and empty["brand"] > 0  # the README's NULL user_session is the cut last line's
    well_formed = bronze.where(F.col("raw_record").isNull())
    nulls = well_formed.select(*[F.count_if(F.col(c).isNull()).alias(c) for c in ("category_code", "brand", "user_session", "order_id")]).first()
    assert nulls.asDict() == {"category_code": empty["category_code"], "brand": empty["brand"], "user_session": 0, "order_id": len(rows)}
    assert well_formed.where(F.col("brand") == "").count() == 0
    first = rows[0]
    expected = Row(**{c: first[c] or None for c in CANONICAL_COLUMNS[:-1]}, order_id=None, raw_record=None)
    is_first = (F.col("event_time") == first["event_time"]) & (F.col("product_id") == first["product_id"]) & (F.col("user_id") == first["user_id"])
    got = bronze.where(is_first).select(VALUE_COLUMNS)
    assertDataFrameEqual(got, [expected])  # '35.79' and '... UTC' kept as text


# --- RetailRocket through YAML alone ----------------------------------------------------------

RETAILROCKET_CSV = """\
timestamp,visitorid,event,itemid,transactionid
1433221332117,257597,view,355908,
1433224214164,992329,view,248676,
1433221999827,111016,addtocart,318965,
1433221955914,483717,transaction,253185,9684
"""


def test_retailrocket_csv_maps_onto_the_canonical_columns(spark: SparkSession, config: Config, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(RETAILROCKET_CSV)
    result = ingest(spark, config, dt.date(2015, 6, 2), str(path), layout="retailrocket")
    assert result.layout == "retailrocket" and (result.rows, result.malformed) == (4, 0)
    bronze = bronze_of(spark, config, result)

    def event(ts: str, visitor: str, event_type: str, item: str, order: str | None) -> Row:
        values = dict.fromkeys(VALUE_COLUMNS)
        values.update(event_time=ts, user_id=visitor, event_type=event_type, product_id=item, order_id=order)
        return Row(**values)

    expected = [
        event("1433221332117", "257597", "view", "355908", None),
        event("1433224214164", "992329", "view", "248676", None),
        event("1433221999827", "111016", "cart", "318965", None),
        event("1433221955914", "483717", "purchase", "253185", "9684"),
    ]
    assertDataFrameEqual(bronze.select(VALUE_COLUMNS), expected)
    assert bronze.where(F.col("source_layout") == "retailrocket").count() == 4
    # The layout's time format is what cleaning will parse event_time with.
    parsed = bronze.where(F.col("order_id") == "9684").select(parse_event_time(F.col("event_time"), "epoch_millis").alias("t")).first()
    assert parsed["t"] == dt.datetime(2015, 6, 2, 5, 12, 35, 914000)


def test_a_users_own_layout_file_through_the_command_line(
    spark: SparkSession, config: Config, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A headerless, semicolon-separated export: a YAML file is all it takes, no code."""
    data = tmp_path / "export.txt"
    data.write_text("2020-03-01T10:00:00;u1;PAGE;p9;;\n2020-03-01T10:05:00;u1;BUY;p9;o77;12,50\n2020-03-01T10:06:00;u2;PAGE\n")
    layout = tmp_path / "shop.yaml"
    layout.write_text(
        "name: shop_export\nformat: csv\noptions:\n  sep: ';'\n"
        "fields: [ts, customer, action, sku, order, amount]\n"
        "columns:\n  event_time: ts\n  user_id: customer\n  event_type: action\n  product_id: sku\n  order_id: order\n  price: amount\n"
        "time_format: \"yyyy-MM-dd'T'HH:mm:ss\"\nevent_types:\n  PAGE: view\n  BUY: purchase\n"
    )
    code = cli.main(["ingest", "--date", "2020-03-01", "--path", str(data), "--layout", str(layout), *cli_keys(config)])
    out = capsys.readouterr().out
    assert code == 0
    written = bronze_on(spark, config, dt.date(2020, 3, 1)).where(F.col("source_file") == file_uri(data))
    (run_id,) = [r[0] for r in written.select("run_id").distinct().collect()]
    assert (
        "ingest: 3 rows (1 malformed, kept with raw_record) from 1 file(s) with layout shop_export into ecomlake.bronze_events for 2020-03-01; "
        f"run {run_id} ("
    ) in out
    got = written.select("event_time", "user_id", "event_type", "order_id", "price", "source_layout", F.col("raw_record").isNotNull())
    assertDataFrameEqual(
        got,
        [
            Row("2020-03-01T10:00:00", "u1", "view", None, None, "shop_export", False),
            Row("2020-03-01T10:05:00", "u1", "purchase", "o77", "12,50", "shop_export", False),
            Row("2020-03-01T10:06:00", "u2", "view", None, None, "shop_export", True),  # 3 of 6 fields
        ],
    )
    # The command line records the run in ops.run_ledger: when it started, and how it ended.
    records = {r.status: r for r in lake.read(spark, config, RUN_LEDGER).where(F.col("run_id") == run_id).collect()}
    assert set(records) == {"running", "succeeded"}
    done = records["succeeded"]
    assert (done.job, done.run_date, done.rows_in, done.rows_out, done.error) == ("ingest", dt.date(2020, 3, 1), 3, 3, None)
    assert done.figures == {"files": 1.0, "malformed": 1.0}
    assert json.loads(done.params) == {"date": "2020-03-01", "paths": [str(data)]}


# --- generated data against the manifest -------------------------------------------------------


@pytest.fixture(scope="module")
def malformed_kinds(spark: SparkSession, config: Config, tmp_path_factory: pytest.TempPathFactory) -> dict[int, int]:
    """How many lines of each malformed kind the generator renders for the test's settings.

    Recomputed from the generator's own fault draws (hashes of the seed), independently of any reader.
    """
    gen = generator_config(config, tmp_path_factory.mktemp("unused"), "csv")
    with_faults = inject_faults(traffic.generate_events(spark, traffic.plan(gen)), gen.seed, gen.faults, has_text_format=True)
    rows = with_faults.where(F.col("fault") == "malformed").groupBy("malformed_kind").count().collect()
    return {r["malformed_kind"]: r["count"] for r in rows}


def generator_config(config: Config, out: Path, fmt: str) -> Any:
    # A higher malformed rate than the default, so that every malformed kind occurs in 5,000 events.
    return dataclasses.replace(
        config.generator,
        events=GENERATED_EVENTS,
        start_date=GENERATED_DATE,
        format=fmt,
        output=str(out),
        faults=dataclasses.replace(FaultRates(), malformed=0.02),
    )


@pytest.fixture(scope="module", params=["csv", "json", "parquet"])
def generated(
    request: pytest.FixtureRequest, spark: SparkSession, config: Config, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, dict[str, Any], IngestResult, DataFrame]:
    fmt = request.param
    out = tmp_path_factory.mktemp(f"landing_{fmt}")
    manifest = generate_dataset(spark, generator_config(config, out, fmt))
    layout = {"csv": "rees46", "json": "rees46_json", "parquet": "rees46_parquet"}[fmt]
    # The day's folder under ingest.landing, found by ingest.day_path, as in production.
    cfg = dataclasses.replace(config, ingest=dataclasses.replace(config.ingest, landing=str(out), layout=layout))
    result = run(Context(spark, cfg), IngestParams(GENERATED_DATE))
    return fmt, manifest, result, bronze_of(spark, config, result)


def test_generated_rows_all_land(generated: tuple[str, dict[str, Any], IngestResult, DataFrame]) -> None:
    fmt, manifest, result, bronze = generated
    assert result.rows == bronze.count() == manifest["totals"]["rows"] > GENERATED_EVENTS
    assert len(result.files) >= 1 and all("event_date=2019-11-01/part-" in f for f in result.files)
    assert bronze.where(F.col("source_file").isin(*result.files)).count() == result.rows


def test_generated_malformed_lines_keep_their_raw_text(
    generated: tuple[str, dict[str, Any], IngestResult, DataFrame], malformed_kinds: dict[int, int]
) -> None:
    """The reader flags the malformed kinds it can see: a CSV line with 8 or 10 fields, a JSON line cut
    in half (the generator's truncated and extra-field kinds). A garbled time or a non-numeric product id
    still splits into the right fields, so those rows pass ingest as text and are cleaning's to reject:
    rows with raw_record >= manifest malformed - garbled - non-numeric, with equality here.
    """
    fmt, manifest, result, bronze = generated
    malformed = manifest["totals"]["faults"]["malformed"]
    if fmt == "parquet":
        assert malformed == 0 and result.malformed == 0  # typed files have no malformed lines
        return
    assert sum(malformed_kinds.values()) == malformed and all(malformed_kinds.get(k, 0) > 0 for k in range(4))
    still_parse = malformed_kinds[MALFORMED_GARBLED_TIME] + malformed_kinds[MALFORMED_NON_NUMERIC_ID]
    assert result.malformed >= malformed - still_parse
    assert result.malformed == malformed_kinds[MALFORMED_TRUNCATED] + malformed_kinds[MALFORMED_EXTRA_FIELD]
    assert bronze.where(F.col("raw_record").isNotNull()).count() == result.malformed


def test_generated_times_parse_with_the_layouts_time_format(generated: tuple[str, dict[str, Any], IngestResult, DataFrame]) -> None:
    fmt, manifest, result, bronze = generated
    layout = load_layout(result.layout)
    unparsed = bronze.where(F.col("raw_record").isNull() & parse_event_time(F.col("event_time"), layout.time_format).isNull()).count()
    # Only the garbled times ('2019-11-01 10:??:00 UTC') fail, and Parquet has none.
    assert (unparsed == 0) if fmt == "parquet" else (0 < unparsed < manifest["totals"]["faults"]["malformed"])


# --- idempotence ---------------------------------------------------------------------------------

HEADER = "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session\n"


def test_reingest_replaces_only_its_own_files(spark: SparkSession, config: Config, tmp_path: Path) -> None:
    day = dt.date(2019, 12, 1)
    (tmp_path / "a.csv").write_text(
        HEADER
        + "2019-12-01 00:00:01 UTC,view,1,10,,acme,1.00,100,s1\n"
        + "2019-12-01 00:00:02 UTC,cart,1,10,,acme,1.00,100,s1\n"
        + "2019-12-01 00:00:03 UTC,purchase,1,10,,acme,1.00,100\n"
    )
    (tmp_path / "b.csv").write_text(HEADER + "2019-12-01 01:00:00 UTC,view,2,20,kids.toys,lego,9.99,200,s2\n")
    a, b, both = str(tmp_path / "a.csv"), str(tmp_path / "b.csv"), str(tmp_path / "*.csv")
    others_before = lake.read(spark, config, BRONZE_EVENTS).where(F.col("ingest_date") != F.lit(day)).count()

    first = ingest(spark, config, day, a)
    snapshot = bronze_on(spark, config, day).select(*VALUE_COLUMNS, "source_file").collect()  # 3 rows
    again = ingest(spark, config, day, a)
    assert again.run_id != first.run_id and (first.rows, again.rows, len(snapshot)) == (3, 3, 3)
    assertDataFrameEqual(bronze_on(spark, config, day).select(*VALUE_COLUMNS, "source_file", "run_id"), [(*r, again.run_id) for r in snapshot])

    ingest(spark, config, day, b)  # another file of the same day is added beside a.csv
    assert {r["source_file"]: r["count"] for r in bronze_on(spark, config, day).groupBy("source_file").count().collect()} == {
        file_uri(tmp_path / "a.csv"): 3,
        file_uri(tmp_path / "b.csv"): 1,
    }
    history = DeltaTable.forPath(spark, BRONZE_EVENTS.path(config.lake))
    version_before = history.history(1).first()["version"]
    assert ingest(spark, config, day, both).rows == 4  # both files again: still 4 rows, in one commit
    assert bronze_on(spark, config, day).count() == 4
    assert history.history(1).first()["version"] == version_before + 1
    assert lake.read(spark, config, BRONZE_EVENTS).where(F.col("ingest_date") != F.lit(day)).count() == others_before


# --- failures ------------------------------------------------------------------------------------


def test_missing_input_is_input_missing_error_naming_the_path(
    spark: SparkSession, config: Config, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(InputMissingError, match=r"no input at /no/such/events\.csv") as err:
        ingest(spark, config, dt.date(2019, 10, 1), "/no/such/events.csv")
    assert err.value.exit_code == 3
    with pytest.raises(InputMissingError, match=r"landing/events/event_date=1999-01-01"):  # the day's folder by default
        ingest(spark, config, dt.date(1999, 1, 1))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputMissingError, match="holds no data files"):
        ingest(spark, config, dt.date(2019, 10, 1), str(tmp_path / "empty"))
    # Through the command line: exit code 3, the path in the error, and the failed run in ops.run_ledger.
    missing = str(tmp_path / "nothing*.csv")
    assert cli.main(["ingest", "--date", "2019-10-01", "--path", missing, *cli_keys(config)]) == 3
    assert f"ecomlake ingest: error: no input at {missing}" in capsys.readouterr().err
    failed = lake.read(spark, config, RUN_LEDGER).where((F.col("job") == "ingest") & (F.col("status") == "failed"))
    (record,) = failed.where(F.col("error").contains(missing)).collect()
    assert record.error.startswith(f"InputMissingError: no input at {missing}") and record.run_date == dt.date(2019, 10, 1)
    assert record.rows_out is None and record.seconds is not None


def test_a_file_of_another_layout_is_refused_naming_the_layout(spark: SparkSession, config: Config, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(RETAILROCKET_CSV)
    with pytest.raises(ConfigError, match=r"rees46\.yaml: key 'columns\.event_time': source column 'event_time' is not among"):
        ingest(spark, config, dt.date(2015, 6, 2), str(path), layout="rees46")


def test_to_bronze_is_a_pure_transform_onto_the_schema(spark: SparkSession, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(RETAILROCKET_CSV)
    layout = load_layout("retailrocket")
    bronze = to_bronze(read_raw(spark, layout, [str(path)]), layout, dt.date(2015, 6, 2), dt.datetime(2015, 6, 3), "run-x")
    assert columns(bronze.schema) == columns(BRONZE_EVENTS.schema().struct())  # what lake.write conforms to, column for column
    assert bronze.where(F.col("run_id") == "run-x").count() == 4
