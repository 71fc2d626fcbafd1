"""Fixtures for the sequence-model tests: a small synthetic sequences dataset (ecomlake.sequences.synthetic)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecomlake.sequences.synthetic import write_synthetic_dataset


@pytest.fixture(scope="session")
def sequences_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared small dataset: 2,400 training rows in 4 files x 2 row groups per split (read only)."""
    root = tmp_path_factory.mktemp("sequences")
    write_synthetic_dataset(root, {"train": 2_400, "validation": 800, "test": 800}, length=12, seed=7)
    return root
