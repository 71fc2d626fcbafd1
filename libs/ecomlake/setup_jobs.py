"""Jobs that need no Spark session: ``ecomlake jars`` (cache the Delta jars), ``ecomlake config`` and ``ecomlake docs``."""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml
from pyspark.sql import SparkSession

from ecomlake.config import Config, as_dict
from ecomlake.job import Job


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run_jars(spark: SparkSession | None, config: Config, args: argparse.Namespace) -> None:
    from ecomlake.session import cache_delta_jars

    for path in cache_delta_jars(config.spark):
        print(path)


def run_config(spark: SparkSession | None, config: Config, args: argparse.Namespace) -> None:
    print(f"# effective configuration (from {config.origin}, environment and flags)")
    data = as_dict(config)
    print(yaml.safe_dump(data, sort_keys=False), end="")


def _docs_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="docs/data_dictionary.md", help="where to write it (default docs/data_dictionary.md; - for stdout)")


def run_docs(spark: SparkSession | None, config: Config, args: argparse.Namespace) -> None:
    from ecomlake.dictionary import data_dictionary

    text = data_dictionary(config)
    if args.out == "-":
        print(text, end="")
        return
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(f"wrote {args.out}")


JOBS = (
    Job(
        "jars",
        "Resolve Delta Lake's jars from Maven Central into the local jar cache (setup does this once)",
        _no_arguments,
        run_jars,
        needs_spark=False,
    ),
    Job(
        "config", "Print the effective configuration after files, environment and flags, with every key", _no_arguments, run_config, needs_spark=False
    ),
    Job(
        "docs",
        "Write the data dictionary (gold tables' columns, meanings, units) from the schemas in code",
        _docs_arguments,
        run_docs,
        needs_spark=False,
    ),
)
