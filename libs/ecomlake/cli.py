"""The one command line: ``ecomlake <job> [flags]`` (also ``python -m ecomlake``, and every jobs/*_job.py).

Every job has one skeleton: parse the arguments -> load and validate the config -> build the job's
typed parameters -> start the session (Spark jobs) -> :func:`ecomlake.job.execute`, which runs the job
and records the run. Exit codes: 0 success, 1 unexpected failure, 2 configuration or usage error,
3 input missing, 4 data-quality check failed, 5 a pipeline step failed (see ecomlake.errors).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from ecomlake import __version__, jobs
from ecomlake.config import Config, load_config
from ecomlake.errors import EcomlakeError
from ecomlake.job import Context, LocalJob, SparkJob, config_flags, execute, params_from_args

log = logging.getLogger("ecomlake")


def build_parser(names: Sequence[str]) -> argparse.ArgumentParser:
    """The parser, with a sub-command for each job of ``names`` (each job's module is imported for its flags)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--conf",
        default=os.environ.get("ECOMLAKE_CONF"),
        metavar="PATH",
        help="YAML config file (default: $ECOMLAKE_CONF, else the built-in defaults = conf/local.yaml)",
    )
    common.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key, e.g. --set spark.master=local[4] (repeatable)"
    )
    common.add_argument("--quiet", action="store_true", help="no progress or summary on stdout; only warnings and errors are logged")
    common.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    common.add_argument("--json-logs", action="store_true", help="log one JSON object per line on stderr (for schedulers and log shippers)")
    parser = argparse.ArgumentParser(
        prog="ecomlake",
        description="E-commerce behaviour events to a Delta Lake lakehouse and models, on Apache Spark.",
        epilog="Run `ecomlake <job> --help` for a job's flags. Exit codes: 0 ok, 1 unexpected, 2 config/usage, "
        "3 input missing, 4 data quality, 5 step failed.",
    )
    parser.add_argument("--version", action="version", version=f"ecomlake {__version__}")
    sub = parser.add_subparsers(dest="job", metavar="<job>", required=True)
    for name in names:
        job = jobs.load(name)
        job_parser = sub.add_parser(job.name, parents=[common], help=job.summary, description=job.summary)
        job.add_arguments(job_parser)
    return parser


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and a record's structured ``fields`` (a step's rows, seconds...)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class _CurrentStderr:
    """Whatever ``sys.stderr`` is when a record is written: a notebook or a test harness may swap (and close) it later."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def setup_logging(quiet: bool, verbose: bool, json_logs: bool = False) -> None:
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    handler: logging.StreamHandler[Any] = logging.StreamHandler(_CurrentStderr())
    handler.setFormatter(JsonFormatter() if json_logs else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.getLogger("py4j").setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Only the named job's module is loaded (``ecomlake sql --engine duckdb`` needs no pyspark); --help loads them all.
    named = [a for a in argv if not a.startswith("-")][:1]
    args = build_parser(named if named and named[0] in jobs.JOB_MODULES else list(jobs.JOB_MODULES)).parse_args(argv)
    setup_logging(args.quiet, args.verbose, args.json_logs)
    job = jobs.load(args.job)
    try:
        config = load_config(args.conf, args.set, flags=config_flags(args))
        params = params_from_args(job.params, args)
        # --quiet: the jobs' summaries and progress lines go nowhere.
        with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull) if args.quiet else contextlib.nullcontext():
            if isinstance(job, LocalJob):
                job.run(config, params)
            else:
                _run_spark_job(job, config, params)
        return 0
    except EcomlakeError as exc:
        log.error("%s failed: %s", job.name, exc)
        print(f"ecomlake {job.name}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"ecomlake {job.name}: interrupted", file=sys.stderr)
        return 130
    except Exception:
        log.exception("%s failed unexpectedly", job.name)
        return 1


def _run_spark_job(job: SparkJob[Any, Any], config: Config, params: object) -> None:
    from pyspark.sql import SparkSession

    from ecomlake.session import start_session

    # A session that was already running (a notebook's, a test run's) is the caller's: leave it running.
    own_session = SparkSession.getActiveSession() is None
    spark = start_session(config.spark, f"ecomlake-{job.name}")
    try:
        execute(job, Context(spark, config), params, echo=True)
    finally:
        if own_session:
            spark.stop()
