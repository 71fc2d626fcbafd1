"""The daily pipeline on a real Spark standalone cluster (a master and two workers on 127.0.0.1), through scripts/submit.sh.

Marked ``cluster``: not in the default suite, run by .ci/run as its own tier (scripts/test.sh -m cluster).
One generated day lands once; each test runs the pipeline into its own lake and checks its tables against
the first, clean run's:

- generate, then the daily pipeline submitted to the cluster: every job run recorded (generate alone, each
  step under the pipeline's run id), rows conserved, exit 0; a date with no landed files exits 3 through spark-submit;
- a worker killed while clean runs: the job completes on the other worker with the same silver table;
- the driver killed mid-featurize: the ledger shows the dead run's step still "running", the re-run skips
  the steps that succeeded, and the tables equal the clean run's.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ecomlake import lake, ledger
from ecomlake.catalog import (
    DAILY_KPIS,
    INTERACTIONS,
    ITEM_FEATURES,
    RECOMMENDATIONS,
    RUN_AUDIT,
    RUN_LEDGER,
    SESSIONS,
    SILVER_EVENTS,
    USER_FEATURES,
    USER_ITEM_DAILY,
    USER_SEGMENTS,
    Table,
)
from ecomlake.config import Config, load_config
from ecomlake.pipeline.dag import DEFAULT_STEPS
from tests.support import REPO

pytestmark = pytest.mark.cluster

DAY = dt.date(2019, 10, 1)
EVENTS = 10_000
SUBMIT_TIMEOUT_S = 900
# Per-run columns (when a row was ingested, by which run): everything else must be equal between runs.
RUN_COLUMNS = ("ingested_at", "run_id")
COMPARED = (SILVER_EVENTS, SESSIONS, USER_ITEM_DAILY, DAILY_KPIS, USER_FEATURES, ITEM_FEATURES, INTERACTIONS)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Cluster:
    env: dict[str, str]  # cluster.sh's and submit.sh's environment
    landing: Path

    def script(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(REPO / "scripts" / args[0]), *args[1:]], env=self.env, capture_output=True, text=True, check=check, timeout=300)

    def submit_argv(self, root: Path, job: str, *job_args: str) -> list[str]:
        keys = [f"lake.root={root}", f"ingest.landing={self.landing}", "spark.shuffle_partitions=2", "spark.driver_memory=1g"]
        return [str(REPO / "scripts" / "submit.sh"), *(a for k in keys for a in ("--set", k)), job, *job_args]

    def submit(self, root: Path, job: str, *job_args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.submit_argv(root, job, *job_args), env=self.env, capture_output=True, text=True, timeout=SUBMIT_TIMEOUT_S)

    def start_submit(self, root: Path, job: str, *job_args: str, stderr: Path) -> subprocess.Popen[str]:
        """A submission in its own process group (so the whole driver can be killed), stdout readable line by line."""
        with stderr.open("w") as err:
            return subprocess.Popen(
                self.submit_argv(root, job, *job_args), env=self.env, stdout=subprocess.PIPE, stderr=err, text=True, start_new_session=True
            )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    base = tmp_path_factory.mktemp("cluster")
    env = {
        **os.environ,
        "ECOMLAKE_CLUSTER_DIR": str(base / "daemons"),
        "ECOMLAKE_CLUSTER_PORT": str(free_port()),
        "ECOMLAKE_CLUSTER_UI_PORT": str(free_port()),
        "ECOMLAKE_WORKER_MEMORY": "1500m",
    }
    env.pop("ECOMLAKE_LAKE_ROOT", None)
    c = Cluster(env, base / "landing")
    c.script("cluster.sh", "start")
    c.env["ECOMLAKE_SPARK_MASTER"] = c.script("cluster.sh", "url").stdout.strip()
    try:
        yield c
    finally:
        c.script("cluster.sh", "stop", check=False)


def cfg(root: Path) -> Config:
    return load_config(None, overrides=[f"lake.root={root}"], environ={})


def comparable(df: DataFrame) -> DataFrame:
    """Drop per-run columns; round doubles, whose last bits depend on the order a shuffle delivered the rows; maps
    (extra_events) as sorted entry arrays, since set operations refuse map columns."""

    def value(c: T.StructField) -> Column:
        if isinstance(c.dataType, T.DoubleType):
            return F.round(c.name, 6).alias(c.name)
        if isinstance(c.dataType, T.MapType):
            return F.array_sort(F.map_entries(c.name)).alias(c.name)
        return F.col(c.name)

    return df.select(*[value(c) for c in df.schema if c.name not in RUN_COLUMNS])


def assert_same_tables(spark: SparkSession, a: Path, b: Path, tables: tuple[Table, ...]) -> None:
    for table in tables:
        left, right = comparable(lake.read(spark, cfg(a), table)), comparable(lake.read(spark, cfg(b), table))
        assert left.count() == right.count() > 0, table.name
        assert left.exceptAll(right).count() == 0 and right.exceptAll(left).count() == 0, f"{table.name} differs"


def wait_for_line(proc: subprocess.Popen[str], pattern: str, timeout_s: float) -> str:
    """Read the submission's stdout until a line matches (the pipeline prints one progress line per step)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    seen = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        seen.append(line)
        if re.search(pattern, line):
            return line
    raise AssertionError(f"no line matching {pattern!r} (exit {proc.poll()}); stdout: {''.join(seen)[-2000:]}")


def ledger_rows(spark: SparkSession, root: Path) -> list[tuple[str | None, str, str, str]]:
    """(pipeline run id, job, status, job run id) of every ledger row, oldest first."""
    rows = lake.read(spark, cfg(root), RUN_LEDGER).orderBy("started_at", F.col("ended_at").asc_nulls_first()).collect()
    return [(r.pipeline_run_id, r.job, r.status, r.run_id) for r in rows]


@pytest.fixture(scope="module")
def reference(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated day, and the daily pipeline run on it on the cluster: the tables every other run must reproduce."""
    root = tmp_path_factory.mktemp("reference")
    gen = cluster.submit(root, "generate", "--set", f"generator.events={EVENTS}", "--set", f"generator.output={cluster.landing}")
    assert gen.returncode == 0, (gen.stdout + gen.stderr)[-3000:]
    run = cluster.submit(root, "pipeline", "--date", str(DAY))
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    return root


def test_the_daily_pipeline_runs_on_the_standalone_cluster(spark: SparkSession, cluster: Cluster, reference: Path) -> None:
    rows = ledger_rows(spark, reference)
    outcomes = [(pipeline_run, job, status) for pipeline_run, job, status, _ in rows if status != ledger.RUNNING]
    # generate ran alone (no pipeline run); the steps under one pipeline run. Propensity is skipped: one day has no labels yet.
    pipeline_run = outcomes[-1][0]
    assert pipeline_run is not None
    assert outcomes == [(None, "generate", ledger.SUCCEEDED)] + [
        (pipeline_run, s, ledger.SKIPPED if s == "propensity" else ledger.SUCCEEDED) for s in DEFAULT_STEPS
    ]
    assert len({run_id for *_, run_id in rows}) == 1 + len(DEFAULT_STEPS) and len(rows) == 2 * (1 + len(DEFAULT_STEPS))  # a start and an end each
    entries = lake.read(spark, cfg(reference), RUN_LEDGER).where(F.col("status") != ledger.RUNNING).collect()
    assert all("+g" in r.code_version for r in entries)  # the shipped package zip carries the checkout's commit
    # Every input row is accounted for: kept + quarantined + duplicates and bot rows dropped.
    audit = lake.read(spark, cfg(reference), RUN_AUDIT).collect()
    assert len(audit) == 1
    a = audit[0].asDict()
    accounted = a["rows_kept"] + a["rows_quarantined"] + a["duplicates_exact"] + a["duplicates_near"] + a["bot_rows_removed"]
    assert a["rows_in"] == accounted and a["rows_kept"] > 0.9 * EVENTS
    silver = lake.read(spark, cfg(reference), SILVER_EVENTS)
    assert silver.count() == a["rows_kept"]
    clean_run = next(r for r in entries if r.job == "clean")
    assert (clean_run.run_id, clean_run.rows_in) == (a["run_id"], a["rows_in"])  # the ledger and the audit tell the same clean run
    users = lake.read(spark, cfg(reference), USER_FEATURES, {"as_of_date": DAY})
    assert users.count() == silver.select("user_id").distinct().count()
    assert lake.read(spark, cfg(reference), USER_SEGMENTS, {"run_date": DAY}).count() == users.count()
    assert lake.read(spark, cfg(reference), RECOMMENDATIONS).count() > 0


def test_a_missing_input_exits_3_through_spark_submit(cluster: Cluster, tmp_path: Path) -> None:
    run = cluster.submit(tmp_path, "pipeline", "--date", str(DAY + dt.timedelta(days=30)))
    assert run.returncode == 3, (run.stdout + run.stderr)[-3000:]
    # spark-submit's PythonRunner merges the Python driver's stderr into its stdout.
    assert "error: step ingest for 2019-10-31 failed: InputMissingError" in run.stdout, run.stdout[-3000:]


def test_a_killed_worker_does_not_fail_the_job(spark: SparkSession, cluster: Cluster, reference: Path, tmp_path: Path) -> None:
    root, stderr = tmp_path / "lake", tmp_path / "driver.log"
    proc = cluster.start_submit(root, "pipeline", "--date", str(DAY), "--set", "pipeline.steps=[ingest, clean]", stderr=stderr)
    try:
        wait_for_line(proc, r" ingest: succeeded", SUBMIT_TIMEOUT_S)
        time.sleep(3)  # clean's first stages are running on both workers
        cluster.script("cluster.sh", "kill-worker", "1")
        assert proc.wait(timeout=SUBMIT_TIMEOUT_S) == 0, stderr.read_text()[-3000:]
    finally:
        proc.kill()
        cluster.script("cluster.sh", "start")  # bring worker 1 back for the next test
    assert re.search(r"Lost executor|ExecutorLostFailure|Worker lost|worker lost", stderr.read_text()), "the driver never lost an executor"
    assert [job for _, job, status, _ in ledger_rows(spark, root) if status == ledger.SUCCEEDED] == ["ingest", "clean"]
    assert_same_tables(spark, reference, root, (SILVER_EVENTS,))


def test_a_killed_driver_is_rerun_to_the_same_tables(spark: SparkSession, cluster: Cluster, reference: Path, tmp_path: Path) -> None:
    root = tmp_path / "lake"
    proc = cluster.start_submit(
        root, "pipeline", "--date", str(DAY), "--set", "pipeline.steps=[ingest, clean, featurize]", stderr=tmp_path / "driver.log"
    )
    try:
        wait_for_line(proc, r" clean: succeeded", SUBMIT_TIMEOUT_S)
        time.sleep(8)  # featurize is writing its tables
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver (python and its JVM) dies without a word
        proc.wait(timeout=60)
    dead = ledger_rows(spark, root)
    dead_run, dead_featurize = dead[0][0], dead[-1][3]
    assert dead_run is not None and dead[-1][:3] == (dead_run, "featurize", ledger.RUNNING)  # started, never ended
    assert [r[3] for r in dead].count(dead_featurize) == 1
    rerun = cluster.submit(root, "pipeline", "--date", str(DAY), "--set", "pipeline.steps=[ingest, clean, featurize]")
    assert rerun.returncode == 0, (rerun.stdout + rerun.stderr)[-3000:]
    assert "ingest: already succeeded" in rerun.stdout and "clean: already succeeded" in rerun.stdout
    after = ledger_rows(spark, root)
    assert after[: len(dead)] == dead  # both runs stay visible
    assert [(job, status) for _, job, status, _ in after[len(dead) :]] == [("featurize", ledger.RUNNING), ("featurize", ledger.SUCCEEDED)]
    rerun_ids = {(pipeline_run, run_id) for pipeline_run, _, _, run_id in after[len(dead) :]}
    assert len(rerun_ids) == 1 and rerun_ids.isdisjoint({(dead_run, dead_featurize)}) and next(iter(rerun_ids))[0] != dead_run
    assert_same_tables(spark, reference, root, COMPARED)
