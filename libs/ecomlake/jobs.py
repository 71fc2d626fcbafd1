"""Every job of the command line, by name, and the module that defines it (as ``JOB``).

The command line, ``spark-submit jobs/<job>_job.py`` and the pipeline find jobs here. Modules are
imported on demand: a command loads only its own job's module, so ``ecomlake sql --engine duckdb``
and the Spark-free jobs run where pyspark is not installed.
"""

from __future__ import annotations

import importlib

from ecomlake.job import Job

# In the order ``ecomlake --help`` lists them: the daily jobs in pipeline order, then the rest.
JOB_MODULES: dict[str, str] = {
    "generate": "ecomlake.generate.job",
    "ingest": "ecomlake.ingest.job",
    "clean": "ecomlake.clean.job",
    "featurize": "ecomlake.featurize.job",
    "profile": "ecomlake.profile.job",
    "recommend": "ecomlake.recommend.job",
    "propensity": "ecomlake.propensity.job",
    "sequences": "ecomlake.sequences.job",
    "train-lstm": "ecomlake.lstm.train_job",
    "score-lstm": "ecomlake.lstm.score_job",
    "pipeline": "ecomlake.pipeline.job",
    "backfill": "ecomlake.pipeline.backfill",
    "report": "ecomlake.report.job",
    "sql": "ecomlake.analyst.sql",
    "demo": "ecomlake.demo",
    "als-movielens": "ecomlake.recommend.movielens_job",
    "submit": "ecomlake.submit",
    "jars": "ecomlake.admin.jars",
    "config": "ecomlake.admin.show_config",
    "docs": "ecomlake.admin.docs",
}


def load(name: str) -> Job:
    """The job called ``name`` (a key of JOB_MODULES)."""
    job: Job = importlib.import_module(JOB_MODULES[name]).JOB
    if job.name != name:
        raise RuntimeError(f"{JOB_MODULES[name]}.JOB is named {job.name!r}, not {name!r}")  # a bug in this table
    return job
