"""``ecomlake pipeline``: the daily DAG for a date, or a backfill over a range of dates, each step recorded in ops.run_ledger.

For each date, in order, the steps of ``pipeline.steps`` (a subset of :data:`ecomlake.pipeline.dag.STEPS`,
always in that order), each the job of its name run through :func:`ecomlake.job.execute` with the
date as its parameter:

- a step already succeeded for the date (with the same parameters: alone or in an earlier pipeline run)
  is skipped, unless ``--force``; ``--from STEP`` starts at a step (the earlier ones are neither run nor
  checked), ``--through STEP`` stops after a step, ``--only STEP`` runs one step (a scheduler's task);
- each run is recorded when it starts (``running``) and when it ends, with this pipeline run's id: a
  driver killed mid-step leaves a ``running`` row that never ends, beside the re-run's rows;
- a step whose job raises :class:`~ecomlake.errors.NotDueError` (its input cannot exist yet for the date
  by design: labels before their horizon has passed, say; see :mod:`ecomlake.pipeline.dag`) is recorded
  as skipped, with the reason, and the DAG goes on;
- any other failure, a missing table, snapshot or slice included, is recorded as failed with its error
  and stops the DAG: the process exits non-zero with a one-line reason (the step's own exit code for
  config, input-missing and data-quality errors, 5 for anything else), and the dates after it are not run.

Every job replaces exactly its date's slices in one commit, so re-running a date (or a whole backfill)
gives the same tables; the ledger keeps every attempt.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Mapping
from typing import Any

from ecomlake import jobs, ledger
from ecomlake.config import Config
from ecomlake.errors import ConfigError, DataQualityError, EcomlakeError, InputMissingError, NotDueError, StepFailedError
from ecomlake.job import Context, SparkJob, execute, iso_date
from ecomlake.pipeline.dag import STEP_NAMES, STEPS, Step

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class PipelineParams:
    date: dt.date | None = None  # one day
    start: dt.date | None = None  # or a backfill from start to end, included
    end: dt.date | None = None
    force: bool = False  # re-run steps that already succeeded for the date
    start_step: str | None = None  # --from: start at this step
    only_step: str | None = None  # --only: run just this step
    end_step: str | None = None  # --through: stop after this step
    summaries: bool = False  # print each step's own summary instead of one progress line per step

    def __post_init__(self) -> None:
        if (self.date is None) == (self.start is None):
            raise ConfigError("pipeline takes --date D, or --start D1 --end D2")
        if self.start is not None and self.end is None:
            raise ConfigError("--start needs --end (the last day of the backfill)")
        if self.date is not None and self.end is not None:
            raise ConfigError("--end goes with --start, not with --date")
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ConfigError(f"--end {self.end} is before --start {self.start}")

    @property
    def dates(self) -> list[dt.date]:
        if self.date is not None:
            return [self.date]
        assert self.start is not None and self.end is not None  # __post_init__ checks it
        return [self.start + dt.timedelta(days=n) for n in range((self.end - self.start).days + 1)]


@dataclasses.dataclass(frozen=True)
class StepRun:
    """One step's outcome for a date in this pipeline run."""

    job: str
    run_date: dt.date
    status: str  # succeeded, skipped, failed, or already_succeeded (not run)
    seconds: float
    outcome: Any = None  # the job's result when it ran
    error: str | None = None


@dataclasses.dataclass(frozen=True)
class PipelineResult:
    run_id: str
    dates: tuple[dt.date, ...]
    steps: tuple[StepRun, ...]  # this run's steps, in order
    seconds: float

    def count(self, status: str) -> int:
        return sum(1 for s in self.steps if s.status == status)

    @property
    def rows_in(self) -> None:
        return None

    @property
    def rows_out(self) -> int:
        return sum(s.outcome.rows_out or 0 for s in self.steps if s.outcome is not None)

    def figures(self) -> Mapping[str, float]:
        return {status: self.count(status) for status in (ledger.SUCCEEDED, ledger.SKIPPED, ALREADY)}

    def summary(self) -> str:
        return (
            f"pipeline {self.dates[0]}..{self.dates[-1]} ({len(self.dates)} day(s)), run {self.run_id}: {self.count(ledger.SUCCEEDED)} step(s) "
            f"succeeded, {self.count(ledger.SKIPPED)} skipped, {self.count(ALREADY)} already done"
        )


ALREADY = "already_succeeded"


def run(ctx: Context, params: PipelineParams) -> PipelineResult:
    """Run the configured steps for each date in order; raise on the first failed step (after recording it)."""
    t0, echo_steps = time.perf_counter(), params.summaries
    steps = _steps(ctx.config, params.start_step, params.only_step, params.end_step)
    runs: list[StepRun] = []
    total = len(params.dates) * len(steps)
    for d, day in enumerate(params.dates):
        step_params = {step.job: jobs.load(step.job).params(date=day) for step in steps}
        done = set() if params.force else ledger.succeeded(ctx.spark, ctx.config, day, {j: ledger.params_json(p) for j, p in step_params.items()})
        for s, step in enumerate(steps):
            progress = f"[{d * len(steps) + s + 1}/{total}]"
            if step.job in done:
                runs.append(StepRun(step.job, day, ALREADY, 0.0))
                _report(ctx, progress, runs[-1], "already succeeded (--force re-runs it)", echo_steps)
                continue
            runs.append(_run_step(ctx, step, step_params[step.job], day, echo_steps))
            _report(ctx, progress, runs[-1], _outcome(runs[-1]), echo_steps)
            if runs[-1].status == ledger.FAILED:
                failure = runs[-1].outcome
                raise _step_error(failure)(f"step {step.job} for {day} failed: {runs[-1].error}") from failure
    return PipelineResult(ctx.run_id, tuple(params.dates), tuple(runs), time.perf_counter() - t0)


def _steps(config: Config, start_step: str | None, only_step: str | None, end_step: str | None = None) -> list[Step]:
    steps = [s for s in STEPS if s.job in config.pipeline.steps]
    names = [s.job for s in steps]
    for flag, name in (("--from", start_step), ("--only", only_step), ("--through", end_step)):
        if name is not None and name not in names:
            raise ConfigError(f"{flag} {name}: not among pipeline.steps {list(config.pipeline.steps)}")
    if start_step is not None and end_step is not None and names.index(end_step) < names.index(start_step):
        raise ConfigError(f"--through {end_step} comes before --from {start_step} in the pipeline")
    if end_step is not None:
        steps = steps[: names.index(end_step) + 1]
    if start_step is not None:
        steps = steps[names.index(start_step) :]
    return [s for s in steps if only_step is None or s.job == only_step]


def _run_step(ctx: Context, step: Step, params: Any, day: dt.date, echo: bool) -> StepRun:
    """One step through the job runner, in a run of its own (its own run id), under this pipeline run's id."""
    job = jobs.load(step.job)
    assert isinstance(job, SparkJob), f"pipeline step {step.job} is not a Spark job"
    t = time.perf_counter()
    step_ctx = Context(ctx.spark, ctx.config)
    try:
        outcome = execute(job, step_ctx, params, echo=echo, pipeline_run_id=ctx.run_id, skip_on=(NotDueError,))
    except NotDueError as exc:  # not yet by design; any other InputMissingError is a real failure
        return StepRun(step.job, day, ledger.SKIPPED, time.perf_counter() - t, None, str(exc))
    except Exception as exc:
        return StepRun(step.job, day, ledger.FAILED, time.perf_counter() - t, exc, f"{type(exc).__name__}: {exc}")
    return StepRun(step.job, day, ledger.SUCCEEDED, time.perf_counter() - t, outcome)


def _step_error(exc: Exception) -> type[EcomlakeError]:
    """The error class to stop with: the step's own kind (and exit code) for ours, StepFailedError (5) for the rest."""
    for kind in (ConfigError, InputMissingError, DataQualityError):
        if isinstance(exc, kind):
            return kind
    return StepFailedError


def _outcome(r: StepRun) -> str:
    rows = ""
    if r.outcome is not None and not isinstance(r.outcome, Exception):
        rows = "".join(f", {label} {n:,}" for label, n in (("rows in", r.outcome.rows_in), ("rows out", r.outcome.rows_out)) if n is not None)
    reason = f": {r.error.splitlines()[0]}" if r.error else ""
    return f"{r.status} in {r.seconds:.1f} s{rows}{reason}"


def _report(ctx: Context, progress: str, r: StepRun, outcome: str, echo_steps: bool) -> None:
    """One structured log record per step (JSON with --json-logs) and a progress line on stdout (a skip's reason with echo_steps)."""
    line = f"pipeline {progress} {r.run_date} {r.job}: {outcome}"
    fields = {"event": "pipeline_step", "run_id": ctx.run_id, "run_date": r.run_date.isoformat(), "step": r.job, "status": r.status}
    done = r.outcome if r.status == ledger.SUCCEEDED else None
    rows = {"rows_in": done.rows_in if done else None, "rows_out": done.rows_out if done else None}
    log.info(line, extra={"fields": fields | rows | {"seconds": round(r.seconds, 3), "error": r.error}})
    if not echo_steps:
        print(line, flush=True)
    elif r.status == ledger.SKIPPED:
        print(f"{r.job}: skipped: {r.error}", flush=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    when = parser.add_mutually_exclusive_group(required=True)
    when.add_argument("--date", type=iso_date, help="run the pipeline for this day (YYYY-MM-DD)")
    when.add_argument("--start", type=iso_date, help="backfill: the first day (with --end)")
    parser.add_argument("--end", type=iso_date, help="backfill: the last day, included")
    parser.add_argument("--force", action="store_true", help="re-run steps that already succeeded for the date")
    step = parser.add_mutually_exclusive_group()
    step.add_argument("--from", dest="start_step", choices=STEP_NAMES, help="start at this step (resume after a fix)")
    step.add_argument("--only", dest="only_step", choices=STEP_NAMES, help="run just this step (a scheduler's task per step)")
    parser.add_argument("--through", dest="end_step", choices=STEP_NAMES, help="stop after this step (e.g. featurize: the lake without models)")
    parser.add_argument(
        "--summaries", action="store_true", help="print each step's own summary (as the job alone prints it) instead of a progress line"
    )


JOB = SparkJob(
    "pipeline",
    "Run the daily pipeline for a date, or backfill a range of dates, recording each step in ops.run_ledger",
    PipelineParams,
    run,
    add_arguments,
    records=False,  # its steps are the records, each with this run's id as pipeline_run_id
)
