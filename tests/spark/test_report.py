"""ecomlake report on the lake with every table: the HTML page and its PNG charts exist and hold the day's figures."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from ecomlake import lake
from ecomlake.cli import main
from ecomlake.config import Config
from ecomlake.report.job import write_report
from tests.conftest import cli_keys
from tests.spark.conftest import GOLD_CUTOFF, GOLD_LAST_DAY, GOLD_START

pytestmark = pytest.mark.dl  # model_lake trains the LSTM

CHARTS = {"conservation", "quarantine", "kpis", "funnel", "segments", "models"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_the_report_shows_the_days_figures(spark: SparkSession, model_lake: Config, tmp_path: Path) -> None:
    figures, files = write_report(spark, model_lake, GOLD_LAST_DAY, tmp_path / "report")
    assert set(files) == CHARTS | {"report"}
    for name in CHARTS:
        data = files[name].read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 10_000, name
    page = files["report"].read_text()
    assert page.count("data:image/png;base64,") == len(CHARTS)  # self-contained: the charts are in the page too

    # Row conservation: the clean run's audit, and it holds.
    audit = lake.read_table(spark, model_lake.lake, lake.RUN_AUDIT).where(F.col("run_date") == GOLD_LAST_DAY).first()
    c = figures.conservation
    assert (c.rows_in, c.kept, c.quarantined) == (audit.rows_in, audit.rows_kept, audit.rows_quarantined) and c.holds
    assert figures.clean_run_id == audit.run_id and f"clean run {audit.run_id}" in page
    assert f"<td>{audit.rows_in:,}</td>" in page and f"<td>{audit.rows_kept:,}</td>" in page and "holds" in page
    for reason, rows in audit.quarantined_by_reason.items():
        assert f"<td>{reason}</td>" in page and f"<td>{rows:,}</td>" in page
    # KPIs: the day's row, and 28 days of trend.
    kpi = lake.read_table(spark, model_lake.lake, lake.DAILY_KPIS).where(F.col("kpi_date") == GOLD_LAST_DAY).first()
    assert f"<td>{kpi.active_users:,}</td>" in page and f"<td>{kpi.sessions:,}</td>" in page
    assert len(figures.kpis) == 28 and figures.kpis["kpi_date"].min() == GOLD_START
    # Segments of the last day's run, and the models in use: ALS of the last day, propensity and LSTM of the cut-off.
    segments = lake.read_table(spark, model_lake.lake, lake.USER_SEGMENTS).where(F.col("run_date") == GOLD_LAST_DAY)
    assert figures.segments["users"].sum() == segments.count()
    for name in figures.segments["segment_name"]:
        assert f"<td>{name}</td>" in page
    assert set(figures.recommend["model"]) == {"als", "popularity"} and (figures.recommend["run_date"] == GOLD_LAST_DAY).all()
    assert list(figures.propensity["target"]) == ["churned"] and (figures.propensity["run_date"] == GOLD_CUTOFF).all()
    assert sorted(figures.propensity_lift["decile"]) == list(range(1, 11))
    assert set(figures.lstm["model"]) == {"lstm", "most_frequent", "last_event", "propensity"}
    ndcg = figures.recommend.set_index("model").loc["als", "ndcg_at_k"]
    assert f"{ndcg:.4g}" in page
    # Jobs were run one by one in this lake, so there is no pipeline ledger: the page says so, and why.
    assert figures.ledger is None and "Not available: no ops.run_ledger rows for this date" in page


def test_report_cli_replaces_the_folder_and_a_day_without_data_exits_3(
    model_lake: Config, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = cli_keys(model_lake)
    out = tmp_path / "day"
    out.mkdir()
    (out / "stale.png").write_bytes(b"old")
    # The cut-off day: clean ran once, on the last day, so this day has KPIs but no audit row.
    assert main(["report", *keys, "--date", str(GOLD_CUTOFF), "--out", str(out)]) == 0
    assert f"report {GOLD_CUTOFF}: {out / 'report.html'} with 4 charts" in capsys.readouterr().out
    assert not (out / "stale.png").exists() and not (out / "conservation.png").exists()
    assert "Not available: no successful clean run for this date" in (out / "report.html").read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["day"]  # no staging folder left behind
    before = GOLD_START - dt.timedelta(days=1)
    assert main(["report", *keys, "--date", str(before)]) == 3
    assert f"nothing to report for {before}" in capsys.readouterr().err
