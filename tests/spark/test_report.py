"""ecomlake report: the HTML page and its PNG charts exist and hold the day's figures.

On model_lake (every table but the LSTM's): every section but the LSTM's, which says it is not available and why;
the job runs from ops.run_ledger. On lstm_lake (``dl``): the LSTM's section and its panel.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from ecomlake import lake, ledger
from ecomlake.catalog import (
    ALS_METRICS,
    DAILY_KPIS,
    LSTM_METRICS,
    LSTM_SCORES,
    PROPENSITY_METRICS,
    PROPENSITY_SCORES,
    RECOMMENDATIONS,
    RUN_AUDIT,
    RUN_LEDGER,
    SEGMENT_TRANSITIONS,
    SEGMENTS,
    USER_SEGMENTS,
)
from ecomlake.cli import main
from ecomlake.config import Config
from ecomlake.report import folder
from ecomlake.report.job import write_report
from ecomlake.report.render import MISSING
from tests.support import GOLD_CUTOFF, GOLD_HORIZON, GOLD_LAST_DAY, GOLD_START, cli_keys, copy_tables, lake_config

CHARTS = {"conservation", "quarantine", "kpis", "funnel", "segments", "models"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
REPORTED = (RUN_AUDIT, RUN_LEDGER, DAILY_KPIS, USER_SEGMENTS, SEGMENTS, SEGMENT_TRANSITIONS, RECOMMENDATIONS, ALS_METRICS)
REPORTED += (PROPENSITY_SCORES, PROPENSITY_METRICS)


def section(page: str, heading: str) -> str:
    """The page from a section's heading to the next heading."""
    start = page.index(heading)
    ends = [i for i in (page.find("<h2>", start + 1), page.find("<h3>", start + 1)) if i > 0]
    return page[start : min(ends, default=len(page))]


def test_the_report_shows_the_days_figures(spark: SparkSession, model_lake: Config, tmp_path: Path) -> None:
    figures, files = write_report(spark, model_lake, GOLD_LAST_DAY, tmp_path / "report")
    assert set(files) == CHARTS | {"report"}
    for name in CHARTS:
        data = files[name].read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 10_000, name
    page = files["report"].read_text()
    assert page.count("data:image/png;base64,") == len(CHARTS)  # self-contained: the charts are in the page too

    # Row conservation: the clean run's audit, and it holds.
    audit = lake.read(spark, model_lake, RUN_AUDIT, {"run_date": GOLD_LAST_DAY}).first()
    c = figures.conservation
    assert (c.rows_in, c.kept, c.quarantined) == (audit.rows_in, audit.rows_kept, audit.rows_quarantined) and c.holds
    assert figures.clean_run_id == audit.run_id and f"clean run {audit.run_id}" in page
    assert f"<td>{audit.rows_in:,}</td>" in page and f"<td>{audit.rows_kept:,}</td>" in page and "holds" in page
    for reason, rows in audit.quarantined_by_reason.items():
        assert f"<td>{reason}</td>" in page and f"<td>{rows:,}</td>" in page
    # KPIs: the day's row, and 28 days of trend.
    kpi = lake.read(spark, model_lake, DAILY_KPIS, {"kpi_date": GOLD_LAST_DAY}).first()
    assert f"<td>{kpi.active_users:,}</td>" in page and f"<td>{kpi.sessions:,}</td>" in page
    assert len(figures.kpis) == 28 and figures.kpis["kpi_date"].min() == GOLD_START
    # Segments of the last day's run, and the models in use: ALS and propensity of the last day (trained on the cut-off's labels).
    segments = lake.read(spark, model_lake, USER_SEGMENTS, {"run_date": GOLD_LAST_DAY})
    assert figures.segments["users"].sum() == segments.count()
    for name in figures.segments["segment_name"]:
        assert f"<td>{name}</td>" in page
    assert set(figures.recommend["model"]) == {"als", "popularity"} and (figures.recommend["run_date"] == GOLD_LAST_DAY).all()
    assert sorted(figures.propensity["target"]) == ["churned", "purchased"] and (figures.propensity["run_date"] == GOLD_LAST_DAY).all()
    assert (figures.propensity["cutoff_date"] == GOLD_CUTOFF).all()
    assert figures.propensity_lift.groupby("target")["decile"].apply(sorted).to_dict() == {t: list(range(1, 11)) for t in ("churned", "purchased")}
    ndcg = figures.recommend.set_index("model").loc["als", "ndcg_at_k"]
    assert f"{ndcg:.4g}" in page
    auc = figures.propensity.set_index("target").loc["churned", "roc_auc"]
    assert f"{auc:.4g}" in section(page, "<h3>Churn and purchase propensity")
    # No LSTM in this lake: its section says so, and which jobs write it.
    assert figures.lstm is None
    lstm = section(page, "<h3>Sequence model (ml.lstm_metrics, test split)</h3>")
    assert f"Not available: {MISSING['lstm']}." in lstm and "ecomlake train-lstm, score-lstm" in lstm
    # The day's job runs, from ops.run_ledger (the gold lake's jobs ran through the runner): each run's end row.
    assert figures.ledger is not None and set(figures.ledger["run_date"]) == {GOLD_LAST_DAY}
    ended = figures.ledger[figures.ledger["status"] != ledger.RUNNING]
    assert list(ended["job"]) == ["ingest", "clean", "featurize"] and set(ended["status"]) == {ledger.SUCCEEDED}
    assert sorted(figures.ledger["run_id"].value_counts()) == [2, 2, 2]  # each with its running row
    runs = section(page, "<h3>Job runs (ops.run_ledger)</h3>")
    assert "Not available" not in runs and runs.count("<td>succeeded</td>") == 3 and "<td>running</td>" not in runs
    for job in ("ingest", "clean", "featurize"):
        assert f"<td>{job}</td>" in runs
    clean = ended[ended["job"] == "clean"].iloc[0]
    assert clean["run_id"] == audit.run_id and clean["rows_in"] == audit.rows_in  # the ledger and the audit tell the same clean run
    assert f"<td>{audit.rows_in:,}</td>" in runs


@pytest.fixture
def report_lake(model_lake: Config, tmp_path: Path) -> Config:
    """The tables the report reads, copied from model_lake: a report run through the CLI records itself in ops.run_ledger."""
    cfg = lake_config(model_lake, tmp_path / "lake", f"featurize.label_horizon_days={GOLD_HORIZON}")
    copy_tables(model_lake, cfg, *REPORTED)
    return cfg


def test_report_cli_replaces_an_earlier_report_and_a_day_without_data_exits_3(
    spark: SparkSession, report_lake: Config, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = cli_keys(report_lake)
    out = tmp_path / "reports" / "day"
    out.mkdir(parents=True)
    earlier = [out / "report.html", out / "models.png"]  # an earlier run's report, with a chart this day has not
    for path in earlier:
        path.write_bytes(b"old")
    folder.write_marker(out, earlier)
    # The cut-off day: clean ran once, on the last day, so this day has KPIs and segments but no audit row; the models in use
    # then (recommend and propensity ran on the last day) are none.
    assert main(["report", *keys, "--date", str(GOLD_CUTOFF), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"report {GOLD_CUTOFF}: {out / 'report.html'} with 3 charts (funnel, kpis, segments) (" in printed
    # The earlier report is replaced whole: its models.png is gone.
    assert sorted(p.name for p in out.iterdir()) == [folder.MARKER, "funnel.png", "kpis.png", "report.html", "segments.png"]
    page = (out / "report.html").read_text()
    assert f"Not available: {MISSING['conservation']}." in page and "Not available: no successful clean run for this date" in page
    for key in ("recommend", "propensity", "lstm"):
        assert f"Not available: {MISSING[key]}." in page
    assert [p.name for p in out.parent.iterdir()] == ["day"]  # no staging folder left behind
    # The report's run is recorded like any job's: its running row was already there when the page listed the day's runs.
    runs = lake.read(spark, report_lake, RUN_LEDGER, {"job": "report"}).orderBy("started_at", F.col("ended_at").asc_nulls_first()).collect()
    assert [(r.run_date, r.status, r.pipeline_run_id) for r in runs] == [(GOLD_CUTOFF, ledger.RUNNING, None), (GOLD_CUTOFF, ledger.SUCCEEDED, None)]
    assert runs[1].figures == {"charts": 3.0} and json.loads(runs[1].params) == {"date": str(GOLD_CUTOFF), "out": str(out)}
    day_runs = section(page, "<h3>Job runs (ops.run_ledger)</h3>")
    assert "<td>featurize</td>" in day_runs and "<td>report</td>" in day_runs and "<td>running</td>" in day_runs
    before = GOLD_START - dt.timedelta(days=1)
    assert main(["report", *keys, "--date", str(before)]) == 3
    assert f"nothing to report for {before}" in capsys.readouterr().err
    failed = lake.read(spark, report_lake, RUN_LEDGER, {"job": "report", "run_date": before, "status": ledger.FAILED}).collect()
    assert len(failed) == 1 and failed[0].error.startswith(f"InputMissingError: nothing to report for {before}")


@pytest.mark.dl  # lstm_lake trains the LSTM
def test_the_report_shows_the_lstm_against_its_baselines(spark: SparkSession, lstm_lake: Config, tmp_path: Path) -> None:
    """The LSTM's lake, scored for the cut-off: its metrics in the models section and chart, beside the churn baseline's."""
    figures, files = write_report(spark, lstm_lake, GOLD_CUTOFF, tmp_path / "report")
    assert {"kpis", "funnel", "models"} <= set(files)
    assert files["models"].read_bytes().startswith(PNG_MAGIC)
    page = files["report"].read_text()
    in_use = lake.read(spark, lstm_lake, LSTM_SCORES, {"run_date": GOLD_CUTOFF}).select("model_version").distinct().collect()
    assert len(in_use) == 1
    assert set(figures.lstm["model"]) == {"lstm", "most_frequent", "last_event", "propensity"} and len(figures.lstm) == 4
    metrics = lake.read(spark, lstm_lake, LSTM_METRICS, {"model_version": in_use[0].model_version, "model": "lstm"}).first()
    lstm = section(page, "<h3>Sequence model (ml.lstm_metrics, test split)</h3>")
    assert "Not available" not in lstm and "<td>lstm</td>" in lstm and "<td>propensity</td>" in lstm
    assert f"<td>{metrics.next_event_accuracy:.4g}</td>" in lstm and f"<td>{metrics.test_rows:,}</td>" in lstm
    # The churn baseline of this lake: churned only, trained on the labels of the cut-off's horizon, scored on the cut-off.
    assert list(figures.propensity["target"]) == ["churned"] and (figures.propensity["run_date"] == GOLD_CUTOFF).all()
    assert sorted(figures.propensity_lift["decile"]) == list(range(1, 11))
    assert figures.recommend is None and f"Not available: {MISSING['recommend']}." in page
