"""Commands delete only what they wrote: the report's folder and the generator's output (no Spark started here).

The commands themselves run against them in tests/spark/test_report.py and test_generator.py.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import cast

import pytest
from pyspark.sql import SparkSession

from ecomlake.config import Config
from ecomlake.errors import ConfigError
from ecomlake.generate import target
from ecomlake.manifest import write_manifest
from ecomlake.report import folder
from ecomlake.report.job import CHART_NAMES, write_report

DAY = dt.date(2019, 10, 1)
NO_SPARK = cast(SparkSession, object())  # a refusal must come before the report reads anything


def tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` with its text: what must survive a refusal."""
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def user_folder(root: Path) -> Path:
    """A folder of someone's own files, one of them named like a report's page."""
    (root / "sub").mkdir(parents=True)
    (root / "notes.txt").write_text("mine")
    (root / "sub" / "data.csv").write_text("a,b\n")
    (root / "report.html").write_text("<p>my own page</p>")
    return root


def earlier_report(root: Path, *charts: str, marked: bool = True) -> Path:
    root.mkdir(parents=True)
    files = [root / "report.html", *(root / f"{name}.png" for name in charts)]
    for path in files:
        path.write_text("old")
    if marked:
        folder.write_marker(root, files)
    return root


def test_report_refuses_a_folder_it_did_not_write_and_deletes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = user_folder(tmp_path / "home")
    before = tree(home)
    with pytest.raises(ConfigError) as refused:
        write_report(NO_SPARK, Config(), DAY, home)
    assert refused.value.exit_code == 2
    assert str(refused.value) == (
        f"report folder {home}: refused, it holds files a report did not write (notes.txt, sub), and a report "
        "replaces its whole folder; nothing was deleted; choose a new or empty folder for the report (e.g. --out reports/<date>)"
    )
    monkeypatch.chdir(home)
    with pytest.raises(ConfigError, match=f"report folder {home}: refused"):  # `--out .`: the working folder, by its name
        write_report(NO_SPARK, Config(), DAY, Path("."))
    # A marked report someone added a file to, a symbolic link to a report, a file: refused too.
    report = earlier_report(tmp_path / "report", "kpis")
    (report / "notes.txt").write_text("added later")
    (tmp_path / "link").symlink_to(earlier_report(tmp_path / "linked", "kpis"))
    (tmp_path / "file").write_text("a file")
    for out, reason in ((report, r"\(notes.txt\)"), (tmp_path / "link", "it is a symbolic link"), (tmp_path / "file", "is not a folder")):
        with pytest.raises(ConfigError, match=reason):
            write_report(NO_SPARK, Config(), DAY, out)
    assert tree(home) == before and (report / "notes.txt").read_text() == "added later" and (tmp_path / "linked" / "kpis.png").exists()


def test_a_new_report_replaces_an_earlier_one_whole_or_not_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def staged(name: str) -> Path:
        return earlier_report(tmp_path / name, "funnel")  # a finished report, as write_report stages it

    # An earlier report (models.png: a chart the new one has not), one from before the marker, an empty folder, none.
    for out in (earlier_report(tmp_path / "a", "models"), earlier_report(tmp_path / "b", "models", marked=False), tmp_path / "c", tmp_path / "d"):
        if out.name == "c":
            out.mkdir()
        folder.require_replaceable(out, CHART_NAMES)
        folder.replace(staged(f"staging-{out.name}"), out, CHART_NAMES)
        assert sorted(p.name for p in out.iterdir()) == [folder.MARKER, "funnel.png", "report.html"], out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "c", "d"]  # no staging or set-aside folder left
    # The swap fails: the earlier report is back in its place, whole.
    out = earlier_report(tmp_path / "e", "models")
    before = tree(out)
    rename = Path.rename

    def failing(self: Path, target: Path) -> Path:
        if self.name.startswith("staging"):
            raise OSError(28, "No space left on device")
        return rename(self, target)

    monkeypatch.setattr(Path, "rename", failing)
    with pytest.raises(OSError, match="No space left"):
        folder.replace(staged("staging-e"), out, CHART_NAMES)
    assert tree(out) == before and not [p for p in tmp_path.iterdir() if p.name.startswith(".e.")]


def test_generate_refuses_a_folder_that_is_not_empty_unless_forced(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    assert target.require_replaceable(str(landing), force=False) == []  # a new folder
    landing.mkdir()
    assert target.require_replaceable(str(landing), force=False) == []  # an empty one
    (landing / "event_date=2019-10-01").mkdir()
    (landing / "event_date=2019-10-01" / "delivery.csv").write_text("a real day\n")
    for output in (str(landing), f"file:{landing}", f"file://{landing}"):
        with pytest.raises(ConfigError) as refused:
            target.require_replaceable(output, force=False)
        assert str(refused.value).startswith(f"generator.output {output}: refused, it is not empty (1 entry: event_date=2019-10-01)")
        assert "nothing was deleted" in str(refused.value) and str(refused.value).endswith("or pass --force to replace what is there")
    assert (landing / "event_date=2019-10-01" / "delivery.csv").read_text() == "a real day\n"
    assert target.require_replaceable(str(landing), force=True) == ["event_date=2019-10-01"]  # what the run logs it replaces


def test_the_demo_replaces_only_a_sample_the_generator_wrote(tmp_path: Path) -> None:
    generated, delivered, sequences = tmp_path / "generated", tmp_path / "delivered", tmp_path / "sequences"
    write_manifest(str(generated), {"generator": {"events": 10}, "layout": "rees46"})
    delivered.mkdir()
    (delivered / "2019-Oct.csv").write_text("event_time,event_type\n")
    write_manifest(str(sequences), {"dataset": "sequences"})
    assert target.holds_generated_data(str(generated)) and target.holds_generated_data(f"file:{generated}")
    assert not target.holds_generated_data(str(delivered)) and not target.holds_generated_data(str(sequences))
    assert not target.holds_generated_data(str(tmp_path / "missing"))
