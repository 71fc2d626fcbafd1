"""``ecomlake docs``: write the data dictionary (every table's columns, meanings, units) from the catalog."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from ecomlake.config import Config
from ecomlake.dictionary import data_dictionary
from ecomlake.job import LocalJob


@dataclass(frozen=True)
class DocsParams:
    out: str = "docs/data_dictionary.md"  # - for stdout


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default=DocsParams.out, help="where to write it (default docs/data_dictionary.md; - for stdout)")


def run(config: Config, params: DocsParams) -> None:
    text = data_dictionary(config)
    if params.out == "-":
        print(text, end="")
        return
    Path(params.out).parent.mkdir(parents=True, exist_ok=True)
    Path(params.out).write_text(text)
    print(f"wrote {params.out}")


JOB = LocalJob("docs", "Write the data dictionary (every table's columns, meanings, units) from the table catalog", DocsParams, run, add_arguments)
