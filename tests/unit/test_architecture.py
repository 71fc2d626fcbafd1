"""The architecture's rules, checked on the code: one catalog, one IO module, one job contract, thin jobs, one vocabulary.

Each test names the rule it guards; a change that breaks one fails here with the file and line.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from ecomlake import catalog, jobs
from ecomlake.config import Config
from ecomlake.job import LocalJob, SparkJob
from ecomlake.pipeline.dag import DEFAULT_STEPS, STEP_NAMES
from tests.support import REPO

LIBS = REPO / "libs" / "ecomlake"
JOB_MODULE_FILES = {name: LIBS.joinpath(*module.split(".")[1:]).with_suffix(".py") for name, module in jobs.JOB_MODULES.items()}


def _sources(*roots: Path) -> Iterator[tuple[Path, str]]:
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            yield path, path.read_text()


def _hits(needle: str, *roots: Path, allowed: tuple[Path, ...] = ()) -> list[str]:
    return [
        f"{path.relative_to(REPO)}:{n}"
        for path, text in _sources(*roots)
        if path not in allowed
        for n, line in enumerate(text.splitlines(), 1)
        if needle in line
    ]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


def test_argparse_namespaces_are_built_only_by_the_command_line() -> None:
    roots = (LIBS, REPO / "tests", REPO / "benchmarks", REPO / "scripts", REPO / "jobs")
    assert _hits("argparse.Namespace(", *roots, allowed=(Path(__file__),)) == []


def test_only_the_io_module_reads_or_writes_delta_tables() -> None:
    lake_py = LIBS / "lake.py"
    assert _hits('format("delta")', LIBS, allowed=(lake_py,)) == []
    assert _hits("DeltaTable.", LIBS, allowed=(lake_py,)) == []


def test_no_private_jvm_handles() -> None:
    assert _hits("._jvm", LIBS) == [] and _hits("._jsc", LIBS) == []


def test_job_modules_do_not_check_existence_by_hand() -> None:
    """A missing input is lake.read's error (naming the producing job), not a hand-written check."""
    for path in JOB_MODULE_FILES.values():
        text = path.read_text()
        assert "lake.exists(" not in text and "table_exists" not in text, path


def test_no_module_imports_a_job_module() -> None:
    """Job modules are entry points: what two jobs share lives in their packages' modules (the registry loads jobs by name).

    Callers from outside the package (tests, benchmarks) call a job's typed ``run`` like the command line does.
    """
    job_modules = set(jobs.JOB_MODULES.values())
    for path, _ in _sources(LIBS):
        imported = _imports(path) & job_modules
        assert not imported, f"{path.relative_to(REPO)} imports {sorted(imported)}"


def test_the_event_vocabulary_is_defined_once() -> None:
    literal = '"view", "cart", "remove_from_cart", "purchase"'
    hits = _hits(literal, LIBS)
    assert hits == [], f"the event types are ecomlake.vocabulary.EVENT_TYPES; defined again at {hits}"


def test_every_table_is_declared_once_with_its_producer() -> None:
    keys = [t.key for t in catalog.ALL_TABLES]
    assert len(keys) == len(set(keys))
    names = set(jobs.JOB_MODULES)
    for table in catalog.ALL_TABLES:
        assert table.schema().names, table.key
        assert all(job in names or job == "every job" for job in table.produced_by), table.key
        assert set(table.partition_by) <= set(table.schema().names), table.key
    for job in names:
        assert not (LIBS / job.replace("-", "_") / "schemas.py").exists()


@pytest.mark.parametrize("name", list(jobs.JOB_MODULES))
def test_every_flag_of_a_job_is_a_typed_parameter_or_a_config_key(name: str) -> None:
    job = jobs.load(name)
    assert isinstance(job, SparkJob | LocalJob)
    assert dataclasses.is_dataclass(job.params) and job.params.__dataclass_params__.frozen  # type: ignore[attr-defined]
    fields = {f.name for f in dataclasses.fields(job.params)}
    parser = argparse.ArgumentParser()
    job.add_arguments(parser)
    dests = {a.dest for a in parser._actions if a.dest != "help"}
    config_keys = {d for d in dests if "." in d}
    assert dests - config_keys <= fields, f"{name}: flags without a parameter: {sorted(dests - config_keys - fields)}"
    for key in config_keys:  # a dotted dest names a real config key
        section, _, field = key.partition(".")
        assert field in {f.name for f in dataclasses.fields(getattr(Config(), section))}, f"{name}: --{key} is not a config key"


def test_the_pipeline_steps_are_daily_spark_jobs_declared_once() -> None:
    assert Config().pipeline.steps == DEFAULT_STEPS
    for step in STEP_NAMES:
        job = jobs.load(step)
        assert isinstance(job, SparkJob) and "date" in {f.name for f in dataclasses.fields(job.params)}, step
    airflow = (REPO / "scripts" / "airflow" / "ecomlake_daily_dag.py").read_text()
    assert "STEPS = (" not in airflow, "the Airflow DAG takes its steps from pipeline.steps, not a list of its own"
