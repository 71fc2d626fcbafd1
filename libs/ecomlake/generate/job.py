"""``ecomlake generate``: synthetic REES46-layout event files with injected faults and a manifest.

The run's totals go to ops.run_ledger (figures ``rows``, ``human_events``, ``bot_events``,
``fault_<kind>``); the manifest beside the files holds the configuration and the per-day counts.

The output folder is replaced whole (by default it is the ingest landing folder, with every day's raw files):
one that holds anything is refused unless ``--force`` is given (:mod:`ecomlake.generate.target`).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ecomlake.generate import target
from ecomlake.generate.dataset import generate_dataset
from ecomlake.job import Context, SparkJob, iso_date
from ecomlake.metrics import peak_rss_mib

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GenerateParams:
    force: bool = False  # replace what generator.output holds (without it, a folder that is not empty is refused)


@dataclass(frozen=True)
class GenerateResult:
    """What one generator run wrote: the manifest (totals and per-day counts) and where."""

    manifest: dict[str, Any]
    output: str
    peak_memory_mib: float | None

    @property
    def rows_in(self) -> None:
        return None

    @property
    def rows_out(self) -> int:
        return int(self.manifest["totals"]["rows"])

    def figures(self) -> Mapping[str, float]:
        totals, generator = self.manifest["totals"], self.manifest["generator"]
        return {
            "rows": totals["rows"], "human_events": totals["human_events"], "bot_events": totals["bot_events"],
            "events_target": generator["events"], "seed": generator["seed"], "days": generator["days"],
            **{f"fault_{kind}": n for kind, n in totals["faults"].items()},
        }  # fmt: skip

    def summary(self) -> str:
        totals, peak = self.manifest["totals"], self.peak_memory_mib
        return (
            f"generate: {totals['rows']:,} rows ({totals['human_events']:,} human events, {totals['bot_events']:,} bot events, "
            f"{sum(totals['faults'].values()):,} faults); peak memory {f'{peak:,.0f} MiB' if peak is not None else 'n/a'}; "
            f"{self.manifest['format']} files and _manifest in {self.output}"
        )


def run(ctx: Context, params: GenerateParams) -> GenerateResult:
    """Generate the events of ``generator.*`` into ``generator.output``, with the manifest beside them.

    An output folder that holds anything is refused (ConfigError) unless ``params.force``; forced, what it held is logged.
    """
    g = ctx.config.generator
    assert g.output, "load_config resolves generator.output"
    replaced = target.require_replaceable(g.output, params.force, ctx.spark)
    if replaced:
        log.warning("generate --force: replacing everything in %s (%s)", g.output, target.describe(replaced, g.output))
    return GenerateResult(generate_dataset(ctx.spark, g), g.output, peak_rss_mib())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", dest="generator.events", type=int, help="target number of human events (bots and faults come on top)")
    parser.add_argument("--days", dest="generator.days", type=int, help="number of days of traffic")
    parser.add_argument("--start-date", dest="generator.start_date", type=iso_date, help="first day, YYYY-MM-DD")
    parser.add_argument("--seed", dest="generator.seed", type=int, help="the same seed gives byte-identical files")
    parser.add_argument("--format", dest="generator.format", choices=("csv", "json", "parquet"), help="output format")
    parser.add_argument(
        "--output",
        dest="generator.output",
        help="output folder (default <lake.root>/landing/events); replaced whole, so one that is not empty is refused without --force",
    )
    parser.add_argument(
        "--force", action="store_true", help="replace what the output folder holds (everything in it is deleted; the run logs what it replaces)"
    )
    parser.add_argument("--users", dest="generator.users", type=int, help="number of users (default events / 15)")


JOB = SparkJob(
    "generate", "Generate realistic REES46-layout events with injected faults (any size, deterministic per seed)", GenerateParams, run, add_arguments
)
