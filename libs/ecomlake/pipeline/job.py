"""``ecomlake pipeline``: the daily DAG for a date, or a backfill over a range of dates, recorded in ops.run_ledger.

For each date, in order, the steps of ``pipeline.steps`` (a subset of ingest -> clean -> featurize ->
profile -> recommend -> propensity -> sequences -> train-lstm -> score-lstm, always in that order):

- a step already succeeded for the date is skipped, unless ``--force``; ``--from STEP`` starts at a step
  (the earlier ones are neither run nor checked), ``--only STEP`` runs one step (a scheduler's task);
- each attempt is recorded when it starts (``running``) and when it ends: a driver killed mid-step
  leaves a ``running`` row that never ends, beside the re-run's rows;
- a step whose input cannot exist yet for the date (labels before the horizon has passed, say) is
  recorded as skipped, with the reason, and the DAG goes on;
- any other failure is recorded as failed with its error and stops the DAG: the process exits non-zero
  with a one-line reason (the step's own exit code for config, input-missing and data-quality errors,
  5 for anything else), and the dates after it are not run.

Every job replaces exactly its date's slices in one commit, so re-running a date (or a whole backfill)
gives the same tables; the ledger keeps every attempt.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import logging
import time

from pyspark.sql import SparkSession

from ecomlake.config import PIPELINE_STEPS, Config
from ecomlake.errors import ConfigError, DataQualityError, EcomlakeError, InputMissingError, StepFailedError
from ecomlake.job import Job, iso_date
from ecomlake.pipeline import ledger
from ecomlake.pipeline.steps import STEPS
from ecomlake.runinfo import new_run_id

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class PipelineResult:
    run_id: str
    records: tuple[ledger.StepRecord, ...]  # this run's attempts (skips of already-succeeded steps are not attempts)
    already_done: tuple[tuple[dt.date, str], ...]  # (date, step) skipped because the ledger says it succeeded
    seconds: float


def dates_between(start: dt.date, end: dt.date) -> list[dt.date]:
    if end < start:
        raise ConfigError(f"--end {end} is before --start {start}")
    return [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]


def run_pipeline(
    spark: SparkSession,
    config: Config,
    dates: list[dt.date],
    force: bool = False,
    start_step: str | None = None,
    quiet: bool = False,
    only_step: str | None = None,
) -> PipelineResult:
    """Run the configured steps for each date in order; raise on the first failed step (after recording it)."""
    t0, run_id = time.perf_counter(), new_run_id()
    steps = [s for s in STEPS if s.name in config.pipeline.steps]
    names = [s.name for s in steps]
    for flag, name in (("--from", start_step), ("--only", only_step)):
        if name is not None and name not in names:
            raise ConfigError(f"{flag} {name}: not among pipeline.steps {list(config.pipeline.steps)}")
    if start_step is not None:
        steps = steps[names.index(start_step) :]
    if only_step is not None:
        steps = [s for s in steps if s.name == only_step]
    records: list[ledger.StepRecord] = []
    already: list[tuple[dt.date, str]] = []
    total = len(dates) * len(steps)
    for d, day in enumerate(dates):
        done = set() if force else ledger.succeeded(spark, config, day)
        for s, step in enumerate(steps):
            progress = f"[{d * len(steps) + s + 1}/{total}]"
            if step.name in done:
                already.append((day, step.name))
                _report(quiet, progress, run_id, day, step.name, "already succeeded (--force re-runs it)", {"status": "already_succeeded"})
                continue
            # The start is recorded first: a driver killed mid-step leaves a "running" row that never ends.
            started, failure = _now(), None
            ledger.record(spark, config, ledger.StepRecord(run_id, step.name, day, ledger.RUNNING, started, None, None, None, None))
            try:
                rows_in, rows_out = step.run(spark, config, day)
                r = ledger.StepRecord(run_id, step.name, day, ledger.SUCCEEDED, started, _now(), rows_in, rows_out, None)
            except step.skip_on as exc:
                r = ledger.StepRecord(run_id, step.name, day, ledger.SKIPPED, started, _now(), None, None, str(exc))
            except Exception as exc:
                r = ledger.StepRecord(run_id, step.name, day, ledger.FAILED, started, _now(), None, None, f"{type(exc).__name__}: {exc}")
                failure = exc
            ledger.record(spark, config, r)
            records.append(r)
            _report(quiet, progress, run_id, day, step.name, _outcome(r), _fields(r))
            if failure is not None:
                raise _step_error(failure)(f"step {step.name} for {day} failed: {r.error}") from failure
    return PipelineResult(run_id, tuple(records), tuple(already), time.perf_counter() - t0)


def _step_error(exc: Exception) -> type[EcomlakeError]:
    """The error class to stop with: the step's own kind (and exit code) for ours, StepFailedError (5) for the rest."""
    for kind in (ConfigError, InputMissingError, DataQualityError):
        if isinstance(exc, kind):
            return kind
    return StepFailedError


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _outcome(r: ledger.StepRecord) -> str:
    assert r.seconds is not None
    rows = "".join(f", {label} {n:,}" for label, n in (("rows in", r.rows_in), ("rows out", r.rows_out)) if n is not None)
    reason = f": {r.error.splitlines()[0]}" if r.error else ""
    return f"{r.status} in {r.seconds:.1f} s{rows}{reason}"


def _fields(r: ledger.StepRecord) -> dict[str, object]:
    assert r.seconds is not None
    return {"status": r.status, "seconds": round(r.seconds, 3), "rows_in": r.rows_in, "rows_out": r.rows_out, "error": r.error}


def _report(quiet: bool, progress: str, run_id: str, day: dt.date, step: str, outcome: str, fields: dict[str, object]) -> None:
    """One structured log record per step (JSON with --json-logs) and, unless --quiet, a progress line on stdout."""
    line = f"pipeline {progress} {day} {step}: {outcome}"
    log.info(line, extra={"fields": {"event": "pipeline_step", "run_id": run_id, "run_date": day.isoformat(), "step": step, **fields}})
    if not quiet:
        print(line, flush=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    when = parser.add_mutually_exclusive_group(required=True)
    when.add_argument("--date", type=iso_date, help="run the pipeline for this day (YYYY-MM-DD)")
    when.add_argument("--start", type=iso_date, help="backfill: the first day (with --end)")
    parser.add_argument("--end", type=iso_date, help="backfill: the last day, included")
    parser.add_argument("--force", action="store_true", help="re-run steps that already succeeded for the date")
    step = parser.add_mutually_exclusive_group()
    step.add_argument("--from", dest="start_step", choices=PIPELINE_STEPS, help="start at this step (resume after a fix)")
    step.add_argument("--only", dest="only_step", choices=PIPELINE_STEPS, help="run just this step (a scheduler's task per step)")


def run(spark: SparkSession | None, config: Config, args: argparse.Namespace) -> PipelineResult:
    assert spark is not None
    if args.start is not None and args.end is None:
        raise ConfigError("--start needs --end (the last day of the backfill)")
    if args.date is not None and args.end is not None:
        raise ConfigError("--end goes with --start, not with --date")
    dates = [args.date] if args.date is not None else dates_between(args.start, args.end)
    r = run_pipeline(spark, config, dates, args.force, args.start_step, quiet=args.quiet, only_step=args.only_step)
    ran = sum(1 for x in r.records if x.status == ledger.SUCCEEDED)
    skipped = sum(1 for x in r.records if x.status == ledger.SKIPPED)
    summary = (
        f"pipeline {dates[0]}..{dates[-1]} ({len(dates)} day(s)), run {r.run_id}: {ran} step(s) succeeded, {skipped} skipped, "
        f"{len(r.already_done)} already done, in {r.seconds:.1f} s"
    )
    fields = {"event": "pipeline_run", "run_id": r.run_id, "succeeded": ran, "skipped": skipped, "seconds": round(r.seconds, 3)}
    log.info(summary, extra={"fields": fields})
    print(summary)
    return r


JOB = Job("pipeline", "Run the daily pipeline for a date, or backfill a range of dates, recording each step in ops.run_ledger", add_arguments, run)
