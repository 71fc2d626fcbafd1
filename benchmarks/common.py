"""What every benchmark shares: the machine, timed steps with their peak memory, and Spark's own
accounting of each step (shuffle bytes, spill, task time, JVM heap) read from the event log.

Benchmarks run their Spark side in a subprocess of their own (``spark_session`` below starts it with
an event log), so that one size's memory and JVM do not leak into the next and an out-of-memory
death is a figure, not the end of the suite.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from ecomlake.config import Config

REPO = Path(__file__).resolve().parents[1]
STEP_PROPERTY = "ecomlake.bench.step"  # a Spark local property: every job a step starts carries its name


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def memory_total_kib() -> int:
    """The machine's RAM (MemTotal)."""
    return next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal:"))


def machine() -> dict[str, Any]:
    """Where the figures were measured."""
    mem_kib = memory_total_kib()
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), "?")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024**2, 1),
        "cpu": cpu,
        "python": platform.python_version(),
        "commit": commit,
        "load_average_at_start": load_average(),
    }


def reset_peak_rss() -> bool:
    """Reset the peak-RSS mark (VmHWM) of this process and its descendants (the local JVM), so that
    ``peak_rss_mib`` measures what follows; False where Linux does not allow it."""
    ok, stack = True, [os.getpid()]
    while stack:
        pid = stack.pop()
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
            for task in Path(f"/proc/{pid}/task").iterdir():
                stack.extend(int(k) for k in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            continue  # ended meanwhile
        except OSError:
            ok = False
    return ok


@dataclass
class Step:
    """One timed step: wall seconds, peak memory (this process + the local JVM), what it produced."""

    name: str
    seconds: float
    peak_rss_mib: float | None
    rows: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    spark: dict[str, Any] = field(default_factory=dict)  # filled from the event log: shuffle bytes, spill, ...


class Steps:
    """Run steps one after another, each timed, its peak memory taken, its Spark jobs tagged with its name."""

    def __init__(self, spark: SparkSession | None = None) -> None:
        self.spark = spark
        self.done: list[Step] = []
        self.running: str | None = None  # the step under way (the one that failed, after an exception)

    def run(self, name: str, fn: Callable[[], Any], rows: Callable[[Any], int | None] = lambda _: None) -> Any:
        from ecomlake.metrics import peak_rss_mib

        if self.spark is not None:
            self.spark.sparkContext.setLocalProperty(STEP_PROPERTY, name)
        reset_peak_rss()
        self.running = name
        t = time.perf_counter()
        try:
            out = fn()
        finally:
            if self.spark is not None:
                self.spark.sparkContext.setLocalProperty(STEP_PROPERTY, None)  # type: ignore[arg-type]
        step = Step(name, round(time.perf_counter() - t, 2), peak_rss_mib(), rows(out))
        self.done.append(step)
        self.running = None
        rows_text = f"  {step.rows:,} rows" if step.rows else ""
        print(f"  {name:<22} {step.seconds:8.1f} s  peak {step.peak_rss_mib or 0:7,.0f} MiB{rows_text}", flush=True)
        return out

    def as_dicts(self) -> list[dict[str, Any]]:
        return [asdict(s) for s in self.done]


def event_log_confs(folder: Path) -> list[str]:
    """Config overrides that make the session write an uncompressed event log into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    confs = {
        "spark.eventLog.enabled": "true",
        "spark.eventLog.dir": folder.as_uri(),
        "spark.eventLog.compress": "false",
        "spark.eventLog.logStageExecutorMetrics": "true",
    }
    return [f"spark.conf.{k}={v}" for k, v in confs.items()]


@contextmanager
def spark_session(config: Config, app_name: str) -> Iterator[SparkSession]:
    from ecomlake.session import start_session

    spark = start_session(config.spark, app_name)
    try:
        yield spark
    finally:
        spark.stop()


def silver_events(spark: SparkSession, config: Config) -> DataFrame:
    """Silver's human events in the columns gold is made of, as the featurize job reads them (flagged bots left out)."""
    from pyspark.sql import functions as F

    from ecomlake import lake
    from ecomlake.catalog import SILVER_EVENTS
    from ecomlake.vocabulary import SILVER_EVENT_COLUMNS

    return lake.read(spark, config, SILVER_EVENTS).where(~F.col("is_bot")).select(*SILVER_EVENT_COLUMNS)


def spark_figures_by_step(event_log_dir: Path) -> dict[str, dict[str, Any]]:
    """Per step (jobs tagged by ``Steps``): task seconds, GC seconds, input/output/shuffle bytes, spill,
    the peak JVM heap of the executor, from the (finished) event log in ``event_log_dir``."""
    step_of_stage: dict[int, str] = {}
    totals: dict[str, dict[str, float]] = {}
    for line in _event_log_lines(event_log_dir):
        event = json.loads(line)
        kind = event.get("Event")
        if kind == "SparkListenerJobStart":
            step = (event.get("Properties") or {}).get(STEP_PROPERTY)
            if step:
                for stage in event.get("Stage IDs", []):
                    step_of_stage[stage] = step
        elif kind == "SparkListenerTaskEnd":
            step = step_of_stage.get(event.get("Stage ID"))
            metrics = event.get("Task Metrics")
            if not step or not metrics:
                continue
            t = totals.setdefault(step, {})
            shuffle_read = metrics.get("Shuffle Read Metrics", {})
            add = {
                "tasks": 1,
                "task_seconds": metrics.get("Executor Run Time", 0) / 1000,
                "gc_seconds": metrics.get("JVM GC Time", 0) / 1000,
                "input_bytes": metrics.get("Input Metrics", {}).get("Bytes Read", 0),
                "output_bytes": metrics.get("Output Metrics", {}).get("Bytes Written", 0),
                "shuffle_write_bytes": metrics.get("Shuffle Write Metrics", {}).get("Shuffle Bytes Written", 0),
                "shuffle_read_bytes": shuffle_read.get("Remote Bytes Read", 0) + shuffle_read.get("Local Bytes Read", 0),
                "spill_memory_bytes": metrics.get("Memory Bytes Spilled", 0),
                "spill_disk_bytes": metrics.get("Disk Bytes Spilled", 0),
            }
            for key, value in add.items():
                t[key] = t.get(key, 0) + value
            heap = (event.get("Task Executor Metrics") or {}).get("JVMHeapMemory", 0)
            t["peak_jvm_heap_bytes"] = max(t.get("peak_jvm_heap_bytes", 0), heap)
    return {step: {k: round(v, 2) if isinstance(v, float) else v for k, v in t.items()} for step, t in totals.items()}


def _plan_metrics(node: dict[str, Any], out: dict[int, tuple[str, str, str]]) -> None:
    """accumulator id -> (operator, metric, type) for a SparkPlanInfo tree; a WholeStageCodegen is named by what it fuses."""
    name = node["nodeName"]
    if name.startswith("WholeStageCodegen"):
        fused: list[str] = []
        stack = list(node.get("children", []))
        while stack:
            child = stack.pop(0)
            if child["nodeName"] != "InputAdapter":
                fused.append(child["nodeName"].split(" ")[0])
                stack = list(child.get("children", [])) + stack
        name = f"codegen({', '.join(dict.fromkeys(fused))})"
    for metric in node.get("metrics", []):
        out[metric["accumulatorId"]] = (name, metric["name"], metric["metricType"])
    for child in node.get("children", []):
        _plan_metrics(child, out)


def plan_hotspots(event_log_dir: Path, top: int = 8) -> dict[str, list[dict[str, Any]]]:
    """Per step, the plan operators' time metrics (codegen duration, sort, aggregation build, ...) summed
    over the step's stages, largest first: where the time inside a step goes."""
    metric_of: dict[int, tuple[str, str, str]] = {}
    step_of_stage: dict[int, str] = {}
    value: dict[int, tuple[str, float]] = {}  # accumulator -> (step, the latest total seen)
    for line in _event_log_lines(event_log_dir):
        if '"sparkPlanInfo"' in line:
            _plan_metrics(json.loads(line)["sparkPlanInfo"], metric_of)
            continue
        event = json.loads(line)
        kind = event.get("Event")
        if kind == "SparkListenerJobStart":
            step = (event.get("Properties") or {}).get(STEP_PROPERTY)
            for stage in event.get("Stage IDs", []) if step else []:
                step_of_stage[stage] = step
        elif kind == "SparkListenerStageCompleted":
            info = event["Stage Info"]
            step = step_of_stage.get(info["Stage ID"])
            for acc in info.get("Accumulables", []) if step else []:
                if acc["ID"] in metric_of and metric_of[acc["ID"]][2] in ("timing", "nsTiming"):
                    value[acc["ID"]] = (step, max(float(acc["Value"]), value.get(acc["ID"], (step, 0.0))[1]))
    totals: dict[str, dict[tuple[str, str], float]] = {}
    for acc, (step, v) in value.items():
        operator, metric, kind = metric_of[acc]
        seconds = v / 1000 if kind == "timing" else v / 1e9
        per_step = totals.setdefault(step, {})
        per_step[(operator, metric)] = per_step.get((operator, metric), 0.0) + seconds
    return {
        step: [{"operator": o, "metric": m, "seconds": round(sec, 1)} for (o, m), sec in sorted(t.items(), key=lambda kv: -kv[1])[:top]]
        for step, t in totals.items()
    }


def _event_log_lines(event_log_dir: Path) -> Iterator[str]:
    """The lines of the newest application's event log: one file, or (Spark 4's rolling logs) a folder of
    ``events_<n>_<app>`` files, read in order."""
    apps = [p for p in event_log_dir.iterdir() if not p.name.startswith(".")]
    if not apps:
        return
    app = max(apps, key=lambda p: p.stat().st_mtime)
    files = sorted(app.glob("events_*"), key=lambda p: int(p.name.split("_")[1])) if app.is_dir() else [app]
    for path in files:
        with path.open() as f:
            yield from f


def run_python(module: str, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m benchmarks.<module> args`` in a fresh process of this interpreter, output passed through."""
    import sys

    return subprocess.run([sys.executable, "-m", f"benchmarks.{module}", *args], cwd=REPO, timeout=timeout, text=True)


def folder_bytes(folder: Path) -> int:
    """Bytes of the files under ``folder`` (0 if it does not exist)."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    tmp.replace(path)
