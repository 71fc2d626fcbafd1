"""Every notebook in notebooks/ runs top to bottom, without Spark, on a lake the jobs wrote (28 generated days).

Notebooks 01-04 read model_lake (every table but the LSTM's); 05_lstm reads the LSTM's lake (``dl``). 04_propensity
runs on both: model_lake scored the last day, which has no labels yet (the calibration says so), while the LSTM's
lake scored the cut-off day, whose labels exist (the calibration is drawn).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from ecomlake.config import Config
from tests.support import REPO

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
MODEL_NOTEBOOKS = [p for p in NOTEBOOKS if p.name != "05_lstm.ipynb"]
LSTM_NOTEBOOK = REPO / "notebooks" / "05_lstm.ipynb"
PROPENSITY_NOTEBOOK = REPO / "notebooks" / "04_propensity.ipynb"
NO_LABELS = "no scored users with labels yet"


def run_notebooks(python: str, root: str, out: Path, *notebooks: Path) -> subprocess.CompletedProcess[str]:
    """``python -m ecomlake.analyst.notebooks`` in the analysts' environment, nothing of the Spark one."""
    return subprocess.run(
        [python, "-m", "ecomlake.analyst.notebooks", "--lake", root, "--out", str(out), *map(str, notebooks)],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(out.parent)},
        cwd=out.parent,
    )


def assert_ran_with_charts(out: Path, *notebooks: Path) -> list[dict]:
    """Each notebook's executed copy: every code cell ran, none raised, at least one chart. Returns the copies."""
    executed_copies = []
    for source in notebooks:
        executed = json.loads((out / source.name).read_text())
        code = [c for c in executed["cells"] if c["cell_type"] == "code"]
        outputs = [o for c in code for o in c["outputs"]]
        assert all(c["execution_count"] for c in code), f"{source.name}: a cell did not run"
        assert not [o for o in outputs if o["output_type"] == "error"], source.name
        assert any("image/png" in o.get("data", {}) for o in outputs), f"{source.name}: no chart"
        executed_copies.append(executed)
    return executed_copies


def cell_output(executed: dict, starts_with: str) -> tuple[str, bool]:
    """The printed and displayed text of the code cell whose source starts with ``starts_with``, and whether it drew a chart."""
    (cell,) = [c for c in executed["cells"] if c["cell_type"] == "code" and "".join(c["source"]).startswith(starts_with)]
    text = "".join("".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", "")) for o in cell["outputs"])
    return text, any("image/png" in o.get("data", {}) for o in cell["outputs"])


def test_the_notebooks_are_the_five_analyses() -> None:
    assert [p.name for p in NOTEBOOKS] == [
        "01_funnel_and_kpis.ipynb",
        "02_user_segments.ipynb",
        "03_recommendations.ipynb",
        "04_propensity.ipynb",
        "05_lstm.ipynb",
    ]


def test_notebooks_01_to_04_run_top_to_bottom_on_the_lake_without_the_lstm(model_lake: Config, analyst_python: str, tmp_path: Path) -> None:
    out = tmp_path / "executed"
    run = run_notebooks(analyst_python, model_lake.lake.root, out, *MODEL_NOTEBOOKS)
    print(run.stdout)
    assert run.returncode == 0, run.stderr[-5000:]
    assert [line.split()[1].rstrip(":") for line in run.stdout.splitlines() if line.startswith("notebook ")] == [p.name for p in MODEL_NOTEBOOKS]
    executed = dict(zip(MODEL_NOTEBOOKS, assert_ran_with_charts(out, *MODEL_NOTEBOOKS), strict=True))
    assert not (out / LSTM_NOTEBOOK.name).exists()
    # The propensity scores are of the last day, whose labels are not in yet: the calibration says so instead of drawing.
    calibration, drawn = cell_output(executed[PROPENSITY_NOTEBOOK], "scored = sql(")
    assert NO_LABELS in calibration and not drawn


@pytest.mark.dl  # lstm_lake trains the LSTM
def test_the_lstm_and_propensity_notebooks_run_top_to_bottom_on_the_lstm_lake(lstm_lake: Config, analyst_python: str, tmp_path: Path) -> None:
    out = tmp_path / "executed"
    run = run_notebooks(analyst_python, lstm_lake.lake.root, out, PROPENSITY_NOTEBOOK, LSTM_NOTEBOOK)
    print(run.stdout)
    assert run.returncode == 0, run.stderr[-5000:]
    propensity, lstm = assert_ran_with_charts(out, PROPENSITY_NOTEBOOK, LSTM_NOTEBOOK)
    comparison, _ = cell_output(lstm, "both = sql(")
    assert "LSTM ROC-AUC" in comparison and "MLlib ROC-AUC (same users)" in comparison  # the comparison with the churn baseline ran
    # The churn baseline scored the cut-off day, whose labels exist: calibration and outcome by decile are drawn and shown.
    calibration, drawn = cell_output(propensity, "scored = sql(")
    assert drawn and NO_LABELS not in calibration and "predicted" in calibration
    by_decile, _ = cell_output(propensity, "by_decile = None")
    assert "observed_rate" in by_decile and "lift" in by_decile


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
    run = run_notebooks(analyst_python, model_lake.lake.root, tmp_path / "out", broken)
    assert run.returncode == 1 and f"{broken}: a cell failed" in run.stderr and "gold_nope" in run.stderr
    assert (tmp_path / "out" / "broken.ipynb").exists()  # the executed copy shows where it stopped
