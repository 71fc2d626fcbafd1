"""``ecomlake backfill --path FILE``: start a lake from history, e.g. a downloaded month (``2019-Oct.csv``).

Loads files spanning many days as if each day had been delivered on its own (every record under its
event's day, :func:`ecomlake.ingest.job.load_history`), then runs the daily pipeline for each day in order
from clean on (``--through STEP`` stops after a step), with a progress line per step. The lake it gives is
the one day-by-day deliveries of the same events give, table by table (tested): the late-data window, the
bot rules and the re-delivery check all apply per day. Re-running it gives the same tables; steps that
already succeeded for a day are not run again (``--force`` re-runs them).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import time
from collections.abc import Mapping

from ecomlake import jobs, ledger
from ecomlake.errors import ConfigError
from ecomlake.ingest.history import HistoryLoad, load_history
from ecomlake.ingest.layouts import builtin_layouts
from ecomlake.job import Context, Outcome, SparkJob, execute, iso_date
from ecomlake.pipeline.dag import STEP_NAMES

ALREADY = "already_succeeded"  # the pipeline's figure for steps not run again


@dataclasses.dataclass(frozen=True)
class BackfillParams:
    paths: tuple[str, ...]  # files, folders or globs holding many days of events
    start: dt.date | None = None  # the first day loaded; None: the first event day found
    end: dt.date | None = None  # the last day, included; None: the last event day found
    through: str | None = None  # the last pipeline step run for each day; None: every step of pipeline.steps
    force: bool = False  # re-run steps that already succeeded for a day

    def __post_init__(self) -> None:
        if not self.paths:
            raise ConfigError("backfill needs --path FILE_OR_GLOB (the historic files)")
        if self.through in ("ingest",):
            raise ConfigError("--through ingest: backfill always ingests; name a later step (clean, featurize, ...)")


@dataclasses.dataclass(frozen=True)
class BackfillResult:
    loaded: HistoryLoad
    days: tuple[Outcome, ...]  # one pipeline run per day with rows, in order (ecomlake.pipeline.job.PipelineResult)
    seconds: float

    @property
    def rows_in(self) -> int:
        return self.loaded.rows

    @property
    def rows_out(self) -> int:
        return sum(d.rows_out or 0 for d in self.days)

    def steps(self, status: str) -> int:
        """How many of the days' steps ended with ``status`` (succeeded, skipped or already_succeeded)."""
        return sum(int(d.figures().get(status) or 0) for d in self.days)

    def figures(self) -> Mapping[str, float]:
        return {"days": len(self.days), "files": len(self.loaded.files), "rows_loaded": self.loaded.rows}

    def summary(self) -> str:
        lo = self.loaded
        empty = (lo.last - lo.first).days + 1 - len(lo.rows_per_day)
        return (
            f"backfill {lo.first}..{lo.last}: {lo.rows:,} rows from {len(lo.files)} file(s) (layout {lo.layout}) loaded as "
            f"{len(lo.rows_per_day)} daily deliveries" + (f" ({empty} day(s) without events skipped)" if empty else "") + "; "
            f"{self.steps(ledger.SUCCEEDED)} step(s) succeeded, {self.steps(ledger.SKIPPED)} skipped, "
            f"{self.steps(ALREADY)} already done, in {self.seconds:.1f} s"
        )


def run(ctx: Context, params: BackfillParams) -> BackfillResult:
    """Load the history into bronze by event day, then the pipeline for each day from clean on; stops at the first failed step."""
    t0 = time.perf_counter()
    loaded = load_history(ctx, params.paths, params.start, params.end)
    print(f"backfill: {loaded.rows:,} rows loaded for {len(loaded.rows_per_day)} day(s), {loaded.first}..{loaded.last}", flush=True)
    pipeline = jobs.load("pipeline")  # through the registry, as the pipeline runs its steps: no job module imports another
    assert isinstance(pipeline, SparkJob)
    done: list[Outcome] = []
    for day in loaded.rows_per_day:
        day_params = pipeline.params(date=day, force=params.force, start_step="clean", end_step=params.through)
        done.append(execute(pipeline, Context(ctx.spark, ctx.config), day_params))
    return BackfillResult(loaded, tuple(done), time.perf_counter() - t0)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--path", dest="paths", action="append", required=True, help="a file, folder or glob of historic events (e.g. 2019-Oct.csv); repeatable"
    )
    parser.add_argument(
        "--layout", dest="ingest.layout", help=f"source layout: a built-in name ({', '.join(builtin_layouts())}) or a path to a layout YAML file"
    )
    parser.add_argument("--start", type=iso_date, help="the first day to load (default: the first event day in the files)")
    parser.add_argument("--end", type=iso_date, help="the last day to load, included (default: the last event day)")
    parser.add_argument("--through", choices=STEP_NAMES[1:], help="the last pipeline step to run for each day (default: all of pipeline.steps)")
    parser.add_argument("--force", action="store_true", help="re-run steps that already succeeded for a day")


JOB = SparkJob(
    "backfill",
    "Load historic files spanning many days (a downloaded month) as daily deliveries, then run the pipeline day by day",
    BackfillParams,
    run,
    add_arguments,
)
