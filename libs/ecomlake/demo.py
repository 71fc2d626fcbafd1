"""``ecomlake demo``: the main job end to end on a generated sample, ending with the lake's tables.

The README's first command runs this on a fresh machine. It generates days of events with faults into
the lake's landing area, runs the daily pipeline for each day (``pipeline.steps``: ingest to bronze,
clean to silver and quarantine, featurize into the gold tables, segment the users, train the
recommender and, once there are labels, the propensity models), writes the last day's run report
(HTML and PNG charts), and reads the Delta tables back. Every job runs through the job runner, as
``ecomlake <job>`` runs it, so ops.run_ledger records each run.

A re-run replaces its own earlier sample in the landing folder (generate with ``force``); a landing folder holding
files the generator did not write (a real lake's deliveries) is refused before anything is written.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from ecomlake import jobs, lake
from ecomlake.errors import ConfigError
from ecomlake.generate import target
from ecomlake.job import Context, SparkJob, execute

DEMO_EVENTS = 100_000


@dataclass(frozen=True)
class DemoParams:
    events: int = DEMO_EVENTS  # human events to generate


@dataclass(frozen=True)
class DemoResult:
    lake_root: str
    tables: list[tuple[str, int, int, str]]  # (name, rows, Delta version, path)

    @property
    def rows_in(self) -> None:
        return None

    @property
    def rows_out(self) -> None:
        return None

    def figures(self) -> Mapping[str, float]:
        return {"tables": len(self.tables)}

    def summary(self) -> str:
        lines = [f"demo: done; {len(self.tables)} Delta tables in the lake, read back through Spark"]
        lines += [f"  {name:<32} {rows:>12,} rows  version {version:<4} {path}" for name, rows, version, path in self.tables]
        return "\n".join(lines)


def run(ctx: Context, params: DemoParams) -> DemoResult:
    config = dataclasses.replace(ctx.config, generator=dataclasses.replace(ctx.config.generator, events=params.events))
    ctx = Context(ctx.spark, config, ctx.run_id)
    print(f"demo: lake at {config.lake.root}", flush=True)
    _execute(ctx, "generate", jobs.load("generate").params(force=_replaces_own_sample(ctx)))
    # The generator writes where ingest looks by default: <lake.root>/landing/events/event_date=<day>/.
    days = [config.generator.start_date + dt.timedelta(days=n) for n in range(config.generator.days)]
    pipeline = jobs.load("pipeline")
    _execute(ctx, "pipeline", pipeline.params(start=days[0], end=days[-1], force=True, summaries=True))
    _execute(ctx, "report", jobs.load("report").params(date=days[-1]))
    return DemoResult(config.lake.root, lake.table_summary(ctx.spark, config))


def _replaces_own_sample(ctx: Context) -> bool:
    """Whether the landing folder holds an earlier generated sample (replaced); ConfigError when it holds anything else."""
    output = ctx.config.generator.output
    assert output, "load_config resolves generator.output"
    entries = target.existing_entries(output, ctx.spark)
    if entries and not target.holds_generated_data(output, ctx.spark):
        raise ConfigError(
            f"demo: refused, generator.output {output} holds files the generator did not write ({target.describe(entries, output)}), "
            "and the demo replaces that folder with its sample; nothing was deleted; run the demo on a lake of its own "
            "(--set lake.root=DIR with a new DIR)"
        )
    return bool(entries)


def _execute(ctx: Context, name: str, params: object) -> object:
    """A job through the runner, in a run of its own, its summary printed."""
    job = jobs.load(name)
    assert isinstance(job, SparkJob)
    return execute(job, Context(ctx.spark, ctx.config), params, echo=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=int, default=DEMO_EVENTS, help=f"human events to generate (default {DEMO_EVENTS:,})")


JOB = SparkJob(
    "demo",
    "Run the suite end to end on a generated sample (generate, the daily pipeline, the run report) and list the Delta tables it wrote",
    DemoParams,
    run,
    add_arguments,
    records=False,  # the jobs it runs are the records
)
