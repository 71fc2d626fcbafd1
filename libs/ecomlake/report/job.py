"""``ecomlake report --date D [--out DIR]``: the day's run report, written as one folder (report.html and PNG charts).

The folder is written beside its final place and renamed into it, so a reader never sees half a report and a
re-run replaces the old one whole. Only a new or empty folder, or an earlier report's, is replaced: any other is
refused before anything is read or deleted (ConfigError, exit 2; :mod:`ecomlake.report.folder`). A date the lake
has nothing for is an InputMissingError (exit 3).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import SparkSession

from ecomlake.config import Config
from ecomlake.job import Context, SparkJob, iso_date
from ecomlake.report import folder
from ecomlake.report.figures import DayFigures, day_figures
from ecomlake.report.render import CHARTS, render

CHART_NAMES = frozenset(CHARTS)


@dataclass(frozen=True)
class ReportParams:
    date: dt.date  # the day to report
    out: Path | None = None  # the report folder; None: <lake.root>/reports/<date>


@dataclass(frozen=True)
class ReportResult:
    date: dt.date
    files: dict[str, Path]  # "report" (the HTML page) and each chart by name

    @property
    def rows_in(self) -> None:
        return None

    @property
    def rows_out(self) -> None:
        return None

    def figures(self) -> Mapping[str, float]:
        return {"charts": len(self.files) - 1}

    def summary(self) -> str:
        charts = sorted(name for name in self.files if name != "report")
        return f"report {self.date}: {self.files['report']} with {len(charts)} charts ({', '.join(charts)})"


def default_out(config: Config, date: dt.date) -> Path:
    return Path(config.lake.root) / "reports" / date.isoformat()


def write_report(spark: SparkSession, config: Config, date: dt.date, out: Path | None = None) -> tuple[DayFigures, dict[str, Path]]:
    # Absolute, normalised, symbolic links kept (the check refuses one): `--out .` is then a folder with a parent for the staging.
    out = Path(os.path.abspath(out or default_out(config, date)))
    folder.require_replaceable(out, CHART_NAMES)  # before the figures: a refused folder costs nothing
    figures = day_figures(spark, config, date)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        files = render(figures, staging)
        folder.write_marker(staging, list(files.values()))
        staging.chmod(0o755)  # mkdtemp makes it private; a report is for sharing
        folder.replace(staging, out, CHART_NAMES)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return figures, {name: out / path.name for name, path in files.items()}


def run(ctx: Context, params: ReportParams) -> ReportResult:
    """Write the day's report folder (report.html and the PNG charts)."""
    _, files = write_report(ctx.spark, ctx.config, params.date, params.out)
    return ReportResult(params.date, files)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--date", type=iso_date, required=True, help="the day to report, YYYY-MM-DD")
    parser.add_argument(
        "--out",
        type=Path,
        help="the report folder (default <lake.root>/reports/<date>); it is replaced whole, so it must be new, empty or an "
        "earlier report's: a folder holding anything else is refused (exit 2) and left as it is",
    )


JOB = SparkJob(
    "report",
    "Write a day's run report: self-contained HTML and PNG charts (conservation, KPIs, funnel, segments, models)",
    ReportParams,
    run,
    add_arguments,
)
