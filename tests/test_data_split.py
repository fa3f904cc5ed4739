"""Validation split by file: whole files apart, fixed by the seed, at least one file."""

from pathlib import Path

import pytest

from pyfiji_dl.data.instances import DatasetError, split_by_file


def groups(n_files, frames=3):
    return [[f"file{i}-t{t}" for t in range(frames)] for i in range(n_files)]


def test_frames_of_one_file_stay_together_and_seed_fixes_the_split():
    train, val = split_by_file(groups(10), 0.1, 42, Path("data"))
    files = lambda samples: {s.split("-")[0] for s in samples}  # noqa: E731
    assert len(val) == 3 and len(files(val)) == 1  # 10 % of 10 files, all frames of it
    assert not files(train) & files(val)
    assert split_by_file(groups(10), 0.1, 42, Path("data")) == (train, val)
    assert {split_by_file(groups(10), 0.1, seed, Path("data"))[1][0] for seed in range(20)} != {val[0]}


def test_at_least_one_validation_file_and_a_clear_error_for_one_file():
    assert len(split_by_file(groups(3, 1), 0.1, 0, Path("data"))[1]) == 1
    with pytest.raises(DatasetError, match="only one image.*--val"):
        split_by_file(groups(1), 0.1, 0, Path("data"))
