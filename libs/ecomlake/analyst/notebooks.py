"""Run the analysts' notebooks (``notebooks/*.ipynb``) top to bottom against a lake, and keep the executed copies.

Runs in the analysts' environment (``scripts/setup_analyst.sh``: DuckDB on the Delta tables, matplotlib,
nbclient, ipykernel); the notebooks need no Spark. Each notebook reads the lake named by the
``ECOMLAKE_LAKE_ROOT`` environment variable, which this sets. CI runs every notebook this way on the test
suite's lake and fails on any cell's error.

    python -m ecomlake.analyst.notebooks --lake lake --out /tmp/executed        # all of them
    python -m ecomlake.analyst.notebooks --lake lake notebooks/01_funnel_and_kpis.ipynb
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

NOTEBOOKS = Path(__file__).resolve().parents[3] / "notebooks"  # the clone's notebooks/ (libs/ecomlake/analyst/ -> repo)
CELL_TIMEOUT_SECONDS = 600
ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")  # IPython colours its tracebacks; a log wants plain text


class NotebookFailed(Exception):
    """A cell raised: names the notebook and the cell, with the cell's error."""


def run_notebook(path: Path, lake_root: str, out_dir: Path) -> tuple[Path, float]:
    """Execute one notebook in its own folder with ECOMLAKE_LAKE_ROOT=lake_root; write the executed copy to out_dir.

    Returns the executed copy and the seconds taken.
    """
    notebook = nbformat.read(path, as_version=4)
    os.environ["ECOMLAKE_LAKE_ROOT"] = str(Path(lake_root).resolve())  # the kernel inherits this process's environment
    client = NotebookClient(notebook, timeout=CELL_TIMEOUT_SECONDS, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    t0 = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    executed = out_dir / path.name
    try:
        client.execute()
    except CellExecutionError as exc:
        raise NotebookFailed(f"{path}: a cell failed:\n{ANSI_COLOUR.sub('', str(exc))}") from exc
    finally:
        nbformat.write(notebook, executed)  # also when a cell failed: the copy shows where
    return executed, time.perf_counter() - t0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ecomlake.analyst.notebooks", description="Run the analysts' notebooks against a lake")
    parser.add_argument("notebooks", nargs="*", type=Path, help=f"notebooks to run (default: every notebook in {NOTEBOOKS})")
    parser.add_argument("--lake", required=True, help="the lake root the notebooks read")
    parser.add_argument("--out", type=Path, default=Path("executed_notebooks"), help="folder for the executed copies (default ./executed_notebooks)")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(NOTEBOOKS.glob("*.ipynb"))
    if not paths:
        print(f"ecomlake notebooks: error: no notebooks found in {NOTEBOOKS}", file=sys.stderr)
        return 2
    for path in paths:
        try:
            executed, seconds = run_notebook(path, args.lake, args.out)
        except NotebookFailed as exc:
            print(f"ecomlake notebooks: error: {exc}", file=sys.stderr)
            return 1
        print(f"notebook {path.name}: ran in {seconds:.1f} s -> {executed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
