"""Every notebook in notebooks/ runs top to bottom, without Spark, on the lake the jobs wrote (all tables, 28 generated days)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from ecomlake.config import Config
from tests.conftest import REPO

pytestmark = pytest.mark.dl  # model_lake trains the LSTM

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


def test_every_notebook_runs_top_to_bottom(model_lake: Config, analyst_python: str, tmp_path: Path) -> None:
    assert [p.name for p in NOTEBOOKS] == [
        "01_funnel_and_kpis.ipynb",
        "02_user_segments.ipynb",
        "03_recommendations.ipynb",
        "04_propensity.ipynb",
        "05_lstm.ipynb",
    ]
    run = subprocess.run(
        [analyst_python, "-m", "ecomlake.analyst.notebooks", "--lake", model_lake.lake.root, "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},  # nothing of the Spark environment
        cwd=tmp_path,
    )
    print(run.stdout)
    assert run.returncode == 0, run.stderr[-5000:]
    for source in NOTEBOOKS:
        executed = json.loads((tmp_path / source.name).read_text())
        code = [c for c in executed["cells"] if c["cell_type"] == "code"]
        outputs = [o for c in code for o in c["outputs"]]
        assert all(c["execution_count"] for c in code), f"{source.name}: a cell did not run"
        assert not [o for o in outputs if o["output_type"] == "error"], source.name
        assert any("image/png" in o.get("data", {}) for o in outputs), f"{source.name}: no chart"


def test_notebooks_are_committed_without_outputs() -> None:
    """Outputs belong to a run on someone's lake, not to the repository."""
    for source in NOTEBOOKS:
        cells = json.loads(source.read_text())["cells"]
        assert not [c for c in cells if c["cell_type"] == "code" and (c["outputs"] or c["execution_count"])], source.name


def test_a_failing_cell_names_the_notebook(analyst_python: str, model_lake: Config, tmp_path: Path) -> None:
    broken = tmp_path / "broken.ipynb"
    notebook = json.loads(NOTEBOOKS[0].read_text())
    notebook["cells"].append(
        {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": "sql('SELECT * FROM gold_nope')"}
    )
    broken.write_text(json.dumps(notebook))
    run = subprocess.run(
        [analyst_python, "-m", "ecomlake.analyst.notebooks", "--lake", model_lake.lake.root, "--out", str(tmp_path / "out"), str(broken)],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert run.returncode == 1 and f"{broken}: a cell failed" in run.stderr and "gold_nope" in run.stderr
    assert (tmp_path / "out" / "broken.ipynb").exists()  # the executed copy shows where it stopped
