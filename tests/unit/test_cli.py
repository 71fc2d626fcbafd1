"""The CLI: help lists every job, config errors exit 2 naming the key, entry files are thin."""

from __future__ import annotations

import ast
import io
import logging
from pathlib import Path

import pytest

from ecomlake import jobs
from ecomlake.cli import main, setup_logging
from tests.support import REPO


def test_help_lists_every_job_with_a_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for name in jobs.JOB_MODULES:
        job = jobs.load(name)
        assert job.name == name and name in out and job.summary.split()[0] in out


def test_config_job_prints_effective_config(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["config", "--set", f"lake.root={tmp_path}", "--set", "generator.events=5000"]) == 0
    out = capsys.readouterr().out
    assert f"root: {tmp_path}" in out and "events: 5000" in out


def test_bad_config_exits_2_and_names_key_and_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    conf = tmp_path / "bad.yaml"
    conf.write_text("spark:\n  shuffle_partitions: many\n")
    assert main(["config", "--conf", str(conf)]) == 2
    err = capsys.readouterr().err
    assert f"{conf}: key 'spark.shuffle_partitions': expected an integer" in err


def test_missing_config_file_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "--conf", "/nowhere/conf.yaml"]) == 2
    assert "config file not found: /nowhere/conf.yaml" in capsys.readouterr().err


def test_job_flag_is_validated_like_yaml(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "--set", "generator.events=10"]) == 2
    assert "key 'generator.events': must be >= 100" in capsys.readouterr().err


def test_usage_error_exits_2() -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["no-such-job"])
    assert exit_info.value.code == 2


@pytest.mark.parametrize("argv", [["featurize"], ["featurize", "--date", "2019-10-01", "--full"], ["featurize", "--date", "1 Oct"]])
def test_featurize_needs_one_of_date_or_full(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2 and ("--date" in capsys.readouterr().err)


def test_docs_job_renders_the_data_dictionary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["docs", "--out", "-"]) == 0
    out = capsys.readouterr().out
    assert "### `gold.user_features`" in out and "| `recency_days` | int |" in out


@pytest.mark.parametrize("entry", sorted((REPO / "jobs").glob("*.py")), ids=lambda p: p.name)
def test_every_entry_file_is_a_thin_call_of_the_cli(entry: Path) -> None:
    tree = ast.parse(entry.read_text())
    assert len(entry.read_text().splitlines()) < 15
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "main"]
    assert calls and isinstance(calls[0].args[0], ast.List)
    assert ast.literal_eval(calls[0].args[0].elts[0]) in jobs.JOB_MODULES


def test_logs_go_to_the_stderr_of_the_moment(monkeypatch: pytest.MonkeyPatch) -> None:
    # A notebook or a test harness swaps sys.stderr (and may close the old one) after the CLI set logging up.
    setup_logging(quiet=False, verbose=False)
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr("sys.stderr", first)
    logging.getLogger("ecomlake.test").info("one")
    first.close()
    monkeypatch.setattr("sys.stderr", second)
    logging.getLogger("ecomlake.test").info("two")
    assert second.getvalue().endswith("INFO ecomlake.test: two\n")


def test_config_job_redacts_secret_spark_properties(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "--set", "spark.conf.spark.hadoop.fs.s3a.secret.key=hunter2", "--set", "spark.conf.spark.eventLog.dir=/logs"]) == 0
    out = capsys.readouterr().out
    assert "hunter2" not in out and "spark.hadoop.fs.s3a.secret.key: '*********(redacted)'" in out and "spark.eventLog.dir: /logs" in out
