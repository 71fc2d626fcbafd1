"""CSV exports cannot run spreadsheet formulas: text cells starting with = + - @ tab or CR are escaped, numbers are not (no Spark)."""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from ecomlake.analyst import sql
from ecomlake.cli import main

TEXT = ['=HYPERLINK("http://x","y")', "+1", "-x", "@x", "\tx", "\rx", "plain", "a=b", None]
ESCAPED = ['\'=HYPERLINK("http://x","y")', "'+1", "'-x", "'@x", "'\tx", "'\rx", "plain", "a=b", ""]


def frame() -> pd.DataFrame:
    """A query's result: a text column with every formula prefix, numbers (negative ones too), dates and objects."""
    n = len(TEXT)
    return pd.DataFrame(
        {
            "brand": TEXT,
            "delta": [-1] * n,
            "price": [-1.5] * n,
            "day": [dt.date(2019, 10, 1)] * n,
            "amount": [Decimal("-2.50")] * n,  # Spark's DECIMAL comes to pandas as Python objects: a number, not text
            "=1+1": ["ok"] * n,  # a column name is a header cell
        }
    )


def read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="") as f:
        return list(csv.reader(f))


def test_csv_export_escapes_formulas_in_text_only(tmp_path: Path) -> None:
    path = sql.write_result(frame(), "csv", str(tmp_path / "out.csv"))
    header, *rows = read_csv(path)
    assert header == ["brand", "delta", "price", "day", "amount", "'=1+1"]
    assert [r[0] for r in rows] == ESCAPED
    assert {tuple(r[1:]) for r in rows} == {("-1", "-1.5", "2019-10-01", "-2.50", "ok")}  # numbers and dates as they were


def test_the_sql_command_writes_escaped_csv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sql, "result_frame", lambda config, params, limit: frame())  # the engine's rows, without a lake
    out = tmp_path / "result.csv"
    assert main(["sql", "SELECT brand FROM gold_sessions", "--format", "csv", "--out", str(out)]) == 0
    assert f"sql: {len(TEXT)} rows written to {out} (csv)" in capsys.readouterr().out
    header, *rows = read_csv(out)
    assert header[0] == "brand" and [r[0] for r in rows] == ESCAPED and {r[1] for r in rows} == {"-1"}


def test_json_and_parquet_keep_the_values(tmp_path: Path) -> None:
    """Not spreadsheet formats: an analyst's program reads the values as they are."""
    json_path = sql.write_result(frame()[["brand", "delta"]], "json", str(tmp_path / "out.json"))
    assert pd.read_json(json_path, lines=True)["brand"].tolist()[:6] == TEXT[:6]
