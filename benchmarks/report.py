"""The benchmark report: ``results.json`` -> ``REPORT.md`` with PNG charts, beside it.

    python -m benchmarks.report [--out benchmarks/results]     # re-render without measuring again

Everything in REPORT.md is computed from results.json, except the analysis of each figure, which is
``notes.md`` in the same folder (hand-written after profiling; included as it is).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from benchmarks.common import read_json

# The targets the suite works toward (issue 9); each is reported as met or missed, and by how much.
ETL_TARGET_EVENTS_PER_S = 1_000_000  # ingest + clean + featurize at 10M events
FEATURIZE_MAX_OVER_DUCKDB = 2.0  # Spark's featurize time / DuckDB's, same machine, same silver
FLAT_COST_TOLERANCE = 1.10  # cost per event at 100M / at 10M
READER_MIN_OVER_TRAINING = 5.0  # Petastorm rows/s / the LSTM's training samples/s

# Projection assumptions (stated in the report).
CLUSTER_EFFICIENCY = 0.7  # of the per-core rate measured here, kept on a cluster (shuffle over the network, stragglers)
CORES_PER_EXECUTOR = 4
MEMORY_PER_CORE_GIB = 4
DEADLINES_H = (1, 4)


def sizes(section: dict[str, Any]) -> list[str]:
    return sorted((k for k, v in section.items() if not v.get("failed")), key=int)


def fmt_int(n: float | None) -> str:
    return "-" if n is None else f"{n:,.0f}"


def mib(n_bytes: float | None) -> str:
    return "-" if n_bytes is None else f"{n_bytes / 2**20:,.0f}"


def step_seconds(run: dict[str, Any], name: str) -> float | None:
    return next((s["seconds"] for s in run["steps"] if s["name"] == name), None)


def per_event_us(run: dict[str, Any]) -> float:
    return run["etl_seconds"] / run["raw_rows"] * 1e6


def config_label(run: dict[str, Any]) -> str:
    """``default``, or the run's config overrides (``shuffle_partitions=100``)."""
    return ", ".join(o.removeprefix("spark.") for o in run.get("config_overrides") or []) or "default"


def completed_etl(results: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(size key, run) of every completed ETL run, the default config's and the tuned ones, smallest first."""
    runs = [(k, section[k]) for section in (results.get("etl", {}), results.get("etl_tuned", {})) for k in sizes(section)]
    return sorted(runs, key=lambda kr: (int(kr[0]), kr[1] is results.get("etl_tuned", {}).get(kr[0])))


def by_size(item: tuple[str, Any]) -> int:
    return int(item[0])


def failure_text(failed: Any, exit_code: Any = None) -> str:
    """A recorded failure as one line: the root cause from the JVM's log when there is one, then the error."""
    if not isinstance(failed, dict):
        return f"exit {exit_code}"
    parts = [failed.get("cause"), failed.get("error")]
    return "; after it ".join(p.rstrip(".") for p in parts if p) or f"exit {exit_code}"


# --- sections ------------------------------------------------------------------------------------


def machine_md(m: dict[str, Any]) -> list[str]:
    return [
        "## Machine",
        "",
        f"{m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB, Python {m['python']}, commit {m['commit']}; "
        f"load average at the start {m['load_average_at_start']}. Spark `local[2]` with the default config unless a row says otherwise.",
        "",
    ]


def etl_md(results: dict[str, Any]) -> list[str]:
    etl = results["etl"]
    lines = [
        "## ETL scaling: ingest + clean + featurize of one day",
        "",
        "`python -m benchmarks.etl --events N`: one day of generated REES46 CSV (default fault rates), then `ingest`, "
        "`clean` and `featurize --date D` in a fresh lake. Peak memory is this process plus the local JVM (driver and "
        "executor are one JVM in local mode); shuffle and spill from Spark's event log. A size the default config "
        "does not complete is run again with one shuffle partition per 1M events (`benchmarks.run_all --only tuned`).",
        "",
        "| events (target) | config | raw rows | ingest s | clean s | featurize s | ETL s | events/s | µs per event "
        "| peak RSS MiB | JVM heap peak MiB | shuffle written MiB | spill (disk) MiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    runs = completed_etl(results)
    for k, r in runs:
        spark_steps = [s["spark"] for s in r["steps"] if s["name"] in ("ingest", "clean", "featurize")]
        heap = max((s.get("peak_jvm_heap_bytes", 0) for s in spark_steps), default=0)
        spill = sum(s.get("spill_disk_bytes", 0) for s in spark_steps)
        lines.append(
            f"| {int(k):,} | {config_label(r)} | {r['raw_rows']:,} | {step_seconds(r, 'ingest'):.1f} | {step_seconds(r, 'clean'):.1f} | "
            f"{step_seconds(r, 'featurize'):.1f} | {r['etl_seconds']:.1f} | {r['etl_events_per_second']:,} | {per_event_us(r):.1f} | "
            f"{fmt_int(r['etl_peak_rss_mib'])} | {mib(heap)} | {mib(r['shuffle_write_bytes'])} | {mib(spill)} |"
        )
    failed = [(k, v) for section in (etl, results.get("etl_tuned", {})) for k, v in section.items() if v.get("failed")]
    if failed:
        lines += [
            "",
            "Did not complete: "
            + "; ".join(f"{int(k):,} events, {config_label(v)} config (exit {v.get('exit_code')})" for k, v in sorted(failed, key=by_size)),
        ]
    lines += ["", "![ETL scaling](etl_scaling.png)", ""]
    if runs:
        largest, run = runs[-1]
        lines += [
            f"Where the time goes at {int(largest):,} events, {config_label(run)} config "
            "(Spark task time summed over both cores, from the event log):",
            "",
        ]
        lines += [
            "| step | wall s | task s | GC s | input MiB | output MiB | shuffle written MiB | shuffle read MiB | spill (disk) MiB |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for s in run["steps"]:
            sp = s["spark"]
            if not sp:
                continue
            sizes_mib = [mib(sp.get(k)) for k in ("input_bytes", "output_bytes", "shuffle_write_bytes", "shuffle_read_bytes", "spill_disk_bytes")]
            task, gc = sp.get("task_seconds", 0), sp.get("gc_seconds", 0)
            lines.append(f"| {s['name']} | {s['seconds']:.1f} | {task:.1f} | {gc:.1f} | {' | '.join(sizes_mib)} |")
        lines.append("")
        lines += hotspots_md(run.get("hotspots") or {})
    return lines


def hotspots_md(hotspots: dict[str, list[dict[str, Any]]]) -> list[str]:
    """The plan operators that took the time in each ETL step (their timing metrics, summed over tasks)."""
    if not hotspots:
        return []
    lines = ["Inside each step, the plan operators with the most time (Spark's operator timing metrics, summed over tasks):", ""]
    lines += ["| step | operator | metric | s |", "|---|---|---|---|"]
    for step in ("ingest", "clean", "featurize"):
        for h in hotspots.get(step, [])[:5]:
            lines.append(f"| {step} | {h['operator']} | {h['metric']} | {h['seconds']:,.1f} |")
    return [*lines, ""]


def duckdb_md(duck: dict[str, Any]) -> list[str]:
    lines = [
        "## Spark against DuckDB: sessions, user_item_daily and user features, same silver files",
        "",
        "`python -m benchmarks.featurize --lake LAKE --no-full`: Spark writes the three gold tables to Delta with the library's "
        "transforms; DuckDB (2 threads, memory capped at half the RAM, its own process) computes the same in SQL "
        "from the Parquet files silver's Delta log lists. "
        "The outputs are compared for every user and column (floats within 1e-9 relative).",
        "",
        "| events | users | Spark s | DuckDB s | Spark / DuckDB | Spark peak MiB | DuckDB peak MiB | outputs |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for k in sizes(duck):
        r = duck[k]
        agree = "agree" if r["mismatches"] == 0 else f"{r['mismatches']} mismatches"
        lines.append(
            f"| {r['events']:,} | {r['users']:,} | {r['a']['seconds']:.1f} | {r['duck']['seconds']:.1f} | {r['spark_over_duckdb']:.2f}x | "
            f"{fmt_int(r['a']['peak_mib'])} | {fmt_int(r['duck']['peak_rss_mib'])} | {agree} |"
        )
    notes = [f"- {int(k):,} events: {duck[k]['note']}" for k in sizes(duck) if duck[k].get("note")]
    return [*lines, "", *notes, ""] if notes else [*lines, ""]


def naive_md(naive: dict[str, Any]) -> list[str]:
    lines = [
        "## Sessionisation: the library's window functions against a naive Python UDF",
        "",
        "`python -m benchmarks.naive_sessions --lake LAKE`: both write the same session columns to Parquet; the outputs are joined "
        "and compared column by column.",
        "",
        "| events | sessions | library s | naive UDF s | naive / library | outputs |",
        "|---|---|---|---|---|---|",
    ]
    for k in sizes(naive):
        r = naive[k]
        lib, udf = (s["seconds"] for s in r["steps"])
        agree = "agree" if r["mismatched_sessions"] == 0 else f"{r['mismatched_sessions']:,} sessions differ"
        lines.append(f"| {r['events']:,} | {r['sessions']:,} | {lib:.1f} | {udf:.1f} | {r['naive_over_library']:.1f}x | {agree} |")
    return [*lines, ""]


def als_md(als: dict[str, Any]) -> list[str]:
    lines = [
        "## ALS: Spark MLlib against implicit (CPU), same interactions, split and metrics",
        "",
        "`python -m benchmarks.als`: interactions aggregated from generated events by the library's transforms; recommend's "
        "chronological split; both fit implicit ALS with recommend's defaults on 2 cores and recommend the top k unseen "
        "products for every held-out user; one Spark `ranking_metrics` scores both.",
        "",
        "| interactions | users | products | library | fit s | top k s | precision@k | recall@k | NDCG@k | MAP@k |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key in sorted((k for k in als if k.isdigit() and not als[k].get("failed")), key=int):
        r = als[key]
        for name in ("spark", "implicit"):
            m = r[name]
            lines.append(
                f"| {r['interactions']:,} | {r['users']:,} | {r['products']:,} | {name} | {m['fit_seconds']:.1f} | {m['recommend_seconds']:.1f} | "
                f"{m['precision_at_k']:.4f} | {m['recall_at_k']:.4f} | {m['ndcg_at_k']:.4f} | {m['map_at_k']:.4f} |"
            )
        lines.append(f"| | | | Spark / implicit | {r['spark_over_implicit_fit']:.1f}x | | | | {r['ndcg_spark_minus_implicit']:+.4f} | |")
    return [*lines, ""]


def reader_md(reader: dict[str, Any]) -> list[str]:
    lines = [
        "## Training input: Petastorm against pyarrow and in-memory tensors",
        "",
        f"`python -m benchmarks.lstm_reader`: the LSTM's training loop under `horovodrun --gloo` on {reader.get('dataset')}; "
        "samples/s summed over processes; the first epoch (warm-up) apart from the later ones.",
        "",
        "| reader | processes | reader alone rows/s | training samples/s (later epochs) | reading's share of an epoch |",
        "|---|---|---|---|---|",
    ]
    for r in reader.get("rows", []):
        rates = f"{r['read_rows_per_second']:,.0f} | {r['steady_samples_per_second']:,.0f}"
        lines.append(f"| {r['reader']} | {r['procs']} | {rates} | {r['read_share_of_epoch']:.0%} |")
    return [*lines, ""]


def ceiling(etl: dict[str, Any]) -> dict[str, Any] | None:
    """The largest day completed, the first failure above it, and the day the free disk would hold.

    Disk per raw row at the largest completed size: the raw files, the lake, and Spark's shuffle and
    spill files of the heaviest step (they stay on local disk while that step runs)."""
    done = sizes(etl)
    if not done:
        return None
    largest = etl[done[-1]]
    failed = sorted((k for k, v in etl.items() if v.get("failed")), key=int)
    first_failure = next((k for k in failed if int(k) > int(done[-1])), None)
    out: dict[str, Any] = {"largest_completed": int(done[-1]), "raw_rows": largest["raw_rows"]}
    if first_failure is not None:
        f = etl[first_failure]
        detail = f["failed"] if isinstance(f["failed"], dict) else {}
        out["first_failure"] = {"events": int(first_failure), "exit_code": f.get("exit_code"), **detail}
    disk = largest.get("disk")
    if disk:
        working = max(s["spark"].get("shuffle_write_bytes", 0) + s["spark"].get("spill_disk_bytes", 0) for s in largest["steps"] if s["spark"])
        per_row = (disk["raw_bytes"] + disk["lake_bytes"] + working) / largest["raw_rows"]
        # The free space at the start already excludes this size's raw files (generated before the run).
        out["disk_bytes_per_raw_row"] = per_row
        out["disk_bound_raw_rows"] = int((disk["free_bytes_at_start"] + disk["raw_bytes"]) / per_row)
    return out


def ceiling_md(c: dict[str, Any] | None, etl: dict[str, Any], tuned: dict[str, Any]) -> list[str]:
    if c is None:
        return []
    lines = [
        "## Memory ceiling",
        "",
        "One day at a time, `local[2]`, the default config (driver and executor one JVM of `spark.driver_memory` = 4g).",
        "",
        "| events (target) | completed | peak RSS MiB | JVM heap peak MiB | spill (disk) MiB | raw + lake on disk MiB |",
        "|---|---|---|---|---|---|",
    ]
    for k in sorted(etl, key=int):
        r = etl[k]
        spark_steps = [s["spark"] for s in r.get("steps", []) if s.get("spark")]
        heap = max((s.get("peak_jvm_heap_bytes", 0) for s in spark_steps), default=None)
        spill = sum(s.get("spill_disk_bytes", 0) for s in spark_steps)
        disk = r.get("disk")
        on_disk = mib(disk["raw_bytes"] + disk["lake_bytes"]) if disk else "-"
        peak = r.get("etl_peak_rss_mib") or (r["failed"].get("peak_rss_mib") if isinstance(r.get("failed"), dict) else None)
        done = "no: " + failure_text(r["failed"], r.get("exit_code")) if r.get("failed") else "yes"
        lines.append(f"| {int(k):,} | {done} | {fmt_int(peak)} | {mib(heap)} | {mib(spill)} | {on_disk} |")
    lines += ["", f"Largest day completed: **{c['largest_completed']:,} events** ({c['raw_rows']:,} raw rows)."]
    if "first_failure" in c:
        f = c["first_failure"]
        lines.append(f"First failure above it: {f['events']:,} events, in {f.get('step', '?')}: {failure_text(f, f.get('exit_code'))}.")
    if "disk_bytes_per_raw_row" in c:
        lines.append(
            f"On disk a day needs {c['disk_bytes_per_raw_row']:,.0f} bytes per raw row (raw files + lake + the heaviest step's shuffle "
            f"and spill files): the free disk of this machine holds a day of about **{c['disk_bound_raw_rows'] / 1e6:,.0f}M raw rows**."
        )
    for k in sorted(tuned, key=int):
        r = tuned[k]
        if r.get("failed"):
            step = r["failed"].get("step", "?") if isinstance(r["failed"], dict) else "?"
            outcome = f"fails too, in {step}: {failure_text(r['failed'], r.get('exit_code'))}"
        else:
            rate, peak = f"{r['etl_events_per_second']:,} events/s", fmt_int(r["etl_peak_rss_mib"])
            outcome = f"completes in {r['etl_seconds']:,.1f} s ({rate}, peak RSS {peak} MiB)"
        lines.append(f"With `{config_label(r)}` instead of the default, the {int(k):,}-event day {outcome}.")
    return [*lines, ""]


def projection(results: dict[str, Any]) -> dict[str, Any] | None:
    """Cluster size and time for 1B and 10B events a day, from the per-core rate at the largest size completed."""
    runs = completed_etl(results)
    if not runs:
        return None
    size, r = runs[-1]
    cores = 2
    per_core = r["etl_events_per_second"] / cores * CLUSTER_EFFICIENCY
    rows = []
    for events in (1_000_000_000, 10_000_000_000):
        core_hours = events / per_core / 3600
        for hours in DEADLINES_H:
            need = core_hours / hours
            executors = max(1, math.ceil(need / CORES_PER_EXECUTOR))
            rows.append({"events": events, "core_hours": core_hours, "deadline_h": hours, "cores": need, "executors": executors})
    return {"measured_at": int(size), "config": config_label(r), "events_per_core_second": per_core, "rows": rows}


def projection_md(p: dict[str, Any] | None) -> list[str]:
    if p is None:
        return []
    lines = [
        "## Projection to a cluster",
        "",
        f"From the ETL rate at {p['measured_at']:,} events on this machine ({p['config']} config), "
        f"per core and kept at {CLUSTER_EFFICIENCY:.0%} on a cluster: "
        f"**{p['events_per_core_second']:,.0f} events per core-second**. Assumptions: the per-core rate holds as the data grows "
        f"(the scaling table above is the evidence, and its limit); executors of {CORES_PER_EXECUTOR} cores and "
        f"{CORES_PER_EXECUTOR * MEMORY_PER_CORE_GIB} GiB; `spark.shuffle_partitions` raised so that a shuffle partition stays "
        "near this machine's size (events / 1M); the day's raw files already in object storage; no other tenants.",
        "",
        "| events per day | core-hours | finish within | cores | executors (4 cores) |",
        "|---|---|---|---|---|",
    ]
    for row in p["rows"]:
        lines.append(f"| {row['events']:,} | {row['core_hours']:,.0f} | {row['deadline_h']} h | {row['cores']:,.0f} | {row['executors']:,} |")
    return [*lines, ""]


def targets(results: dict[str, Any]) -> list[tuple[str, str, bool | None, str]]:
    """(target, measured, met, by how much) for each of the issue's targets that has figures."""
    out: list[tuple[str, str, bool | None, str]] = []
    etl = results.get("etl", {})
    if "10000000" in etl and not etl["10000000"].get("failed"):
        rate = etl["10000000"]["etl_events_per_second"]
        out.append(
            (
                f"ETL >= {ETL_TARGET_EVENTS_PER_S:,} events/s at 10M",
                f"{rate:,} events/s",
                rate >= ETL_TARGET_EVENTS_PER_S,
                f"{rate / ETL_TARGET_EVENTS_PER_S:.1%} of the target",
            )
        )
    duck = results.get("duckdb", {})
    ratios = {int(k): duck[k]["spark_over_duckdb"] for k in sizes(duck)}
    if ratios:  # each size compared; the target holds only if it holds at every one
        worst = max(ratios.values())
        out.append(
            (
                f"Spark featurize within {FEATURIZE_MAX_OVER_DUCKDB:g}x of DuckDB",
                ", ".join(f"{r:.2f}x at {k // 1_000_000:,}M" for k, r in sorted(ratios.items())),
                worst <= FEATURIZE_MAX_OVER_DUCKDB,
                f"{worst / FEATURIZE_MAX_OVER_DUCKDB:.1f}x the allowed time at worst",
            )
        )
    tuned = results.get("etl_tuned", {})
    big = next((r for r in (etl.get("100000000"), tuned.get("100000000")) if r and not r.get("failed")), None)
    if "10000000" in etl and not etl["10000000"].get("failed") and big:
        growth = per_event_us(big) / per_event_us(etl["10000000"])
        config = "" if config_label(big) == "default" else f" (100M with {config_label(big)}; the default config does not complete it)"
        out.append(("cost per event flat from 10M to 100M", f"{growth:.2f}x{config}", growth <= FLAT_COST_TOLERANCE, f"{growth - 1:+.0%} per event"))
    elif isinstance(etl.get("100000000", {}).get("failed"), dict):  # a cost that never finishes is not flat
        step = etl["100000000"]["failed"].get("step", "?")
        out.append(("cost per event flat from 10M to 100M", f"100M did not complete (failed in {step})", False, "see the memory ceiling"))
    reader = results.get("reader", {})
    if reader.get("petastorm_over_training"):
        ratio = reader["petastorm_over_training"]
        out.append(
            (
                f"Petastorm feeds >= {READER_MIN_OVER_TRAINING:g}x the LSTM's rate",
                f"{ratio:.1f}x",
                ratio >= READER_MIN_OVER_TRAINING,
                f"{ratio / READER_MIN_OVER_TRAINING:.1f}x the target",
            )
        )
    return out


def targets_md(results: dict[str, Any]) -> list[str]:
    lines = ["## Targets", "", "| target | measured | met | |", "|---|---|---|---|"]
    for target, measured, met, by in targets(results):
        lines.append(f"| {target} | {measured} | {'yes' if met else 'no'} | {by} |")
    return [*lines, ""]


# --- charts -------------------------------------------------------------------------------------


def etl_chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = completed_etl(results)
    if not runs:
        return
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    # Shares of the wall time (a log scale would hide the small steps), the total written on each bar.
    labels = [f"{int(k) / 1e6:g}M" + ("" if config_label(r) == "default" else "*") for k, r in runs]
    bottom = [0.0] * len(runs)
    for name in ("ingest", "clean", "featurize"):
        shares = [100 * (step_seconds(r, name) or 0) / r["etl_seconds"] for _, r in runs]
        left.bar(labels, shares, bottom=bottom, label=name)
        bottom = [b + v for b, v in zip(bottom, shares, strict=True)]
    for x, (_, r) in enumerate(runs):
        left.text(x, 101, f"{r['etl_seconds']:,.0f} s", ha="center", va="bottom")
    left.set_ylim(0, 112)
    left.set_ylabel("% of the ETL's wall time")
    left.set_title("ETL wall time by step (* tuned config)")
    left.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=3)
    for config in dict.fromkeys(config_label(r) for _, r in runs):
        mine = [r for _, r in runs if config_label(r) == config]
        right.plot([r["raw_rows"] for r in mine], [per_event_us(r) for r in mine], marker="o", label=f"{config} config")
    right.set_xscale("log")
    right.set_xlabel("raw rows")
    right.set_ylabel("µs per event (ingest + clean + featurize)")
    right.set_ylim(bottom=0)
    right.set_title("Cost per event (flat = linear scaling)")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(results: dict[str, Any], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    lines = [
        "# ecomlake benchmarks",
        "",
        "Generated by `scripts/bench.sh` (`python -m benchmarks.run_all`) from `results.json`.",
        "",
    ]
    lines += machine_md(results["machine"])
    lines += targets_md(results)
    if results.get("etl"):
        etl_chart(results, out / "etl_scaling.png")
        lines += etl_md(results)
    if results.get("duckdb"):
        lines += duckdb_md(results["duckdb"])
    if results.get("naive"):
        lines += naive_md(results["naive"])
    if results.get("als") and not results["als"].get("failed"):
        lines += als_md(results["als"])
    if results.get("reader") and not results["reader"].get("failed"):
        lines += reader_md(results["reader"])
    lines += ceiling_md(ceiling(results.get("etl", {})), results.get("etl", {}), results.get("etl_tuned", {}))
    lines += projection_md(projection(results))
    notes = out / "notes.md"
    if notes.is_file():
        lines += ["## Analysis", "", notes.read_text().strip(), ""]
    report = out / "REPORT.md"
    report.write_text("\n".join(lines))
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args()
    print(write_report(read_json(args.out / "results.json"), args.out))


if __name__ == "__main__":
    main()
