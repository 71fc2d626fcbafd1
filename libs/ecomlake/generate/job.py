"""``ecomlake generate``: synthetic REES46-layout event files with injected faults and a manifest.

The run's totals go to ops.run_ledger (figures ``rows``, ``human_events``, ``bot_events``,
``fault_<kind>``); the manifest beside the files holds the configuration and the per-day counts.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ecomlake.generate.dataset import generate_dataset
from ecomlake.job import Context, NoParams, SparkJob, iso_date
from ecomlake.metrics import peak_rss_mib


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


def run(ctx: Context, params: NoParams) -> GenerateResult:
    """Generate the events of ``generator.*`` into ``generator.output``, with the manifest beside them."""
    g = ctx.config.generator
    assert g.output, "load_config resolves generator.output"
    return GenerateResult(generate_dataset(ctx.spark, g), g.output, peak_rss_mib())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", dest="generator.events", type=int, help="target number of human events (bots and faults come on top)")
    parser.add_argument("--days", dest="generator.days", type=int, help="number of days of traffic")
    parser.add_argument("--start-date", dest="generator.start_date", type=iso_date, help="first day, YYYY-MM-DD")
    parser.add_argument("--seed", dest="generator.seed", type=int, help="the same seed gives byte-identical files")
    parser.add_argument("--format", dest="generator.format", choices=("csv", "json", "parquet"), help="output format")
    parser.add_argument("--output", dest="generator.output", help="output folder (default <lake.root>/landing/events)")
    parser.add_argument("--users", dest="generator.users", type=int, help="number of users (default events / 15)")


JOB = SparkJob(
    "generate", "Generate realistic REES46-layout events with injected faults (any size, deterministic per seed)", NoParams, run, add_arguments
)
