"""Airflow example: ecomlake's daily pipeline, one task per step, each a spark-submit through scripts/submit.sh.

Copy this file into Airflow's dags/ folder. On the workers, set:

- ``ECOMLAKE_HOME``: the ecomlake clone (scripts/submit.sh sets its own environment up on first use);
- ``ECOMLAKE_CONF``: the YAML config (e.g. conf/cluster.yaml, with the lake on s3a:// or hdfs://);
- where and how big to run: ``ECOMLAKE_SPARK_MASTER`` (yarn, k8s://..., spark://host:7077),
  ``ECOMLAKE_DEPLOY_MODE``, ``ECOMLAKE_EXECUTOR_MEMORY``, ``ECOMLAKE_NUM_EXECUTORS``... (see the README).

Each task runs ``ecomlake pipeline --date {{ ds }} --only STEP --force``: the step is recorded in
ops.run_ledger like any pipeline run, and ``--force`` because Airflow decides what to re-run (a cleared
task runs again). A step whose input cannot exist yet (labels before their horizon) succeeds as
"skipped" in the ledger. Non-zero exits: 2 config, 3 input missing, 4 data quality, 5 step failed; the
retries are for the transient ones (a lost executor, files landing late).

The tasks are the steps of the config's ``pipeline.steps`` (the file ``ECOMLAKE_CONF`` names, as the
tasks read it; without one, ecomlake.pipeline.dag.DEFAULT_STEPS), in pipeline order, each depending on
the one before: add sequences, train-lstm and score-lstm there, not here. The scheduler reads the config
when it parses this file, so it needs ecomlake importable (its package, or ``$ECOMLAKE_HOME/libs``).

The file imports without Airflow (``dag`` is then None), so its tests run anywhere.
"""

from __future__ import annotations

import datetime as dt
import os
import shlex
import sys

try:
    from ecomlake.config import load_config
except ImportError:  # not installed on the scheduler: the clone's package (pure Python for the config)
    sys.path.insert(0, os.path.join(os.environ.get("ECOMLAKE_HOME", ""), "libs"))
    from ecomlake.config import load_config

RETRIES = 2
RETRY_DELAY = dt.timedelta(minutes=10)


def pipeline_steps(conf: str | None = None) -> tuple[str, ...]:
    """The config's ``pipeline.steps``, in order (the file ``conf``, default $ECOMLAKE_CONF): one task each."""
    return load_config(conf if conf is not None else os.environ.get("ECOMLAKE_CONF")).pipeline.steps


# The steps of this deployment's pipeline, in order: each task depends on the one before.
STEPS = pipeline_steps()


def step_command(step: str) -> str:
    """The task's bash command; Airflow renders ``{{ ds }}`` to the run's date (YYYY-MM-DD)."""
    job = ["pipeline", "--date", "{{ ds }}", "--only", step, "--force", "--json-logs"]
    return f'"$ECOMLAKE_HOME/scripts/submit.sh" --conf "$ECOMLAKE_CONF" {shlex.join(job)}'


try:
    from airflow import DAG
    from airflow.operators.bash import BashOperator
except ImportError:  # Airflow is not installed here: the commands above are still importable and tested
    dag = None
else:
    with DAG(
        dag_id="ecomlake_daily",
        description="ecomlake: raw events to the Delta lakehouse and models, one day at a time",
        schedule="@daily",
        start_date=dt.datetime(2019, 10, 1),
        catchup=True,  # a backfill is Airflow's catch-up: every date in order, each idempotent
        max_active_runs=1,  # dates in order: a day's features read the days before it
        default_args={"retries": RETRIES, "retry_delay": RETRY_DELAY, "retry_exponential_backoff": True, "depends_on_past": True},
        tags=["ecomlake"],
    ) as dag:
        previous = None
        for step in STEPS:
            task = BashOperator(task_id=step.replace("-", "_"), bash_command=step_command(step))
            if previous is not None:
                previous >> task
            previous = task
