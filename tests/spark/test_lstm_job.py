"""The sequence model end to end on the generated gold lake: sequences -> train-lstm with Horovod (horovod.spark.run)
and with TorchDistributor, 2 processes each -> test metrics beside the baselines -> score-lstm into Delta.

The runs are the shared session fixtures (tests/spark/conftest.py): lstm_trained builds the dataset for the labels'
cut-off day, so the test day has churn labels and the MLlib propensity model (logistic regression only, to stay
quick) scores the same users: the propensity baseline row exists; lstm_lake is that lake scored by score-lstm.
The model is small and trains 3 epochs; launcher mechanics (crash and resume, early stopping, horovodrun, row
checks) are tested on synthetic data in tests/dl.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import pickle
import re
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from ecomlake import artifacts, lake
from ecomlake.artifacts import ArtifactPathError, TamperedArtifactError
from ecomlake.catalog import LSTM_METRICS, LSTM_SCORES, MODEL_RUNS, SILVER_EVENTS
from ecomlake.config import Config
from ecomlake.errors import InputMissingError, NotDueError
from ecomlake.job import Context
from ecomlake.lstm import score_job
from ecomlake.lstm.evaluate import metrics_table
from ecomlake.lstm.train_job import CHECKPOINT_FILES, TrainParams, TrainResult, checkpoint_dir, run
from ecomlake.manifest import MANIFEST_DIR
from ecomlake.ml import registry
from ecomlake.ml.registry import ModelRun, latest_run, record_run, recorded_run
from ecomlake.sequences.job import SequencesResult
from ecomlake.vocabulary import NEXT_EVENT_CLASSES
from tests.support import GOLD_CUTOFF, GOLD_START, SMALL_LSTM, lake_config

pytestmark = pytest.mark.dl


@pytest.fixture(scope="module")
def trained(lstm_trained: dict[str, object]) -> dict[str, object]:
    """The shared LSTM runs (tests/spark/conftest.py): both launchers, 2 processes each, on the cut-off day's dataset."""
    return lstm_trained


def test_both_launchers_train_and_the_loss_goes_down(trained: dict[str, object]) -> None:
    cfg: Config = trained["cfg"]  # type: ignore[assignment]
    runs: dict[str, TrainResult] = trained["runs"]  # type: ignore[assignment]
    dataset: SequencesResult = trained["dataset"]  # type: ignore[assignment]
    for launcher, r in runs.items():
        t = r.training
        assert t["world_size"] == 2 and t["epochs_run"] == 3, launcher
        losses = [h["train_loss"] for h in t["history"]]
        assert losses[-1] < losses[0], f"{launcher}: train loss {losses}"
        assert min(h["val_loss"] for h in t["history"]) < t["history"][0]["val_loss"] or t["best_epoch"] == 1
        folder = Path(checkpoint_dir(cfg.lake.root, r.model_version))
        assert {"last.pt", "best.pt", "epoch-001.pt", "epoch-003.pt"} <= {p.name for p in folder.iterdir()}, launcher
        assert (r.run_date, r.launcher, r.dataset_version) == (GOLD_CUTOFF, launcher, dataset.version)
        assert r.train_rows == r.rows_in == dataset.manifest["splits"]["train"]["rows"] and r.train_seconds > 0
        assert r.summary().startswith(f"train-lstm {GOLD_CUTOFF}: {r.model_version} on {dataset.version}, {launcher} x 2 (cpu), 3 epochs")
    assert runs["horovod"].model_version != runs["torch_distributor"].model_version  # the launcher is part of the config hashed
    # The same data, seed and model: the launchers agree (they shard and reduce the same way).
    h, d = (runs[k].evaluation.by_model()["lstm"] for k in ("horovod", "torch_distributor"))
    assert abs(h.next_event_macro_f1 - d.next_event_macro_f1) < 0.05 and abs(h.next_event_accuracy - d.next_event_accuracy) < 0.03
    assert abs(h.purchase_roc_auc - d.purchase_roc_auc) < 0.05


def test_lstm_beats_the_baselines_and_metrics_are_recorded(spark: SparkSession, trained: dict[str, object]) -> None:
    cfg: Config = trained["cfg"]  # type: ignore[assignment]
    runs: dict[str, TrainResult] = trained["runs"]  # type: ignore[assignment]
    r = runs["torch_distributor"]
    m = r.evaluation.by_model()
    print(f"\n{metrics_table(r.evaluation)}")
    assert set(m) == {"lstm", "most_frequent", "last_event", "propensity"}
    assert m["lstm"].next_event_macro_f1 > m["most_frequent"].next_event_macro_f1 + 0.05
    assert m["lstm"].purchase_roc_auc > 0.75 and m["lstm"].churn_roc_auc > 0.6
    assert m["most_frequent"].purchase_roc_auc == 0.5 and m["propensity"].churn_rows > 100
    assert m["lstm"].test_rows == trained["dataset"].manifest["splits"]["test"]["rows"]  # type: ignore[attr-defined]
    assert r.figures() == {
        "next_event_accuracy": m["lstm"].next_event_accuracy,
        "next_event_macro_f1": m["lstm"].next_event_macro_f1,
        "train_seconds": r.train_seconds,
    }
    lines = metrics_table(r.evaluation).splitlines()
    assert [line.split()[0] for line in lines[1:5]] == ["lstm", "most_frequent", "last_event", "propensity"]
    assert lines[-1].startswith("    lstm churn ROC-AUC on the propensity rows' users: ")
    table = lake.read(spark, cfg, LSTM_METRICS)
    assert table.columns == LSTM_METRICS.schema().names
    assert table.count() == 8 and table.where(F.col("model") == "lstm").select("launcher").distinct().count() == 2
    row = table.where((F.col("model") == "lstm") & (F.col("model_version") == r.model_version)).first()
    assert row.launcher == "torch_distributor" and row.processes == 2 and row.epochs_run == 3 and row.samples_per_second > 0
    assert row.dataset_version == r.dataset_version and row.next_event_macro_f1 == pytest.approx(m["lstm"].next_event_macro_f1)
    run_ = latest_run(spark, cfg, "lstm", GOLD_CUTOFF)
    assert run_.version == r.model_version and run_.metrics["next_event_macro_f1"] == pytest.approx(m["lstm"].next_event_macro_f1)
    assert run_.params["checkpoint"] == f"{checkpoint_dir(cfg.lake.root, r.model_version)}/best.pt"
    assert run_.params["dataset_path"] == trained["dataset"].path  # type: ignore[attr-defined]


def test_score_lstm_writes_a_row_per_recent_user(spark: SparkSession, lstm_lake: Config, trained: dict[str, object]) -> None:
    cfg = lstm_lake
    scores = lake.read(spark, cfg, LSTM_SCORES, {"run_date": GOLD_CUTOFF})
    assert scores.columns == LSTM_SCORES.schema().names
    first_day = GOLD_CUTOFF - dt.timedelta(days=cfg.sequences.lookback_days - 1)
    users = (
        lake.read(spark, cfg, SILVER_EVENTS)
        .where(~F.col("is_bot") & F.col("event_date").between(first_day, GOLD_CUTOFF))
        .select("user_id")
        .distinct()
        .count()
    )
    # Scored with the newest model trained on or before the day: the second launcher's run.
    newest = latest_run(spark, cfg, "lstm", GOLD_CUTOFF).version
    assert newest == trained["runs"]["torch_distributor"].model_version  # type: ignore[index]
    assert scores.count() == users and [tuple(r) for r in scores.select("model_version").distinct().collect()] == [(newest,)]
    assert scores.select("user_id").distinct().count() == users
    p = ["p_next_view", "p_next_cart", "p_next_remove_from_cart", "p_next_purchase", "p_exit"]
    total = F.col(p[0]) + F.col(p[1]) + F.col(p[2]) + F.col(p[3]) + F.col(p[4])
    assert scores.where(F.abs(total - 1) > 1e-4).count() == 0
    assert scores.where(~F.col("purchase_probability").between(0, 1) | ~F.col("churn_probability").between(0, 1)).count() == 0
    assert scores.where((F.col("sequence_events") < 1) | (F.col("sequence_events") > cfg.sequences.length)).count() == 0
    # The predicted next event is the most likely class.
    best = F.array_position(F.array(*p), F.array_max(F.array(*p))).cast("int")
    classes = F.array(*[F.lit(c) for c in NEXT_EVENT_CLASSES])
    assert scores.where(F.element_at(classes, best) != F.col("predicted_next_event")).count() == 0
    # A user's sequence ends at their newest event of the window.
    newest_event = lake.read(spark, cfg, SILVER_EVENTS).where(~F.col("is_bot") & (F.col("event_date") <= GOLD_CUTOFF))
    newest_event = newest_event.groupBy("user_id").agg(F.max("event_time").alias("newest"))
    assert scores.join(newest_event, "user_id").where(F.col("newest") != F.col("last_event_time")).count() == 0


def test_score_lstm_needs_a_trained_model(spark: SparkSession, lstm_lake: Config) -> None:
    before = GOLD_CUTOFF - dt.timedelta(days=1)  # a model could have been trained by then: missing
    table = re.escape(MODEL_RUNS.qualified_name(lstm_lake.lake))
    with pytest.raises(
        InputMissingError,
        match=rf"^no lstm model trained on or before {before} in {table}; run `ecomlake train-lstm --date D` \(D <= {before}\) first$",
    ) as missing:
        score_job.run(Context(spark, lstm_lake), score_job.ScoreParams(before))
    assert not isinstance(missing.value, NotDueError)
    # On the lake's first day no dataset, hence no model, can exist yet: not due.
    with pytest.raises(
        NotDueError, match=rf"^score-lstm {GOLD_START}: not due yet, no lstm model can exist on or before {GOLD_START}: its train days"
    ):
        score_job.run(Context(spark, lstm_lake), score_job.ScoreParams(GOLD_START))


def test_score_lstm_names_a_recorded_models_missing_dataset_or_checkpoint(spark: SparkSession, trained: dict[str, object], tmp_path: Path) -> None:
    """A model in ml.model_runs whose files are gone fails with InputMissingError naming them (in a lake of its own)."""
    dataset: SequencesResult = trained["dataset"]  # type: ignore[assignment]
    cfg = lake_config(trained["cfg"], tmp_path)  # type: ignore[arg-type]
    ctx = Context(spark, cfg)

    def record(**params: str) -> None:
        record_run(spark, cfg, "lstm", f"{GOLD_CUTOFF:%Y%m%d}-00000000", GOLD_CUTOFF, ctx.run_id, 0, params, {})

    record(dataset_path=f"{tmp_path}/gone", checkpoint=f"{tmp_path}/best.pt")
    with pytest.raises(InputMissingError, match=rf"^no manifest at {re.escape(str(tmp_path))}/gone/.*run `ecomlake sequences` to write it$") as e:
        score_job.run(ctx, score_job.ScoreParams(GOLD_CUTOFF))
    assert not isinstance(e.value, NotDueError)
    record(dataset_path=dataset.path, checkpoint=f"{tmp_path}/best.pt")  # the same version: replaces the row
    with pytest.raises(
        InputMissingError,
        match=rf"^no checkpoint at {re.escape(str(tmp_path))}/best.pt for lstm model {GOLD_CUTOFF:%Y%m%d}-00000000; "
        rf"re-run `ecomlake train-lstm --date {GOLD_CUTOFF}` to write it$",
    ) as e:
        score_job.run(ctx, score_job.ScoreParams(GOLD_CUTOFF))
    assert not isinstance(e.value, NotDueError)


def test_training_needs_a_dataset(spark: SparkSession, trained: dict[str, object]) -> None:
    cfg: Config = trained["cfg"]  # type: ignore[assignment]
    early = GOLD_CUTOFF - dt.timedelta(days=1)  # sequences was due (the lake began on GOLD_START): missing
    table = re.escape(MODEL_RUNS.qualified_name(cfg.lake))
    with pytest.raises(
        InputMissingError,
        match=rf"^no sequences model trained on or before {early} in {table}; run `ecomlake sequences --date D` \(D <= {early}\) first$",
    ) as missing:
        run(Context(spark, cfg), TrainParams(early))
    assert not isinstance(missing.value, NotDueError)
    # On the lake's first day sequences is not due, so no dataset can exist yet: not due either.
    with pytest.raises(
        NotDueError, match=rf"^train-lstm {GOLD_START}: not due yet, no sequences dataset can exist on or before {GOLD_START}: its train days end on "
    ):
        run(Context(spark, cfg), TrainParams(GOLD_START))


# ---- the files each run reads and loads: recorded, and checked before anything opens them -------------


def _rebased(spark: SparkSession, trained: dict[str, object], root: Path) -> tuple[Config, ModelRun, ModelRun]:
    """A lake of its own at ``root`` whose ml.model_runs holds the shared dataset's and torch_distributor model's rows,
    re-recorded to point into its own models folder (the tests copy there the files they need); (config, dataset, model)."""
    cfg: Config = trained["cfg"]  # type: ignore[assignment]
    dataset: SequencesResult = trained["dataset"]  # type: ignore[assignment]
    version = trained["runs"]["torch_distributor"].model_version  # type: ignore[index]
    seq, lstm = recorded_run(spark, cfg, "sequences", dataset.version), recorded_run(spark, cfg, "lstm", version)
    assert seq is not None and lstm is not None
    own = lake_config(cfg, root, *SMALL_LSTM)
    record_run(spark, own, "sequences", seq.version, seq.run_date, str(seq.run_id), 0, seq.params, {}, seq.files)
    folder = registry.artifact_path(own, "lstm", lstm.version)
    moved = {"dataset_path": registry.artifact_path(own, "sequences", seq.version), "checkpoint": f"{folder}/checkpoints/best.pt"}
    record_run(spark, own, "lstm", lstm.version, lstm.run_date, str(lstm.run_id), 0, lstm.params | moved, {}, lstm.files)
    return own, seq, lstm


def test_the_runs_record_the_sha256_of_what_they_wrote(spark: SparkSession, trained: dict[str, object]) -> None:
    cfg: Config = trained["cfg"]  # type: ignore[assignment]
    dataset: SequencesResult = trained["dataset"]  # type: ignore[assignment]
    seq = recorded_run(spark, cfg, "sequences", dataset.version)
    assert seq is not None and list(seq.files) == artifacts.scan(dataset.path)  # read by train-lstm and score-lstm only after a check
    for r in trained["runs"].values():  # type: ignore[attr-defined]
        lstm = recorded_run(spark, cfg, "lstm", r.model_version)
        assert lstm is not None and [f.path for f in lstm.files] == list(CHECKPOINT_FILES)
        folder = Path(lstm.artifact_path)
        assert [f.sha256 for f in lstm.files] == [hashlib.sha256((folder / f.path).read_bytes()).hexdigest() for f in lstm.files]
        assert lstm.params["checkpoint"] == f"{lstm.artifact_path}/{CHECKPOINT_FILES[0]}"


def test_train_lstm_refuses_a_dataset_holding_a_file_sequences_did_not_write(spark: SparkSession, trained: dict[str, object], tmp_path: Path) -> None:
    """A pickle in a planted _common_metadata (creating a marker file when unpickled): refused on the driver, never unpickled."""
    own, seq, _ = _rebased(spark, trained, tmp_path / "lake")
    copy = Path(registry.artifact_path(own, "sequences", seq.version))
    shutil.copytree(trained["dataset"].path, copy)  # type: ignore[attr-defined]
    marker = tmp_path / "marker"
    payload = pickle.dumps(_Payload(marker), protocol=2)
    pq.write_metadata(pa.schema([("user_id", pa.int64())], metadata={b"dataset-toolkit.unischema.v1": payload}), copy / "train" / "_common_metadata")
    with pytest.raises(
        TamperedArtifactError,
        match=rf"^sequences {seq.version} \(run {seq.run_id}\) at {re.escape(str(copy))}: train/_common_metadata is not among the files recorded "
        rf"in .*; refusing to read it .* Re-run `ecomlake sequences --date {GOLD_CUTOFF}` to write it again\.$",
    ):
        run(Context(spark, own), TrainParams(GOLD_CUTOFF))
    assert not marker.exists() and not Path(checkpoint_dir(own.lake.root, "x")).parent.parent.exists()  # nothing unpickled, nothing trained


def test_score_lstm_refuses_a_changed_checkpoint_or_a_dataset_outside_the_lake(
    spark: SparkSession, trained: dict[str, object], tmp_path: Path
) -> None:
    own, seq, lstm = _rebased(spark, trained, tmp_path / "lake")
    dataset = Path(registry.artifact_path(own, "sequences", seq.version))
    for part in (MANIFEST_DIR, "vocab"):  # all that scoring reads of the dataset, so all it checks
        shutil.copytree(Path(trained["dataset"].path, part), dataset / part)  # type: ignore[attr-defined]
    best = Path(registry.artifact_path(own, "lstm", lstm.version), CHECKPOINT_FILES[0])
    best.parent.mkdir(parents=True)
    data = Path(lstm.artifact_path, CHECKPOINT_FILES[0]).read_bytes()
    best.write_bytes(data[:200] + bytes([data[200] ^ 1]) + data[201:])  # one byte of the weights
    ctx = Context(spark, own)
    with pytest.raises(
        TamperedArtifactError,
        match=rf"^lstm {lstm.version} \(run {lstm.run_id}\): {re.escape(str(best))} has sha256 [0-9a-f]{{16}}\.\.\. \({len(data):,} bytes\) but .* "
        rf"recorded in ml.model_runs: it changed after it was written; refusing to load it\. Re-run `ecomlake train-lstm --date {GOLD_CUTOFF}`",
    ):
        score_job.run(ctx, score_job.ScoreParams(GOLD_CUTOFF))
    shared = trained["dataset"].path  # type: ignore[attr-defined]
    record_run(spark, own, "lstm", lstm.version, lstm.run_date, "edited", 0, lstm.params | {"checkpoint": str(best)}, {}, lstm.files)
    with pytest.raises(ArtifactPathError, match=rf"^sequences {seq.version} .*: the recorded path {re.escape(shared)} is not inside "):
        score_job.run(ctx, score_job.ScoreParams(GOLD_CUTOFF))  # the model's row points at the shared lake's dataset
    assert not lake.exists(spark, own.lake, LSTM_SCORES)


class _Payload:
    """Unpickles to ``eval(<create the marker file>)``: what petastorm's restricted unpickler would run (see tests/dl/test_dataset_files.py)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, ...]:
        import builtins

        return (builtins.eval, (f"__import__('pathlib').Path({str(self.marker)!r}).write_text('unpickled')",))
