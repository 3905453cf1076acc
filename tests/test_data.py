import gzip
import struct

import numpy as np
import pytest

from capsexplorer.data.datasets import FASHION_DIRS, heldout_samples, load_dataset, mnist5k, read_idx
from capsexplorer.errors import DataError


def write_idx(path, array, gz=False):
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    (gzip.open if gz else open)(path, "wb").write(data)


def test_the_small_sets_validation_split_is_fixed_and_balanced():
    data = mnist5k()
    assert len(data.train) == 4000 and len(data.heldout) == 1000
    assert np.bincount(data.heldout.labels).tolist() == [100] * 10
    assert np.bincount(data.train.labels).tolist() == [400] * 10
    # validation = index % 5 == 0 of the file: its first digit is file row 0, its second row 5
    from capsexplorer.data.datasets import load_mnist5k

    images, labels = load_mnist5k()
    np.testing.assert_array_equal(data.heldout.images[1], images[5])
    np.testing.assert_array_equal(data.train.images[0], images[1])
    assert heldout_samples(7).labels.tolist() == [7] * 1028  # samples: MNIST's official test sevens


@pytest.mark.parametrize("gz", [False, True])
def test_idx_files_in_data_dir(tmp_path, gz):
    rng = np.random.default_rng(0)
    suffix = ".gz" if gz else ""
    for stem, n in (("train", 12), ("t10k", 5)):
        write_idx(tmp_path / f"{stem}-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n, 28, 28)), gz)
        write_idx(tmp_path / f"{stem}-labels-idx1-ubyte{suffix}", rng.integers(0, 10, n), gz)
    data = load_dataset("mnist", tmp_path)
    assert data.train.images.shape == (12, 28, 28) and data.heldout.labels.shape == (5,)
    assert data.split == "official train / test"


def test_corrupt_idx_is_one_clear_error(tmp_path):
    (tmp_path / "x-idx3-ubyte").write_bytes(b"\x01\x02\x03")
    with pytest.raises(DataError, match="cannot read IDX|not an unsigned-byte"):
        read_idx(tmp_path / "x-idx3-ubyte")


def test_unknown_dataset():
    with pytest.raises(DataError, match="unknown data set"):
        load_dataset("cifar")


@pytest.mark.skipif(not any((d / "train-images-idx3-ubyte.gz").exists() for d in FASHION_DIRS),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_fashion_mnist_from_debian():
    data = load_dataset("fashion-mnist")
    assert len(data.train) == 60000 and len(data.heldout) == 10000
    assert data.classes[0] == "T-shirt/top"
