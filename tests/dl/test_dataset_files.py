"""A sequences dataset is read only as `ecomlake sequences` wrote it: a planted file is refused before anything unpickles it.

The payload is a pickle that petastorm 0.12.1's restricted unpickler accepts (``builtins.eval``) and whose only effect
is to create a marker file. The control test shows that petastorm runs it when it opens the split; every other test
plants it in a copy of the shared synthetic dataset and must be refused with the marker still absent.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import shutil
import time
import warnings
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ecomlake import artifacts
from ecomlake.artifacts import TamperedArtifactError, Verified
from ecomlake.config import LstmConfig
from ecomlake.lstm.model import COLUMNS
from ecomlake.lstm.readers import check_split_folder, open_batches
from ecomlake.lstm.train import TrainSpec, train_worker

pytestmark = pytest.mark.dl

SMALL = LstmConfig(reader="petastorm", event_embedding=4, item_embedding=8, category_embedding=4, hidden_size=16, batch_size=64, epochs=1, seed=3)
UNISCHEMA_KEY = b"dataset-toolkit.unischema.v1"  # where petastorm looks for its pickled schema in _common_metadata


class _Payload:
    """Unpickles to ``eval(<create the marker file>)``: harmless, and observable."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        import builtins

        return (builtins.eval, (f"__import__('pathlib').Path({str(self.marker)!r}).write_text('unpickled')",))


def plant(split_dir: Path, marker: Path) -> Path:
    """A ``_common_metadata`` file in ``split_dir`` whose unischema entry is the payload; its path."""
    schema = pa.schema([("user_id", pa.int64())], metadata={UNISCHEMA_KEY: pickle.dumps(_Payload(marker), protocol=2)})
    target = split_dir / "_common_metadata"
    pq.write_metadata(schema, target)
    return target


@pytest.fixture
def dataset(sequences_dir: Path, tmp_path: Path) -> Path:
    """A copy of the shared synthetic dataset (a few hundred KB): the tests plant files in it."""
    return Path(shutil.copytree(sequences_dir, tmp_path / "data"))


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "marker"


def test_control_petastorm_runs_the_payload_of_a_planted_common_metadata(dataset: Path, marker: Path) -> None:
    """Without the checks, opening the split is enough: the payload ran (so the tests below would see it if it ran)."""
    from petastorm import make_batch_reader

    plant(dataset / "train", marker)
    with warnings.catch_warnings(), contextlib.suppress(Exception):  # the payload returns no schema: petastorm fails after running it
        warnings.simplefilter("ignore")
        reader = make_batch_reader(f"file://{dataset / 'train'}", workers_count=1)
        reader.stop()
        reader.join()
    assert marker.read_text() == "unpickled"


@pytest.mark.parametrize("kind", ["petastorm", "pyarrow", "memory"])
def test_every_reader_refuses_a_split_with_a_planted_common_metadata(dataset: Path, marker: Path, kind: str) -> None:
    plant(dataset / "train", marker)
    with pytest.raises(TamperedArtifactError, match=r"train: _common_metadata is not a file `ecomlake sequences` writes.*sequences --date"):
        open_batches(kind, dataset / "train", COLUMNS, 64, 0, 1, seed=1, epoch=1)
    assert not marker.exists()


def test_only_what_spark_writes_may_be_in_a_split(dataset: Path) -> None:
    check_split_folder(dataset / "train")  # Parquet files, _SUCCESS, .crc: the synthetic writer leaves what Spark leaves
    for name in ("_metadata", "notes.txt", ".hidden"):
        (dataset / "train" / name).write_bytes(b"x")
        with pytest.raises(TamperedArtifactError, match=rf"train: {name} is not a file"):
            check_split_folder(dataset / "train")
        (dataset / "train" / name).unlink()
    (dataset / "train" / "sub").mkdir()
    with pytest.raises(TamperedArtifactError, match=r"train: sub is not a file"):
        check_split_folder(dataset / "train")


def test_a_worker_refuses_a_file_added_after_the_dataset_was_checked(dataset: Path, marker: Path, tmp_path: Path) -> None:
    """The spec carries the files as the launching process saw them; the worker compares the folder with them first."""
    spec = TrainSpec.create(dataset, SMALL, tmp_path / "ckpt")
    assert spec.files is not None and "train/_SUCCESS" in {f.path for f in spec.files.files}
    plant(dataset / "train", marker)
    with pytest.raises(TamperedArtifactError, match=r"train/_common_metadata is not among the files checked when the run started"):
        train_worker(spec, "horovod")
    assert not marker.exists() and not (tmp_path / "ckpt" / "last.pt").exists()


def test_verified_files_refuse_an_added_removed_or_changed_file(dataset: Path, marker: Path, capsys: pytest.CaptureFixture[str]) -> None:
    start = time.perf_counter()
    records = artifacts.scan(str(dataset))
    scanned = time.perf_counter() - start
    start = time.perf_counter()
    verified = Verified(str(dataset), tuple(artifacts.verify(str(dataset), records, what="the dataset", recover="Rebuild it.")), "the dataset", "")
    checked = time.perf_counter() - start
    start = time.perf_counter()
    verified.check()
    stats = time.perf_counter() - start
    size = sum(r.bytes for r in records) / 1e6
    with capsys.disabled():
        print(f"\nsynthetic dataset, {len(records)} files, {size:.2f} MB: scan {scanned:.3f} s, verify {checked:.3f} s, stat check {stats:.4f} s")
    assert {r.path for r in records} >= {"_manifest/part-00000.txt", "train/_SUCCESS", "test/._SUCCESS.crc"}

    planted = plant(dataset / "validation", marker)
    for check in (lambda: artifacts.verify(str(dataset), records, what="the dataset", recover="Rebuild it."), verified.check):
        with pytest.raises(TamperedArtifactError, match=r"validation/_common_metadata (is )?not among the files"):
            check()
    verified.check(dataset / "train")  # a check of one split looks at that split only
    planted.unlink()

    data = sorted((dataset / "train").glob("part-*.parquet"))[0]
    original = data.read_bytes()
    data.write_bytes(bytes([original[0] ^ 1]) + original[1:])  # one byte, the same size
    with pytest.raises(TamperedArtifactError, match=rf"train/{data.name} has sha256 [0-9a-f]{{16}}\.\.\. but [0-9a-f]{{16}}\.\.\. was written"):
        artifacts.verify(str(dataset), records, what="the dataset", recover="Rebuild it.")
    os.utime(data, ns=(0, 0))  # a rewrite shows in the modification time, which the workers' check compares
    with pytest.raises(TamperedArtifactError, match=rf"train/{data.name} changed after it was checked"):
        verified.check()
    data.unlink()
    with pytest.raises(TamperedArtifactError, match=rf"train/{data.name} is missing \(the files recorded in ml.model_runs\)"):
        artifacts.verify(str(dataset), records, what="the dataset", recover="Rebuild it.")
    assert not marker.exists()
