"""Readers: every row exactly once across shards, petastorm and pyarrow agree shard by shard, and the row checks."""

from __future__ import annotations

import collections
import pickle
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ecomlake.errors import ConfigError, DataQualityError
from ecomlake.lstm.model import COLUMNS
from ecomlake.lstm.readers import (
    EmptyShardError,
    RowShortfallError,
    check_delivered,
    expected_rows,
    open_batches,
    row_groups,
    rows_per_shard,
)
from ecomlake.sequences.synthetic import synthetic_split, write_split

pytestmark = pytest.mark.dl

COLS = (*COLUMNS, "user_id")
SPARK_SCHEMA = (
    "user_id long, anchor_time timestamp, anchor_date date, length int, event_types array<int>, items array<int>, "
    "categories array<int>, prices array<float>, gaps array<float>, next_event int, purchase_label int, churn_label int"
)


def _read(kind: str, split_dir: Path, shard: int, shards: int, batch_size: int = 64, epoch: int = 1) -> list[dict]:
    return list(open_batches(kind, split_dir, COLS, batch_size, shard, shards, seed=42, epoch=epoch))


def _ids(batches: list[dict]) -> list[int]:
    return [int(x) for b in batches for x in np.asarray(b["user_id"])]


@pytest.fixture(scope="module")
def uneven_split(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 files x 3 row groups of different sizes: 9 row groups, so 2 shards get 5 and 4 (file order != row-group order)."""
    split = tmp_path_factory.mktemp("uneven") / "train"
    write_split(synthetic_split(1_000, 6, seed=3), split, files=3, row_groups_per_file=3)
    return split


@pytest.mark.parametrize("kind", ["petastorm", "pyarrow", "memory"])
def test_every_row_is_delivered_exactly_once_across_two_shards(sequences_dir: Path, kind: str) -> None:
    split = sequences_dir / "train"
    shards = [_read(kind, split, s, 2) for s in (0, 1)]
    ids = [_ids(b) for b in shards]
    assert len(ids[0]) == expected_rows(split, 0, 2) and len(ids[1]) == expected_rows(split, 1, 2)
    everything = ids[0] + ids[1]
    assert len(everything) == len(set(everything)) == 2_400
    assert set(everything) == set(pq.read_table(split, columns=["user_id"]).column("user_id").to_pylist())
    for batches in shards:
        assert all(len(b["next_event"]) == 64 for b in batches[:-1]) and 0 < len(batches[-1]["next_event"]) <= 64
        assert batches[0]["items"].shape == (64, 12) and set(batches[0]) == set(COLS)  # only the asked-for columns


@pytest.mark.parametrize("shards", [2, 3])
def test_petastorm_and_pyarrow_give_each_shard_the_same_rows(uneven_split: Path, shards: int) -> None:
    groups = row_groups(uneven_split)
    assert len(groups) == 9 and len({g.rows for g in groups}) > 1
    for shard in range(shards):
        by_petastorm = _ids(_read("petastorm", uneven_split, shard, shards))
        by_pyarrow = _ids(_read("pyarrow", uneven_split, shard, shards))
        assert sorted(by_petastorm) == sorted(by_pyarrow)
        assert len(by_pyarrow) == expected_rows(uneven_split, shard, shards) == sum(g.rows for g in groups[shard::shards])
    assert rows_per_shard(uneven_split, shards) == [expected_rows(uneven_split, s, shards) for s in range(shards)]


def test_the_order_changes_with_the_epoch_the_rows_do_not(uneven_split: Path) -> None:
    for kind in ("petastorm", "pyarrow"):
        one, two = _ids(_read(kind, uneven_split, 0, 2, epoch=1)), _ids(_read(kind, uneven_split, 0, 2, epoch=2))
        assert one != two and sorted(one) == sorted(two)
        assert _ids(_read(kind, uneven_split, 0, 2, epoch=1)) == one  # seeded: the same epoch reads the same order
    unshuffled = list(open_batches("pyarrow", uneven_split, ("user_id",), 1_000, 0, 1, seed=1, epoch=1, shuffle=False))
    assert _ids(unshuffled) == pq.read_table(sorted(uneven_split.glob("part-*")), columns=["user_id"]).column("user_id").to_pylist()


def test_a_wrong_row_count_raises_row_shortfall_naming_split_shard_and_counts(uneven_split: Path) -> None:
    expected = expected_rows(uneven_split, 1, 2)
    delivered = len(_ids(_read("petastorm", uneven_split, 1, 2)))
    check_delivered(uneven_split, 1, 2, expected, delivered, "petastorm")  # the true count passes
    with pytest.raises(RowShortfallError) as err:
        check_delivered(uneven_split, 1, 2, expected + 7, delivered, "petastorm")
    message = str(err.value)
    assert str(uneven_split) in message and "shard 1 of 2" in message
    assert f"should hold {expected + 7} rows" in message and f"delivered {delivered}" in message
    assert isinstance(err.value, DataQualityError) and err.value.exit_code == 4
    again = pickle.loads(pickle.dumps(err.value))  # crosses process boundaries intact
    assert (again.expected, again.delivered, str(again)) == (expected + 7, delivered, message)


def test_fewer_row_groups_than_shards_is_refused_up_front(tmp_path: Path) -> None:
    split = tmp_path / "train"
    write_split(synthetic_split(50, 4, seed=1), split, files=1, row_groups_per_file=2)
    assert rows_per_shard(split, 2) == [25, 25]
    with pytest.raises(EmptyShardError, match=r"2 row groups .* 3 training processes.*files_per_split >= 3") as err:
        rows_per_shard(split, 3)
    assert isinstance(err.value, ConfigError)


def test_ragged_sequences_are_a_data_error(tmp_path: Path) -> None:
    split = tmp_path / "train"
    split.mkdir()
    table = pa.table({"items": pa.array([[1, 2, 3], [4, 5]], pa.list_(pa.int32())), "next_event": pa.array([0, 1], pa.int32())})
    pq.write_table(table, split / "part-00000.parquet")
    with pytest.raises(DataQualityError, match="items holds lists of 2..3 values"):
        list(open_batches("pyarrow", split, ("items", "next_event"), 8, 0, 1, seed=0, epoch=0))


def test_a_spark_written_split_reads_the_same_with_both_readers(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The real producer's layout: Spark's file names, _SUCCESS and .crc files, its list encoding and timestamps."""
    table = synthetic_split(300, 5, seed=9)
    split = tmp_path / "train"
    spark.createDataFrame(table.to_pylist(), SPARK_SCHEMA).repartition(3).write.parquet(str(split))
    assert (split / "_SUCCESS").exists() and any(p.name.startswith(".") for p in split.iterdir())
    counts = collections.Counter()
    for shard in (0, 1):
        ids = {}
        for kind in ("petastorm", "pyarrow"):
            batches = _read(kind, split, shard, 2, batch_size=50)
            ids[kind] = sorted(_ids(batches))
            assert batches[0]["event_types"].shape[1] == 5 and batches[0]["gaps"].dtype == np.float32
        assert ids["petastorm"] == ids["pyarrow"]
        counts.update(ids["pyarrow"])
    assert len(counts) == 300 and set(counts.values()) == {1}
