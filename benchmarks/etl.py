"""Benchmark: the daily ETL (ingest + clean + featurize of one day) at one size, in a process of its own.

    python -m benchmarks.etl --events 10000000 [--data DIR] [--work DIR] [--set KEY=VALUE ...] [--json OUT]

Generates one day of REES46-layout CSV with the default fault rates into ``--data`` (kept and
reused: a folder with the generator's manifest for the same size is not generated again), then runs
in a fresh lake, with the default config on ``local[2]``, the jobs ingest, clean and featurize for
day D, each as ``run(Context(spark, config), Params(D))`` (what ``ecomlake ingest --date D`` etc. run,
less the run-ledger records). Per step: wall seconds, rows, peak memory of this process and the local
Spark JVM (the mark reset before each step), and Spark's own accounting from the event log (task
seconds, GC, input, output and shuffle bytes, spill, peak JVM heap). End to end = ingest + clean + featurize;
raw rows per second of that is the ETL rate. ``benchmarks.run_all`` calls this once per size.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import Steps, event_log_confs, folder_bytes, load_average, plan_hotspots, spark_figures_by_step, spark_session, write_json

ETL_STEPS = ("ingest", "clean", "featurize")


def data_folder(root: Path, events: int) -> Path:
    return root / f"events-{events}"


def generated(folder: Path) -> dict[str, Any] | None:
    """The manifest of a complete generated dataset in ``folder``, else None."""
    from ecomlake.manifest import MANIFEST_DIR, read_manifest

    # The manifest is written last, by Spark's text writer: its _SUCCESS marks a complete dataset.
    if not (folder / MANIFEST_DIR / "_SUCCESS").is_file():
        return None
    return read_manifest(str(folder))


def run(events: int, data_root: Path, work: Path, overrides: list[str]) -> dict[str, Any]:
    from ecomlake.catalog import SESSIONS
    from ecomlake.clean import job as clean_job
    from ecomlake.config import load_config
    from ecomlake.featurize import job as featurize_job
    from ecomlake.generate.dataset import generate_dataset
    from ecomlake.ingest import job as ingest_job
    from ecomlake.job import Context
    from ecomlake.metrics import peak_rss_mib

    data = data_folder(data_root, events)
    lake_root = work / "lake"
    event_log = work / "eventlog"
    config = load_config(
        None,
        overrides=[
            f"lake.root={lake_root}",
            f"generator.events={events}",
            f"generator.output={data}",
            f"ingest.landing={data}",
            *event_log_confs(event_log),
            *overrides,
        ],
    )
    day = config.generator.start_date
    t = time.perf_counter()
    result: dict[str, Any] = {"events": events, "config_overrides": overrides, "load_average_at_start": load_average()}
    work.mkdir(parents=True, exist_ok=True)
    disk_free_at_start = shutil.disk_usage(work).free
    with spark_session(config, f"ecomlake-bench-etl-{events}") as spark:
        result["session_start_seconds"] = round(time.perf_counter() - t, 2)
        steps = Steps(spark)
        ctx = Context(spark, config)
        try:
            manifest = generated(data)
            if manifest is None:
                shutil.rmtree(data, ignore_errors=True)
                manifest = steps.run("generate", lambda: generate_dataset(spark, config.generator), lambda m: m["totals"]["rows"])
            result["raw_rows"] = manifest["totals"]["rows"]
            print(f"  {result['raw_rows']:,} raw rows in {data}", flush=True)
            ingested = steps.run("ingest", lambda: ingest_job.run(ctx, ingest_job.IngestParams(day)), lambda r: r.rows)
            cleaned = steps.run("clean", lambda: clean_job.run(ctx, clean_job.CleanParams(day)), lambda c: c.rows_in)
            features = steps.run("featurize", lambda: featurize_job.run(ctx, featurize_job.FeaturizeParams(day)), lambda f: f.rows.get(SESSIONS.key))
        except Exception as error:  # noqa: BLE001 - the memory ceiling wants what failed first, recorded
            # The first line of Spark's message names the cause (OutOfMemoryError, No space left on device, ...).
            message = str(error).strip().splitlines()[0][:500] if str(error).strip() else ""
            result["failed"] = {"step": steps.running, "error": f"{type(error).__name__}: {message}", "peak_rss_mib": peak_rss_mib()}
            print(f"== ETL failed in {steps.running}: {result['failed']['error']}", flush=True)
        else:
            result["bronze_rows"] = ingested.rows
            counts = cleaned.counts
            result["clean"] = {
                "kept": counts.kept,
                "quarantined": counts.quarantined,
                "duplicates": counts.duplicates,
                "bot_rows_removed": counts.bot_rows_removed,
            }
            result["gold_rows"] = features.rows
    # What a day of this size needs on disk besides Spark's shuffle and spill files (those are in the step figures).
    result["disk"] = {"free_bytes_at_start": disk_free_at_start, "raw_bytes": folder_bytes(data), "lake_bytes": folder_bytes(lake_root)}
    by_step = spark_figures_by_step(event_log)
    for step in steps.done:
        step.spark = by_step.get(step.name, {})
    result["steps"] = steps.as_dicts()
    result["hotspots"] = plan_hotspots(event_log)  # per step, the plan operators that took the time
    if "failed" in result:
        return result
    etl = [s for s in steps.done if s.name in ETL_STEPS]
    seconds = sum(s.seconds for s in etl)
    result["etl_seconds"] = round(seconds, 2)
    result["etl_events_per_second"] = round(result["raw_rows"] / seconds)
    result["etl_peak_rss_mib"] = max(s.peak_rss_mib or 0 for s in etl)
    result["shuffle_write_bytes"] = sum(s.spark.get("shuffle_write_bytes", 0) for s in etl)
    result["load_average_at_end"] = load_average()
    print(
        f"== ETL {result['raw_rows']:,} raw rows: {seconds:.1f} s = {result['etl_events_per_second']:,} events/s; "
        f"peak {result['etl_peak_rss_mib']:,.0f} MiB; shuffle written {result['shuffle_write_bytes'] / 2**20:,.0f} MiB",
        flush=True,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, required=True, help="target human events of the day")
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "ecomlake-bench-data", help="generated data, kept and reused")
    parser.add_argument("--work", type=Path, default=None, help="the lake and event log (default: a temporary folder, removed)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config overrides")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="ecomlake-bench-etl-"))
    try:
        result = run(args.events, args.data, work, args.set)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        write_json(args.json, result)
    if "failed" in result:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
