"""The job contract: typed parameters in, a typed result out, one run record per run.

A job is a function ``run(ctx, params) -> result``: ``ctx`` (:class:`Context`) holds the session, the
config and the run's id, ``params`` is the job's frozen dataclass of parameters (its command-line
flags, typed), and the result is a frozen dataclass that says what the run read and wrote
(:class:`Outcome`). The command line builds the parameters from its arguments; the demo, the pipeline,
the Airflow example and the tests build them directly and call the same function, through
:func:`execute`, which writes the run's record (:mod:`ecomlake.ledger`) around it.

Jobs that need no Spark (``ecomlake config``, ``docs``, ``jars``, ``submit``) are :class:`LocalJob`\\ s:
their ``run`` takes the config and the parameters only.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from ecomlake.config import Config
from ecomlake.runinfo import new_run_id

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


class Outcome(Protocol):
    """What every job result tells its run record and the command line."""

    @property
    def rows_in(self) -> int | None: ...  # rows read, where the job counts them

    @property
    def rows_out(self) -> int | None: ...  # rows written, from the Delta commits

    def figures(self) -> Mapping[str, float | None]: ...  # the job's own figures for ops.run_ledger (None: not measured)

    def summary(self) -> str: ...  # what the command line prints


@dataclass(frozen=True)
class NoParams:
    """The parameters of a job without flags."""


@dataclass(frozen=True)
class Context:
    """What every run of a Spark job gets besides its parameters: the session, the config and the run's id."""

    spark: SparkSession
    config: Config
    run_id: str = field(default_factory=new_run_id)


log = logging.getLogger(__name__)

P = TypeVar("P")
R = TypeVar("R", bound=Outcome)


def no_arguments(parser: argparse.ArgumentParser) -> None:
    """The command-line flags of a job without flags of its own."""


@dataclass(frozen=True)
class SparkJob(Generic[P, R]):
    """A job that runs in a SparkSession. ``records``: whether its runs go to ops.run_ledger (jobs that read or write the lake)."""

    name: str
    summary: str
    params: type[P]
    run: Callable[[Context, P], R]
    add_arguments: Callable[[argparse.ArgumentParser], None] = no_arguments
    records: bool = True


@dataclass(frozen=True)
class LocalJob(Generic[P]):
    """A job that needs no Spark: it runs on the config alone and prints what it did."""

    name: str
    summary: str
    params: type[P]
    run: Callable[[Config, P], None]
    add_arguments: Callable[[argparse.ArgumentParser], None] = no_arguments


Job = SparkJob[Any, Any] | LocalJob[Any]


def params_from_args(params: type[P], args: argparse.Namespace) -> P:
    """The job's parameters from its parsed command line: each field from the flag of the same name (dest).

    Flags whose dest is a dotted config key (``generator.events``) are config overrides, not parameters.
    """
    fields = [f.name for f in dataclasses.fields(params)]  # type: ignore[arg-type]  # P is any params dataclass; mypy cannot bound a TypeVar to "a dataclass"
    values = {name: getattr(args, name) for name in fields if hasattr(args, name)}
    return params(**{name: tuple(v) if isinstance(v, list) else v for name, v in values.items()})  # frozen: lists become tuples


def config_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The flags given on the command line that override config keys (dest contains a dot)."""
    return {key: value for key, value in vars(args).items() if "." in key and value is not None}


def iso_date(text: str) -> dt.date:
    """argparse type for YYYY-MM-DD dates."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from exc


def execute(
    job: SparkJob[P, R],
    ctx: Context,
    params: P,
    *,
    echo: bool = False,
    pipeline_run_id: str | None = None,
    skip_on: tuple[type[Exception], ...] = (),
) -> R:
    """Run ``job`` with ``params``, recording the run in ops.run_ledger when it starts and when it ends.

    ``echo`` prints the result's summary, its first line ending in the run's seconds. An exception of ``skip_on`` is recorded as skipped (a pipeline
    step whose input cannot exist yet), any other as failed; both are raised again for the caller.
    """
    from ecomlake import ledger

    started, t0 = _now(), time.perf_counter()
    run = ledger.RunRecord.start(ctx, job.name, params, started, pipeline_run_id)
    if job.records:
        ledger.record(ctx, run)
    try:
        result = job.run(ctx, params)
    except Exception as exc:
        if job.records:
            status = ledger.SKIPPED if isinstance(exc, skip_on) else ledger.FAILED
            error = str(exc) if status == ledger.SKIPPED else f"{type(exc).__name__}: {exc}"
            ledger.record(ctx, run.end(status, time.perf_counter() - t0, error=error))
        raise
    seconds = time.perf_counter() - t0
    end = run.end(ledger.SUCCEEDED, seconds, result)
    if job.records:
        ledger.record(ctx, end)
    # One structured record per run (a JSON line with --json-logs): what a log shipper or scheduler reads.
    fields = {"event": "job_run", **{k: v for k, v in dataclasses.asdict(end).items() if k not in ("params", "started_at", "ended_at")}}
    log.info("%s %s in %.1f s", job.name, ledger.SUCCEEDED, seconds, extra={"fields": fields})
    if echo:
        first, newline, rest = result.summary().partition("\n")
        print(f"{first} ({seconds:.1f} s){newline}{rest}", flush=True)
    return result


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)  # aware: PySpark reads a naive datetime in the machine's local time zone
