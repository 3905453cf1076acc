import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
import tempfile  # noqa: E402

os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="capsexplorer-test-cache-")  # never the user's cache

import numpy as np
import pytest
import torch

from capsexplorer.data.datasets import heldout_samples


@pytest.fixture(scope="session")
def model():
    from capsexplorer import load_model

    return load_model(device="cpu")


@pytest.fixture(scope="session")
def heldout():
    return heldout_samples()


@pytest.fixture(scope="session")
def balanced(heldout):
    """1,000 of MNIST's test digits, the first 100 of each class, sorted by class: every tenth is one a class."""
    import numpy as np

    from capsexplorer.data.datasets import Split

    keep = np.concatenate([np.flatnonzero(heldout.labels == c)[:100] for c in range(10)])
    return Split(heldout.images[keep], heldout.labels[keep])


@pytest.fixture
def digit_image(heldout):
    """A held-out MNIST '3' as uint8 (28, 28), light on dark."""
    return heldout.images[np.flatnonzero(heldout.labels == 3)[0]]


@pytest.fixture
def few_heldout(monkeypatch, tmp_path):
    """The held-out browser's predictions over MNIST's first 300 test digits, not all 10,000 (about two minutes
    at 36×36 on two cores; these tests are about something else), kept in this test's own cache."""
    from capsexplorer.data import datasets

    every = datasets.model_samples

    def first(dataset):
        found = every(dataset)
        return found if found is None else (datasets.Split(found[0].images[:300], found[0].labels[:300]), found[1])

    monkeypatch.setattr(datasets, "model_samples", first)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)


# The log file of every command run in the tests (in this process or a subprocess): never the user's.
os.environ["CAPSEXPLORER_LOG_DIR"] = tempfile.mkdtemp(prefix="capsexplorer-test-logs-")


def pytest_sessionfinish(session, exitstatus):
    """The run's own cache and log folders go with it: nothing left behind in the temporary folder."""
    import shutil

    if not hasattr(session.config, "workerinput"):
        for variable in ("XDG_CACHE_HOME", "CAPSEXPLORER_LOG_DIR"):
            folder = os.environ.get(variable, "")
            if os.path.basename(folder).startswith(("capsexplorer-test-cache-", "capsexplorer-test-logs-")):
                shutil.rmtree(folder, ignore_errors=True)
