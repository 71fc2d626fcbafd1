"""``ecomlake submit <job> [job flags]``: run a job with spark-submit, on local[*], a standalone master, YARN or Kubernetes.

The command it builds (``--dry-run`` prints it) passes:

- ``--master``, ``--deploy-mode``, ``--driver-memory`` and every other Spark property ecomlake sets for a
  session (Delta's extension and catalog, UTC, shuffle partitions, executor sizing, ``spark.conf``) as
  ``--conf``: the same properties a local run sets, from the same config keys and environment
  variables (``ECOMLAKE_SPARK_MASTER``, ``ECOMLAKE_EXECUTOR_MEMORY``, ...);
- ``--jars``: Delta's jars from the local cache (``--packages`` resolves them from Maven Central
  instead, with ``--packages`` or when the cache is empty);
- ``--py-files``: this package as a zip of its pure-Python files, rebuilt only when they change
  (numpy, pandas, pyarrow and the other native dependencies come from the cluster's Python);
- ``--files``: the effective configuration (the ``--conf`` file with the environment and ``--set``
  applied) as one YAML file, which the job reads with ``--conf``: the driver needs no environment.

Secrets: a ``spark.conf`` property whose name looks secret (:func:`secret_names`: Spark's redaction idea,
``ecomlake.config.REDACTION_REGEX``, the effective ``spark.redaction.regex`` and ``privacy.key_env``) reaches
the job through its ``--conf`` only; the config file holds ``*********(redacted)`` instead, and so does the
command ``--dry-run`` prints. The driver takes every ``--conf`` property before the config's (ecomlake.session),
so it never sees the redacted text. The pseudonymisation key is never in the config at all: the driver reads it
from ``privacy.key_env`` or ``privacy.key_file`` in its own environment. The config file is written whole or not
at all (a temporary file beside it, fsynced, renamed over it) and readable by its owner only (0600 from creation).

The job runs from its entry file, ``jobs/<job>_job.py``. spark-submit replaces this process, so its exit
code (the job's: 0, 2 config, 3 input missing, 4 data quality, 5 step failed) is the command's.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shlex
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyspark
import yaml

from ecomlake.config import REDACTED, Config, as_dict, cache_dir, redacted_confs, secret_names
from ecomlake.errors import ConfigError, InputMissingError
from ecomlake.job import LocalJob
from ecomlake.runinfo import VERSION_FILE, code_version
from ecomlake.session import DELTA_PACKAGES, session_confs

PACKAGE_DIR = Path(__file__).resolve().parent
JOBS_DIR = PACKAGE_DIR.parents[1] / "jobs"
LOG4J_FILE = PACKAGE_DIR.parents[1] / "conf" / "log4j2.properties"  # the driver's JVM logging, in client mode
# Masters whose executors run on this machine, with this environment's Python.
SAME_MACHINE_MASTERS = ("local", "spark://127.0.0.1:", "spark://localhost:")


def entry_file(job: str, jobs_dir: Path | None = None) -> Path:
    """The spark-submit entry file of a job: jobs/<job with - as _>_job.py.

    The suffix matters: spark-submit puts the file's folder first on sys.path, where jobs/profile.py
    would shadow the standard library's profile module (which pyspark imports).
    """
    jobs_dir = jobs_dir or JOBS_DIR
    path = jobs_dir / f"{job.replace('-', '_')}_job.py"
    if not path.is_file():
        known = sorted(p.stem.removesuffix("_job").replace("_", "-") for p in jobs_dir.glob("*_job.py")) if jobs_dir.is_dir() else []
        raise ConfigError(f"no spark-submit entry file {path} for job {job!r} (jobs with one: {', '.join(known) or 'none found'})")
    return path


# What the package reads at run time: code, built-in layouts, py.typed, the Delta jars' recorded hashes (ecomlake.session).
PACKAGE_SUFFIXES = (".py", ".yaml", ".typed", ".sha256")


def package_zip(target_dir: Path, package_dir: Path = PACKAGE_DIR) -> Path:
    """The package's pure-Python files as a zip for --py-files, named by their hash so an unchanged package is reused.

    It also holds a VERSION file with this checkout's code version, which the ledger records.
    """
    files = sorted(p for p in package_dir.rglob("*") if p.is_file() and p.suffix in PACKAGE_SUFFIXES and "__pycache__" not in p.parts)
    contents = {str(Path(package_dir.name) / p.relative_to(package_dir)): p.read_bytes() for p in files}
    contents[f"{package_dir.name}/{VERSION_FILE}"] = code_version().encode()
    digest = hashlib.sha256()
    for name, data in contents.items():
        digest.update(name.encode() + b"\0" + data)
    target = target_dir / f"{package_dir.name}-{digest.hexdigest()[:12]}.zip"
    if not target.is_file():
        target_dir.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f"{target.name}.{os.getpid()}.tmp")  # one per process: two submits at once do not collide
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in contents.items():
                # A fixed timestamp: the same files give the same bytes.
                archive.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data, zipfile.ZIP_DEFLATED)
        partial.replace(target)  # atomic: a concurrent submit never ships half a zip
    return target


def redacted_command(command: Sequence[str], is_secret: Callable[[str], bool]) -> list[str]:
    """The command line with the value of every secret ``--conf KEY=VALUE`` redacted: what may be printed or logged."""
    shown = list(command)
    for i, arg in enumerate(shown[1:], 1):
        key, has_value, _ = arg.partition("=")
        if shown[i - 1] == "--conf" and has_value and is_secret(key):
            shown[i] = f"{key}={REDACTED}"
    return shown


def config_file(config: Config, target_dir: Path) -> Path:
    """The effective configuration as a YAML file that load_config reads back to the same values, its secrets redacted.

    Written whole or not at all and private to this user (see the module's docstring); rewritten on every submit, so a
    file an older version left half written or world-readable is replaced, not reused.
    """
    data = as_dict(config)
    data["spark"]["conf"] = redacted_confs(data["spark"]["conf"], secret_names(config))
    text = (
        f"# the effective configuration of an `ecomlake submit` (from {config.origin}, environment and flags);\n"
        "# secret spark.conf values are redacted here and reach the job through spark-submit's --conf\n"
        f"{yaml.safe_dump(data, sort_keys=False)}"
    )
    target = target_dir / f"config-{hashlib.sha256(text.encode()).hexdigest()[:12]}.yaml"
    target_dir.mkdir(parents=True, exist_ok=True)
    write_private(target, text)
    return target


def write_private(target: Path, text: str) -> None:
    """Replace ``target`` with ``text``, all or nothing, readable by its owner only.

    A temporary file beside it (mkstemp creates it 0600, so the text is never readable by others, not even briefly),
    fsynced, then renamed over the target: a reader, or the next submit after a crash, sees the old file or the new
    one, never a truncated one (a truncated config still loads, with the later keys at their defaults).
    """
    fd, partial = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
        raise
    folder = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # the rename itself survives a crash
    finally:
        os.close(folder)


def spark_submit_executable() -> str:
    """$SPARK_HOME/bin/spark-submit when SPARK_HOME is set (a cluster's Spark 4.0), else the one pip's pyspark installed here."""
    if os.environ.get("SPARK_HOME"):
        return str(Path(os.environ["SPARK_HOME"]) / "bin" / "spark-submit")
    local = Path(sys.executable).parent / "spark-submit"
    return str(local) if local.is_file() else "spark-submit"


def submit_command(config: Config, job: str, job_args: list[str], use_packages: bool = False, work_dir: Path | None = None) -> list[str]:
    """The spark-submit command line that runs ``ecomlake <job> <job_args>`` with this configuration."""
    work_dir = work_dir or cache_dir() / "submit"
    spark = config.spark
    confs = session_confs(spark, f"ecomlake-{job}")
    master, name, driver_memory = confs.pop("spark.master"), confs.pop("spark.app.name"), confs.pop("spark.driver.memory")
    jars = confs.pop("spark.jars", None)
    if use_packages or jars is None:
        confs.pop("spark.jars.packages", None)
        jars_args = ["--packages", ",".join(DELTA_PACKAGES)]
    else:
        jars_args = ["--jars", jars]
    if master.startswith(SAME_MACHINE_MASTERS) and "spark.pyspark.python" not in confs:
        confs["spark.pyspark.python"] = sys.executable  # executors here run this environment's Python
    if spark.deploy_mode == "client" and LOG4J_FILE.is_file():
        # Warnings and errors only from the driver's JVM (spark-submit's default is INFO).
        # Spark splits Java options on spaces the way a shell does: quoted, a checkout path with a space stays one option.
        options = confs.get("spark.driver.extraJavaOptions", "")
        confs["spark.driver.extraJavaOptions"] = f"{options} -Dlog4j2.configurationFile={shlex.quote(f'file:{LOG4J_FILE}')}".strip()
    conf = config_file(config, work_dir)
    # In cluster mode the driver runs remotely and finds --files in its working directory.
    conf_arg = conf.name if spark.deploy_mode == "cluster" else str(conf)
    command = [spark_submit_executable(), "--master", master, "--deploy-mode", spark.deploy_mode, "--name", name]
    command += ["--driver-memory", driver_memory, *jars_args, "--py-files", str(package_zip(work_dir)), "--files", str(conf)]
    for key, value in sorted(confs.items()):
        command += ["--conf", f"{key}={value}"]
    return [*command, str(entry_file(job)), *job_args, "--conf", conf_arg]


@dataclass(frozen=True)
class SubmitParams:
    target: str  # the job to submit
    job_args: tuple[str, ...] = ()  # its own flags
    dry_run: bool = False  # print the command instead of running it
    packages: bool = False  # resolve Delta's jars from Maven Central instead of the local cache


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dry-run", action="store_true", help="print the spark-submit command instead of running it (shell-quoted; secret --conf values redacted)"
    )
    parser.add_argument("--packages", action="store_true", help="resolve Delta's jars from Maven Central (--packages) instead of the local cache")
    parser.add_argument("target", metavar="JOB", help="the job to submit, e.g. pipeline")
    parser.add_argument("job_args", nargs=argparse.REMAINDER, metavar="...", help="the job's own flags, e.g. --date 2019-10-01")


def run(config: Config, params: SubmitParams) -> None:
    if "--conf" in params.job_args:
        raise ConfigError("give --conf before the job name (ecomlake submit --conf FILE JOB ...): submit ships it to the driver")
    command = submit_command(config, params.target, list(params.job_args), params.packages)
    if params.dry_run:
        print(shlex.join(redacted_command(command, secret_names(config))))  # quoted: pasted into a shell, it runs as is
        return
    if shutil.which(command[0]) is None:
        raise InputMissingError(f"spark-submit not found: {command[0]} (set SPARK_HOME to a Spark 4.0 installation, or install pyspark)")
    sys.stdout.flush()
    # pip's spark-submit looks for Spark with whatever python3 is on PATH; tell it where pyspark is.
    os.environ.setdefault("SPARK_HOME", str(Path(pyspark.__file__).parent))
    os.execvp(command[0], command)


JOB = LocalJob(
    "submit",
    "Run a job with spark-submit (local, standalone, YARN, Kubernetes), shipping the package, Delta's jars and the config",
    SubmitParams,
    run,
    add_arguments,
)
