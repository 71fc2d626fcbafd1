"""ecomlake submit: the spark-submit command it builds, the package zip and the shipped config (no Spark started here).

The command is run for real against the standalone cluster in tests/cluster.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import stat
import subprocess
import sys
import types
import zipfile
from pathlib import Path

import pytest

from ecomlake import jobs, submit
from ecomlake.cli import build_parser, main
from ecomlake.config import REDACTED, config_hash, load_config
from ecomlake.errors import ConfigError
from ecomlake.job import SparkJob
from ecomlake.pipeline.dag import DEFAULT_STEPS, STEP_NAMES
from ecomlake.session import DELTA_PACKAGES
from ecomlake.submit import JOBS_DIR, config_file, entry_file, package_zip, submit_command
from tests.support import REPO


def option(command: list[str], name: str) -> list[str]:
    """Every value given to ``name`` in a command line."""
    return [command[i + 1] for i, arg in enumerate(command[:-1]) if arg == name]


def test_the_command_carries_master_sizing_jars_package_and_config(tmp_path: Path) -> None:
    environ = {"ECOMLAKE_SPARK_MASTER": "yarn", "ECOMLAKE_EXECUTOR_MEMORY": "8g", "ECOMLAKE_NUM_EXECUTORS": "50"}
    config = load_config(REPO / "conf" / "local.yaml", ["spark.shuffle_partitions=400", "spark.executor_cores=4"], environ=environ)
    command = submit_command(config, "pipeline", ["--date", "2019-10-01"], work_dir=tmp_path)
    assert option(command, "--master") == ["yarn"] and option(command, "--deploy-mode") == ["client"]
    assert option(command, "--name") == ["ecomlake-pipeline"] and option(command, "--driver-memory") == ["4g"]
    confs = dict(c.split("=", 1) for c in option(command, "--conf")[:-1])
    assert confs["spark.executor.memory"] == "8g" and confs["spark.executor.instances"] == "50" and confs["spark.executor.cores"] == "4"
    assert confs["spark.sql.shuffle.partitions"] == "400" and confs["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"
    assert "spark.pyspark.python" not in confs  # a remote cluster brings its own Python
    assert confs["spark.driver.extraJavaOptions"] == f"-Duser.timezone=UTC -Dlog4j2.configurationFile=file:{REPO}/conf/log4j2.properties"
    jars = option(command, "--jars") or option(command, "--packages")
    assert jars and ("delta-spark" in jars[0])
    # The entry file, the job's flags, then the shipped config (client mode: its local path).
    shipped = option(command, "--files")[0]
    assert command[-5:] == [str(JOBS_DIR / "pipeline_job.py"), "--date", "2019-10-01", "--conf", shipped]
    assert config_hash(load_config(shipped, environ={})) == config_hash(config)  # the driver sees the same configuration


def test_same_machine_masters_run_this_python_and_cluster_mode_reads_the_config_by_name(tmp_path: Path) -> None:
    local = submit_command(load_config(None, ["spark.master=spark://127.0.0.1:7077"], environ={}), "clean", [], work_dir=tmp_path)
    assert f"spark.pyspark.python={sys.executable}" in option(local, "--conf")
    cluster = load_config(None, ["spark.master=yarn", "spark.deploy_mode=cluster"], environ={})
    command = submit_command(cluster, "clean", ["--date", "2019-10-01"], use_packages=True, work_dir=tmp_path)
    assert option(command, "--deploy-mode") == ["cluster"] and option(command, "--packages") == [",".join(DELTA_PACKAGES)]
    assert command[-1] == Path(option(command, "--files")[0]).name  # the driver finds --files in its working directory


def test_the_package_zip_is_importable_with_its_layouts_and_version(tmp_path: Path) -> None:
    first = package_zip(tmp_path)
    assert package_zip(tmp_path) == first and len(list(tmp_path.glob("*.zip"))) == 1  # an unchanged package is reused
    names = zipfile.ZipFile(first).namelist()
    assert "ecomlake/ml/__init__.py" in names and "ecomlake/sources/rees46.yaml" in names and "ecomlake/VERSION" in names
    assert not any("__pycache__" in n for n in names)
    probe = (
        "import ecomlake, sys; from ecomlake.ingest.layouts import load_layout; from ecomlake.runinfo import code_version; "
        "from ecomlake.session import recorded_jar_hashes; assert ecomlake.__file__.startswith(sys.argv[1]), ecomlake.__file__; "
        "assert recorded_jar_hashes(); print(load_layout('retailrocket').format, code_version())"
    )
    # First on sys.path, as --py-files puts it: the package, its layouts, the jars' hashes and its version come from the zip.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    probed = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, sys.argv[1]); {probe}", str(first)], env=env, capture_output=True, text=True
    )
    assert probed.returncode == 0, probed.stderr
    fmt, version = probed.stdout.split()
    assert fmt == "csv" and version == zipfile.ZipFile(first).read("ecomlake/VERSION").decode()


def test_every_spark_job_has_an_entry_file_that_shadows_no_module() -> None:
    for name in jobs.JOB_MODULES:
        if isinstance(jobs.load(name), SparkJob):
            path = entry_file(name)
            assert path.stem.endswith("_job") and path.stem not in sys.stdlib_module_names
    with pytest.raises(ConfigError, match=r"no spark-submit entry file .*nosuch_job.py for job 'nosuch' \(jobs with one: .*pipeline"):
        entry_file("nosuch")


def test_dry_run_prints_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["submit", "--dry-run", "--set", "spark.master=local[2]", "ingest", "--date", "2019-10-01"]) == 0
    out = capsys.readouterr().out
    assert "spark-submit --master 'local[2]'" in out and "ingest_job.py --date 2019-10-01 --conf " in out
    assert main(["submit", "ingest", "--conf", "x.yaml"]) == 2  # the config is submit's to ship
    assert "give --conf before the job name" in capsys.readouterr().err


# Secret-looking spark.conf properties (Spark's idea, and the pseudonym key's variable) and one that is not.
SECRETS = {
    "spark.hadoop.fs.s3a.secret.key": "s3-secret-value",
    "spark.hadoop.fs.s3a.access.key": "AKIA-access-value",
    "spark.ssl.keyStorePassword": "keystore-password-value",
    "spark.kubernetes.driverEnv.API_TOKEN": "api-token-value",
    "spark.yarn.appMasterEnv.ECOMLAKE_PSEUDONYM_KEY": "pseudonym-key-value",
}
PLAIN = {"spark.eventLog.dir": "/var/log/spark-events"}


def secret_config() -> list[str]:
    return [f"spark.conf.{key}={value}" for key, value in {**SECRETS, **PLAIN}.items()]


def test_the_shipped_config_is_private_from_creation_and_holds_no_secret(tmp_path: Path) -> None:
    config = load_config(None, ["spark.master=yarn", *secret_config()], environ={})
    umask = os.umask(0)  # a file made with the default mode and chmod-ed later would be 0666 here
    try:
        command = submit_command(config, "clean", ["--date", "2019-10-01"], work_dir=tmp_path)
    finally:
        os.umask(umask)
    shipped = Path(option(command, "--files")[0])
    assert stat.S_IMODE(shipped.stat().st_mode) == 0o600
    text = shipped.read_text()
    assert not [value for value in SECRETS.values() if value in text]
    reloaded = load_config(shipped, environ={})
    assert reloaded.spark.conf == {**dict.fromkeys(SECRETS, REDACTED), **PLAIN}
    assert reloaded.privacy.key_env == "ECOMLAKE_PSEUDONYM_KEY"  # the name the driver reads the key from stays
    # The job gets the real values through spark-submit's --conf, which the driver takes before the config's.
    assert {f"{key}={value}" for key, value in {**SECRETS, **PLAIN}.items()} <= set(option(command, "--conf"))


def test_a_failed_write_leaves_the_file_there_before_and_a_truncated_one_is_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(None, ["privacy.pseudonymize_user_ids=true"], environ={})
    shipped = config_file(config, tmp_path)
    whole = shipped.read_text()
    truncated = whole[: whole.index("privacy:")]  # an older version's crash mid-write: it loads, pseudonymisation off
    shipped.write_text(truncated)
    assert not load_config(shipped, environ={}).privacy.pseudonymize_user_ids

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        config_file(config, tmp_path)
    assert shipped.read_text() == truncated and [p.name for p in tmp_path.iterdir()] == [shipped.name]  # untouched, no temp file left
    monkeypatch.undo()
    assert config_file(config, tmp_path) == shipped and shipped.read_text() == whole  # rewritten, not reused
    assert load_config(shipped, environ={}).privacy.pseudonymize_user_ids


def test_dry_run_quotes_paths_with_a_space_and_redacts_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    checkout = tmp_path / "my checkout"
    (checkout / "conf").mkdir(parents=True)
    shutil.copytree(JOBS_DIR, checkout / "jobs")
    log4j = shutil.copy(REPO / "conf" / "log4j2.properties", checkout / "conf")
    monkeypatch.setattr(submit, "JOBS_DIR", checkout / "jobs")
    monkeypatch.setattr(submit, "LOG4J_FILE", Path(log4j))
    monkeypatch.setenv("ECOMLAKE_CACHE", str(tmp_path / "my cache"))  # the config file and the zip go there
    keys = [arg for key in ["spark.master=local[2]", *secret_config()] for arg in ("--set", key)]
    assert main(["submit", "--dry-run", *keys, "clean", "--date", "2019-10-01"]) == 0
    printed = capsys.readouterr().out
    assert not [value for value in SECRETS.values() if value in printed]
    words = shlex.split(printed)  # as a shell reads the printed line
    shipped = option(words, "--files")[0]
    assert words[-5:] == [str(checkout / "jobs" / "clean_job.py"), "--date", "2019-10-01", "--conf", shipped] and Path(shipped).is_file()
    confs = dict(c.split("=", 1) for c in option(words, "--conf")[:-1])
    assert {key: confs[key] for key in SECRETS} == dict.fromkeys(SECRETS, REDACTED) and confs["spark.eventLog.dir"] == PLAIN["spark.eventLog.dir"]
    # Spark splits Java options as a shell does: the log4j file stays one option.
    assert shlex.split(confs["spark.driver.extraJavaOptions"]) == ["-Duser.timezone=UTC", f"-Dlog4j2.configurationFile=file:{log4j}"]


class FakeDag:
    """Airflow's DAG as the example uses it: a context manager that collects the tasks made inside it."""

    current: FakeDag | None = None

    def __init__(self, dag_id: str, **kwargs: object) -> None:
        self.dag_id, self.kwargs, self.tasks = dag_id, kwargs, []

    def __enter__(self) -> FakeDag:
        FakeDag.current = self
        return self

    def __exit__(self, *exc: object) -> None:
        FakeDag.current = None


class FakeBashOperator:
    def __init__(self, task_id: str, bash_command: str) -> None:
        self.task_id, self.bash_command, self.downstream = task_id, bash_command, []
        assert FakeDag.current is not None, "a task made outside its DAG"
        FakeDag.current.tasks.append(self)

    def __rshift__(self, other: FakeBashOperator) -> FakeBashOperator:
        self.downstream.append(other)
        return other


def load_dag_file(monkeypatch: pytest.MonkeyPatch, conf: Path | None, with_airflow: bool) -> types.ModuleType:
    """Import scripts/airflow/ecomlake_daily_dag.py as a scheduler parses it, with $ECOMLAKE_CONF = conf (unset: None)."""
    if conf is None:
        monkeypatch.delenv("ECOMLAKE_CONF", raising=False)
    else:
        monkeypatch.setenv("ECOMLAKE_CONF", str(conf))
    if with_airflow:
        airflow, operators, bash = types.ModuleType("airflow"), types.ModuleType("airflow.operators"), types.ModuleType("airflow.operators.bash")
        airflow.DAG, bash.BashOperator = FakeDag, FakeBashOperator  # type: ignore[attr-defined]
        for name, module in (("airflow", airflow), ("airflow.operators", operators), ("airflow.operators.bash", bash)):
            monkeypatch.setitem(sys.modules, name, module)
    spec = importlib.util.spec_from_file_location("ecomlake_daily_dag", REPO / "scripts" / "airflow" / "ecomlake_daily_dag.py")
    assert spec and spec.loader
    dag_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dag_module)
    return dag_module


def test_the_airflow_example_has_a_task_per_step_that_the_cli_accepts(monkeypatch: pytest.MonkeyPatch) -> None:
    dag_module = load_dag_file(monkeypatch, None, with_airflow=False)  # imports without Airflow installed
    assert dag_module.dag is None
    # Without a config file: the default pipeline.steps, from the DAG declared in ecomlake.pipeline.dag.
    assert dag_module.STEPS == load_config(None, environ={}).pipeline.steps == DEFAULT_STEPS and set(DEFAULT_STEPS) <= set(STEP_NAMES)
    parser = build_parser(["submit", "pipeline"])
    for step in dag_module.STEPS:
        words = shlex.split(dag_module.step_command(step).replace("{{ ds }}", "2019-10-01"))  # as Jinja, then bash, see it
        assert words[:3] == ["$ECOMLAKE_HOME/scripts/submit.sh", "--conf", "$ECOMLAKE_CONF"]
        submit = parser.parse_args(["submit", *words[3:]])
        job = parser.parse_args([submit.target, *submit.job_args])
        assert (job.job, job.only_step, job.force, str(job.date), job.json_logs) == ("pipeline", step, True, "2019-10-01", True)


def test_the_airflow_tasks_follow_the_configs_pipeline_steps(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The DAG is the config's pipeline.steps (here with the LSTM steps, without profile): one task each, in order, chained."""
    conf = tmp_path / "cluster.yaml"
    steps = ("ingest", "clean", "featurize", "recommend", "propensity", "sequences", "train-lstm", "score-lstm")
    conf.write_text(f"pipeline:\n  steps: [{', '.join(steps)}]\n")
    dag_module = load_dag_file(monkeypatch, conf, with_airflow=True)
    assert dag_module.STEPS == load_config(conf, environ={}).pipeline.steps == steps
    dag = dag_module.dag
    assert isinstance(dag, FakeDag) and dag.dag_id == "ecomlake_daily"
    assert [t.task_id for t in dag.tasks] == [s.replace("-", "_") for s in steps]
    assert [t.bash_command for t in dag.tasks] == [dag_module.step_command(s) for s in steps]
    # Each task depends on the one before it, and only on it.
    assert [[d.task_id for d in t.downstream] for t in dag.tasks] == [[n.task_id] for n in dag.tasks[1:]] + [[]]
    assert dag.kwargs["default_args"]["depends_on_past"] is True and dag.kwargs["max_active_runs"] == 1
    # A config whose steps are invalid fails the DAG file's import, naming the key.
    conf.write_text("pipeline:\n  steps: [clean, ingest]\n")
    with pytest.raises(ConfigError, match=r"key 'pipeline\.steps': must be distinct and in pipeline order"):
        load_dag_file(monkeypatch, conf, with_airflow=True)
