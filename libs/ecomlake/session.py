"""The one session helper: a configured builder with Delta Lake, and the start of a session.

Delta's pip wheel holds only Python; its jars come from Maven Central. ``scripts/setup.sh`` resolves
them once into a local cache (``ecomlake jars``), after which every session starts offline with
``spark.jars`` pointing at the cached files. Without a cache, ``spark.jars.packages`` resolves them.
Every cached or freshly resolved jar must have the sha256 recorded in ``delta_jars.sha256`` (beside
this module): another file is refused with :class:`JarChecksumError`.

Only entry points (the CLI, the test fixture) start a session:

    >>> from ecomlake.config import load_config
    >>> spark = start_session(load_config(None))   # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
from importlib import resources
from pathlib import Path

from pyspark.sql import SparkSession

from ecomlake.config import REDACTION_REGEX, SparkConfig
from ecomlake.errors import ConfigError

log = logging.getLogger(__name__)

DELTA_VERSION = "4.0.1"
SCALA_BINARY = "2.13"
DELTA_PACKAGES = (f"io.delta:delta-spark_{SCALA_BINARY}:{DELTA_VERSION}",)
# The files Spark's ivy resolution of DELTA_PACKAGES yields (antlr4-runtime comes with Delta's pom).
DELTA_JARS = (
    f"io.delta_delta-spark_{SCALA_BINARY}-{DELTA_VERSION}.jar",
    f"io.delta_delta-storage-{DELTA_VERSION}.jar",
    "org.antlr_antlr4-runtime-4.13.1.jar",
)
# Their sha256 as Maven Central serves them, in sha256sum's format; package data, so installs have it too.
JAR_HASHES = resources.files("ecomlake") / "delta_jars.sha256"


class JarChecksumError(ConfigError):
    """A Delta jar's bytes are not the recorded ones. The message names the jar, both sha256 digests and the fix."""


def recorded_jar_hashes() -> dict[str, str]:
    """The recorded sha256 of each Delta jar, by file name (``JAR_HASHES``; comment lines skipped)."""
    lines = JAR_HASHES.read_text().splitlines()
    return {name: digest for digest, name in (line.split() for line in lines if line.strip() and not line.startswith("#"))}


def check_jars(paths: list[Path], cache: Path) -> None:
    """Raise JarChecksumError unless every jar has its recorded sha256 (7-20 ms for Delta's 8 MB on 2 busy cores)."""
    recorded = recorded_jar_hashes()
    for path in paths:
        expected = recorded.get(path.name)
        if expected is None:
            raise JarChecksumError(f"{path.name} has no sha256 in {JAR_HASHES}: record it there (docs/stack.md, 'Pinned by hash')")
        with path.open("rb") as file:
            actual = hashlib.file_digest(file, "sha256").hexdigest()
        if actual != expected:
            raise JarChecksumError(
                f"{path}: sha256 {actual}, expected {expected} (recorded in ecomlake/{JAR_HASHES.name}); the jar is not the one Maven Central "
                f"serves, so it is refused. Delete {cache} and re-run scripts/setup.sh (or `ecomlake jars`) to resolve it again"
            )


def jars_dir(spark_config: SparkConfig) -> Path:
    """The folder holding this Delta version's cached jars."""
    assert spark_config.jars_cache, "load_config resolves jars_cache"
    return Path(spark_config.jars_cache) / f"delta-{DELTA_VERSION}"


def cached_delta_jars(spark_config: SparkConfig) -> list[str] | None:
    """The cached Delta jar files, or None when any is missing; JarChecksumError when one's sha256 is not the recorded one."""
    folder = jars_dir(spark_config)
    paths = [folder / name for name in DELTA_JARS]
    if not all(p.is_file() for p in paths):
        return None
    check_jars(paths, Path(str(spark_config.jars_cache)))
    return [str(p) for p in paths]


def session_confs(spark_config: SparkConfig, app_name: str | None = None) -> dict[str, str]:
    """Every Spark property ecomlake sets for a session: the builder's, and what ``ecomlake submit`` passes to spark-submit."""
    confs = {
        "spark.master": spark_config.master,
        "spark.app.name": app_name or spark_config.app_name,
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.session.timeZone": spark_config.timezone,
        # The JVM's own zone matters too (e.g. for date parsing in some sources): keep one clock.
        "spark.driver.extraJavaOptions": f"-Duser.timezone={spark_config.timezone}",
        "spark.executor.extraJavaOptions": f"-Duser.timezone={spark_config.timezone}",
        "spark.driver.memory": spark_config.driver_memory,
        "spark.sql.shuffle.partitions": str(spark_config.shuffle_partitions),
        # Delta rebuilds a table's state from its log in 50 tasks by default, on every read and commit;
        # a log is small, so no more tasks than a shuffle (this halved the time of small writes on 2 cores).
        "spark.databricks.delta.snapshotPartitions": str(min(50, spark_config.shuffle_partitions)),
        "spark.sql.warehouse.dir": str(spark_config.warehouse_dir),
        "spark.ui.enabled": str(spark_config.ui_enabled).lower(),
        "spark.ui.showConsoleProgress": "false",
        # Spark's default plus the pseudonym key's variable (privacy.key_env must match it): redacted in the UI and event log.
        "spark.redaction.regex": REDACTION_REGEX,
    }
    confs.update(executor_confs(spark_config))
    jars = cached_delta_jars(spark_config)
    if jars:
        confs["spark.jars"] = ",".join(jars)
    else:
        log.info("no cached Delta jars in %s; resolving %s from Maven Central", jars_dir(spark_config), DELTA_PACKAGES)
        confs["spark.jars.packages"] = ",".join(DELTA_PACKAGES)
        confs["spark.jars.ivy"] = str(Path(str(spark_config.jars_cache)) / "ivy")
    confs.update(spark_config.conf)  # the user's explicit confs win over ours
    return confs


def builder(spark_config: SparkConfig, app_name: str | None = None) -> SparkSession.Builder:
    """Return a builder with Delta, UTC and the configured resources; the caller owns the session.

    Static confs (master, memory, jars) only take effect if no JVM is running yet in this process.
    Under spark-submit, every property the submit command set wins over the config (a builder's
    options would otherwise override them, the master included).
    """
    submitted = submitted_conf()
    b = SparkSession.builder
    for key, value in session_confs(spark_config, app_name).items():
        if key not in submitted:
            b = b.config(key, value)
    return b


def executor_confs(spark_config: SparkConfig) -> dict[str, str]:
    """The Spark properties for the executor sizing keys that are set (the rest stay Spark's defaults)."""
    keys = {
        "spark.executor.memory": spark_config.executor_memory,
        "spark.executor.cores": spark_config.executor_cores,
        "spark.executor.instances": spark_config.num_executors,
        "spark.cores.max": spark_config.total_executor_cores,
    }
    return {key: str(value) for key, value in keys.items() if value is not None}


def submitted_conf() -> dict[str, str]:
    """The Spark properties spark-submit gave this driver (empty when not launched by spark-submit)."""
    if "PYSPARK_GATEWAY_PORT" not in os.environ:  # set by spark-submit for a Python application
        return {}
    from pyspark import SparkConf, SparkContext

    SparkContext._ensure_initialized()  # connects to spark-submit's JVM, whose system properties hold its settings
    return dict(SparkConf().getAll())


def start_session(spark_config: SparkConfig, app_name: str | None = None) -> SparkSession:
    """Start (or join) the session and set what can only be set on a live one: the checkpoint dir, unless it has one."""
    # Python workers (pandas UDFs, RDD lambdas) must run this interpreter, with its numpy and pandas,
    # not whatever python3 is first on PATH; a PYSPARK_PYTHON set by the user or spark-submit wins.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = builder(spark_config, app_name).getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    assert spark_config.checkpoint_dir, "load_config resolves checkpoint_dir"
    # A session that already has one (a notebook's, a test run's, joined by the CLI) keeps it: it is the caller's.
    if spark.sparkContext.getCheckpointDir() is None:
        spark.sparkContext.setCheckpointDir(spark_config.checkpoint_dir)
    return spark


def cache_delta_jars(spark_config: SparkConfig) -> list[str]:
    """Resolve the Delta jars through Spark's ivy into the jar cache; returns the cached files.

    Starts a short-lived local JVM, so call it from setup, not from a job.
    """
    import shutil

    cached = cached_delta_jars(spark_config)
    if cached:
        return cached
    ivy = Path(str(spark_config.jars_cache)) / "ivy"
    spark = (
        SparkSession.builder.master("local[1]")
        .appName("ecomlake-jars")
        .config("spark.jars.packages", ",".join(DELTA_PACKAGES))
        .config("spark.jars.ivy", str(ivy))
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    spark.stop()
    target = jars_dir(spark_config)
    target.mkdir(parents=True, exist_ok=True)
    sources = [ivy / "jars" / name for name in DELTA_JARS]
    for source in sources:
        if not source.is_file():
            raise FileNotFoundError(f"ivy resolved no {source.name} into {ivy / 'jars'}; is Maven Central reachable?")
    check_jars(sources, Path(str(spark_config.jars_cache)))  # before any reaches the cache
    for source in sources:
        shutil.copy2(source, target / source.name)
    return [str(target / name) for name in DELTA_JARS]
