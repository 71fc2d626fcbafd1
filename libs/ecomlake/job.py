"""What a job is: a name, a one-line summary, its own flags, and a run function.

Every job has one skeleton, driven by :mod:`ecomlake.cli`: parse args -> load and validate config
-> build session -> ``run`` (extract -> transforms -> load -> record the run).
A flag whose ``dest`` is a dotted config key (``generator.events``) overrides that key, so flags
are validated like YAML.
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyspark.sql import SparkSession

from ecomlake.config import Config


@dataclass(frozen=True)
class Job:
    name: str
    summary: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[SparkSession | None, Config, argparse.Namespace], Any]
    needs_spark: bool = True


def config_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The flags given on the command line that override config keys (dest contains a dot)."""
    return {key: value for key, value in vars(args).items() if "." in key and value is not None}


def iso_date(text: str) -> dt.date:
    """argparse type for YYYY-MM-DD dates."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from exc
