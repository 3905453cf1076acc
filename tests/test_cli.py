import json
import subprocess
import sys

import numpy as np
import pytest
from drawing import as_drawn
from PIL import Image

from capsexplorer.cli import main


@pytest.fixture
def files(tmp_path, heldout):
    three = heldout.images[np.flatnonzero(heldout.labels == 3)[0]]
    seven = heldout.images[np.flatnonzero(heldout.labels == 7)[0]]
    paths = {
        "three": tmp_path / "three.png", "seven": tmp_path / "seven.jpg",
        "blank": tmp_path / "blank.png", "text": tmp_path / "notes.png",
        "empty": tmp_path / "empty.png", "truncated": tmp_path / "truncated.png",
    }
    Image.fromarray(as_drawn(three)).save(paths["three"])
    Image.fromarray(as_drawn(seven)).convert("RGB").save(paths["seven"])
    Image.new("L", (100, 100), 255).save(paths["blank"])
    paths["text"].write_text("this is not an image\n")
    paths["empty"].write_bytes(b"")
    paths["truncated"].write_bytes(paths["three"].read_bytes()[:60])
    return paths


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_classify_json_lines(capsys, files):
    code, out, err = run(capsys, "classify", files["three"], files["seven"], "--json")
    assert code == 0 and err == ""
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["prediction"] for r in rows] == [3, 7]
    for r in rows:
        assert set(r) == {"path", "prediction", "class", "lengths", "pose"}
        assert r["class"] == str(r["prediction"])  # the digits model's classes are the digits
        assert len(r["lengths"]) == 10 and len(r["pose"]) == 16
        assert max(r["lengths"]) == r["lengths"][r["prediction"]]
    assert rows[0]["path"] == str(files["three"])


def test_classify_text_output(capsys, files):
    code, out, _ = run(capsys, "classify", files["three"], "--iterations", "5")
    assert code == 0 and out.startswith(f"{files['three']}: 3")


@pytest.mark.parametrize("bad, reason", [
    ("missing", "no such file"), ("blank", "no ink"), ("text", "not an image"),
    ("empty", "not an image"), ("truncated", "cannot read"), ("dir", "directory"),
])
def test_bad_files_get_one_line_and_the_rest_are_classified(capsys, files, tmp_path, bad, reason):
    path = {"missing": tmp_path / "nope.png", "dir": tmp_path}.get(bad) or files[bad]
    code, out, err = run(capsys, "classify", files["three"], path, files["seven"], "--json")
    assert code == 1
    assert [json.loads(line)["prediction"] for line in out.splitlines()] == [3, 7]
    lines = err.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and reason in lines[0]
    assert "Traceback" not in err


def test_bad_iterations_is_a_usage_error(capsys, files):
    with pytest.raises(SystemExit) as exit:
        main(["classify", str(files["three"]), "--iterations", "11"])
    assert exit.value.code == 2
    assert "from 1 to 10" in capsys.readouterr().err


def test_bad_weights_get_one_line(capsys, files, tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00garbage" * 10)
    code, out, err = run(capsys, "--weights", bad, "classify", files["three"])
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1 and str(bad) in err


def test_weights_option_after_the_command(capsys, files, tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"nonsense")
    code, _, err = run(capsys, "classify", files["three"], "--weights", bad)
    assert code == 1 and str(bad) in err
    code, out, _ = run(capsys, "evaluate", "--json", "--limit", "200", "--weights", shipped())
    assert code == 0 and json.loads(out)["n"] == 200


def shipped():
    from capsexplorer.net.weights import shipped_weights_path

    return shipped_weights_path()


def test_trace_writes_the_whole_trace(capsys, files, tmp_path):
    out_file = tmp_path / "trace.npz"
    code, out, _ = run(capsys, "trace", files["three"], "--out", out_file, "--iterations", "4")
    assert code == 0 and "3" in out
    with np.load(out_file) as data:
        assert data["coupling"].shape == (4, 1, 1152, 10)
        assert data["lengths"].shape == (4, 1, 10)
        assert data["poses"].shape == (1, 10, 16)
        assert int(data["prediction"][0]) == 3


def test_trace_of_a_blank_image_fails_cleanly(capsys, files, tmp_path):
    code, out, err = run(capsys, "trace", files["blank"], "--out", tmp_path / "t.npz")
    assert code == 1 and "no ink" in err and not (tmp_path / "t.npz").exists()


def test_evaluate_json(capsys):
    code, out, _ = run(capsys, "evaluate", "--json")
    result = json.loads(out)
    assert code == 0 and result["n"] == 10000 and "official MNIST test" in result["split"]  # the paper's measure
    confusion = np.array(result["confusion"])
    assert confusion.shape == (10, 10)
    assert confusion.sum(axis=1).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert result["accuracy"] == pytest.approx(np.trace(confusion) / 10000)


def test_evaluate_limit_measures_the_first_images_and_says_so(capsys, heldout):
    code, out, _ = run(capsys, "evaluate", "--json", "--limit", "300")
    result = json.loads(out)
    assert code == 0 and result["n"] == 300 and result["split"].startswith("the first 300 images of the official")
    confusion = np.array(result["confusion"])
    assert confusion.sum(axis=1).tolist() == np.bincount(heldout.labels[:300], minlength=10).tolist()
    assert result["accuracy"] == pytest.approx(np.trace(confusion) / 300)
    for bad in ("0", "-3", "many"):
        with pytest.raises(SystemExit):
            run(capsys, "evaluate", "--limit", bad)
        assert "--limit" in capsys.readouterr().err


def test_console_script_runs_in_a_subprocess(files):
    proc = subprocess.run([sys.executable, "-m", "capsexplorer.cli", "classify", str(files["three"]),
                           str(files["blank"]), "--json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["prediction"] == 3
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_train_command_writes_weights_with_metadata(capsys, tmp_path):
    out = tmp_path / "tiny.safetensors"
    code, stdout, err = run(capsys, "train", "--limit", "32", "--epochs", "1", "--batch-size", "16",
                            "--out", out, "--device", "cpu")
    assert code == 0 and "validation accuracy" in stdout and "epoch 1/1" in err  # MNIST 5k's fifth: never "held-out"
    from capsexplorer import load_model

    meta = load_model(out, device="cpu").metadata
    assert meta["epochs"] == "1" and meta["train_size"] == "32" and "mnist_5k" in meta["split"]
    assert not (tmp_path / "tiny.safetensors.ckpt").exists()


def test_help_and_argument_errors_are_fast_and_skip_torch():
    """--help and a usage error answer without importing torch (it takes seconds)."""
    code = ("import sys, time; t = time.perf_counter()\n"
            "from capsexplorer.cli import main\n"
            "for argv in (['--help'], ['classify', 'x.png', '--iterations', '0'], ['--version']):\n"
            "    try: main(argv)\n"
            "    except SystemExit: pass\n"
            "print('torch' in sys.modules, time.perf_counter() - t, file=sys.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    imported, seconds = proc.stderr.strip().splitlines()[-1].split()
    assert imported == "False"
    assert "usage: capsexplorer" in proc.stdout and "from 1 to 10" in proc.stderr


def test_trace_names_the_file_it_writes(capsys, files, tmp_path):
    code, out, err = run(capsys, "trace", files["three"], "--out", tmp_path / "x")
    assert code == 0 and out.rstrip().endswith(str(tmp_path / "x.npz"))
    assert (tmp_path / "x.npz").is_file() and not (tmp_path / "x").exists()
    code, out, err = run(capsys, "trace", files["three"], "--out", "/dev/null")
    assert code == 0 and out.rstrip().endswith("/dev/null") and not __import__("os").path.exists("/dev/null.npz")


@pytest.mark.parametrize("out, message", [("missing-parent/file.npz", None), ("is-a-file/x.npz", "not a directory"),
                                          ("x" * 300 + ".npz", "too long")])
def test_trace_refuses_an_unwritable_out_before_working(capsys, files, tmp_path, out, message):
    (tmp_path / "is-a-file").write_text("x")
    code, stdout, err = run(capsys, "trace", files["three"], "--out", tmp_path / out)
    if message is None:  # a missing folder is made
        assert code == 0 and (tmp_path / out).is_file()
    else:
        assert code == 1 and message in err and err.count("\n") == 1 and "Traceback" not in err


def test_classify_into_a_closed_pipe_ends_quietly(files):
    """`capsexplorer classify … | head -1`: no BrokenPipeError traceback."""
    many = [str(files["three"])] * 40
    proc = subprocess.run(["bash", "-c", f"{sys.executable} -m capsexplorer.cli classify {' '.join(many)} | head -1; "
                           "echo status ${PIPESTATUS[0]}"], capture_output=True, text=True, timeout=120)
    assert proc.stdout.startswith(str(files["three"])) and proc.stderr == ""
    assert proc.stdout.splitlines()[-1] == "status 0"  # issue 22 §11: it exited 1, failing a `pipefail` script


@pytest.mark.parametrize("command", ["classify", "evaluate", "train", "trace"])
@pytest.mark.parametrize("device", ["bogus", "cuda:5"])
def test_an_absent_device_is_one_line(capsys, files, tmp_path, command, device):
    argv = {"classify": ["classify", files["three"]], "evaluate": ["evaluate"],
            "trace": ["trace", files["three"], "--out", tmp_path / "t.npz"],
            "train": ["train", "--limit", "16", "--epochs", "1", "--out", tmp_path / "w.safetensors"]}[command]
    code, out, err = run(capsys, *argv, "--device", device)
    assert code == 1 and device in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("argv, message", [
    (["--batch-size", "0"], "--batch-size"), (["--limit", "-5"], "--limit"), (["--lr", "nan"], "--lr"),
    (["--epochs", "0"], "--epochs"), (["--batch-size", "-4"], "--batch-size"), (["--limit", "0"], "--limit"),
])
def test_train_refuses_absurd_settings_in_one_line(capsys, tmp_path, argv, message):
    out = tmp_path / "w.safetensors"
    try:
        code, stdout, err = run(capsys, "train", *argv, "--out", out)
    except SystemExit as exit:  # argparse's own check (a non-number)
        code, err = exit.code, capsys.readouterr().err
        assert code == 2
    else:
        assert code == 1
    assert message in err and "Traceback" not in err and not out.exists() and not list(tmp_path.iterdir())


def test_huge_finite_weights_giving_nan_are_an_error_not_bare_nan(capsys, files, tmp_path):
    from safetensors.torch import save_file

    from capsexplorer.net.weights import read_state, shipped_weights_path

    tensors, meta = read_state(shipped_weights_path())
    tensors = {k: v.float() * (1e30 if k == "digit_weights" else 1) for k, v in tensors.items()}
    save_file(tensors, str(tmp_path / "huge.safetensors"), metadata=meta)
    for argv in (["classify", files["three"], "--json"], ["evaluate", "--json", "--limit", "100"]):
        code, out, err = run(capsys, *argv, "--weights", tmp_path / "huge.safetensors")
        assert code == 1 and "NaN" not in out and "not finite" in err and "Traceback" not in err


def test_debug_shows_the_traceback_of_an_internal_error(capsys, files, monkeypatch):
    import capsexplorer.cli as cli

    monkeypatch.setattr(cli, "cmd_classify", lambda args: 1 / 0)
    code, out, err = run(capsys, "classify", files["three"])
    assert code == 1 and "internal error: ZeroDivisionError" in err and "Traceback" not in err and "--debug" in err
    code, out, err = run(capsys, "--debug", "classify", files["three"])
    assert code == 1 and "Traceback" in err


@pytest.mark.parametrize("target", ["/dev/null", "fifo"])
def test_train_never_replaces_a_device_or_a_fifo(capsys, tmp_path, target):
    """An atomic replace of --checkpoint /dev/null would put a file in the device's place."""
    import os
    import stat

    if target == "fifo":
        target = tmp_path / "fifo"
        os.mkfifo(target)
    for option in ("--checkpoint", "--out"):
        argv = ["train", "--limit", "8", "--epochs", "1", "--out", tmp_path / "w.safetensors", "--fresh"]
        if option == "--out":
            argv[argv.index("--out") + 1] = target
        else:
            argv += ["--checkpoint", target]
        code, out, err = run(capsys, *argv)
        assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
        assert "not a regular file" in err or "safetensors" in err
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_an_eps_file_named_png_is_refused_not_run(capsys, tmp_path, files):
    """Pillow would hand EPS to Ghostscript, which runs it: this one loops for ever."""
    import time

    eps = tmp_path / "hang.png"
    eps.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 28 28\n{ } loop\nshowpage\n")
    start = time.monotonic()
    code, out, err = run(capsys, "classify", eps, files["three"], "--json")
    assert time.monotonic() - start < 20
    assert code == 1 and "not an image" in err and json.loads(out)["prediction"] == 3


@pytest.mark.parametrize("argv, message", [
    (["trace", "IMG", "--out", "LONG"], "too long"), (["trace", "IMG", "--out", ""], "empty"),
    (["train", "--out", "LONG.safetensors", "--limit", "8"], "too long"),
    (["train", "--out", "/proc/x.safetensors", "--limit", "8"], "cannot"),
    (["snapshot", "--out", "LONG.png"], "too long"), (["snapshot", "--out", "x.png", "--iteration", "0"], "--iteration"),
])
def test_absurd_output_paths_are_one_line(capsys, tmp_path, files, argv, message):
    long = str(tmp_path / ("a" * 300))
    argv = [str(files["three"]) if a == "IMG" else a.replace("LONG", long) for a in argv]
    if argv[0] == "snapshot" and "x.png" in argv:
        argv[argv.index("x.png")] = str(tmp_path / "x.png")
    code, out, err = run(capsys, *argv)
    assert code == 1 and message in err and err.count("\n") == 1 and "internal error" not in err


@pytest.mark.parametrize("content", [b"", "list"])
def test_a_broken_checkpoint_is_named(capsys, tmp_path, content):
    import torch

    ckpt = tmp_path / "w.safetensors.ckpt"
    if content == "list":
        torch.save(["x"], ckpt)
    else:
        ckpt.write_bytes(content)
    code, out, err = run(capsys, "train", "--limit", "8", "--epochs", "1", "--out", tmp_path / "w.safetensors")
    assert code == 1 and str(ckpt) in err and "--fresh" in err and "internal error" not in err


def test_unwritable_standard_output_is_one_line(files):
    for redirect in (">&-", "> /dev/full"):
        proc = subprocess.run(f"{sys.executable} -m capsexplorer.cli classify {files['three']} {redirect}",
                              shell=True, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 1 and "internal error" not in proc.stderr and proc.stderr.count("\n") <= 1, proc.stderr


def test_weights_that_do_not_fit_their_config_are_refused_before_allocating(tmp_path, monkeypatch):
    """A 16 MB file whose config asks for 191 M parameters: the shapes are compared on the meta
    device; no real model is built."""
    import torch
    from test_weights import with_config

    import capsexplorer.net.weights as weights

    built = []
    original = weights.CapsNet

    def recording(config):
        built.append(torch.empty(0).device.type)
        return original(config)

    monkeypatch.setattr(weights, "CapsNet", recording)
    path = with_config(tmp_path, {"n_classes": 1000, "digit_dim": 19})
    with pytest.raises(weights.WeightsError, match="has shape"):
        weights.load_model(path, device="cpu")
    assert built == ["meta"]


def test_every_option_is_documented_with_its_default():
    """`capsexplorer COMMAND --help` explains every option and names every default."""
    import argparse

    from capsexplorer.cli import build_parser
    from capsexplorer.cli.parser import has_default

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert {"classify", "train", "sweep", "evaluate", "robustness", "snapshot", "grid"} <= set(commands)
    for name, command in commands.items():
        text = command.format_help()
        for action in command._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"{name} {action.option_strings or action.dest}: no help text"
            if has_default(action):
                assert "default" in command._get_formatter()._get_help_string(action), (name, action.dest)
        assert "(default: " in text or name == "gui"
    train = commands["train"].format_help()
    assert "minutes on a 2-core CPU" in train and "(default: 30)" in train and "(default: 0.001)" in train
    assert "(default: 0)" in train  # the seed: a default of zero is still said
    assert "fashion-mnist" in commands["classify"].format_help()  # --weights names the shipped models


def test_the_newcomers_surprises_are_said(capsys, files, tmp_path):
    """sweep --steps 1 with two values, a zero-byte weights file, a missing --data-dir, evaluate's error."""
    code, out, err = run(capsys, "sweep", files["three"], "--transform", "rotate", "--from", "0", "--to", "10",
                         "--steps", "1")
    assert code == 1 and "--steps 1" in err and "differ" in err
    for name in ("empty.safetensors", "empty.pt"):
        (tmp_path / name).write_bytes(b"")
        code, out, err = run(capsys, "classify", files["three"], "--weights", tmp_path / name)
        assert code == 1 and "empty" in err and "text file" not in err
    code, out, err = run(capsys, "evaluate", "--dataset", "mnist", "--data-dir", tmp_path / "nonexistent")
    assert code == 1 and "nonexistent: no such folder" in err
    code, out, err = run(capsys, "evaluate", "--limit", "100")  # the plain output has the reconstruction error too
    assert code == 0 and "reconstruction error" in out and "on 100 images" in out


def torchvision_datasets():
    """torchvision's datasets, or a skip where torchvision cannot be imported (a CPU torch beside a mismatched
    torchvision: the program copes, these tests of its download cannot run)."""
    try:
        import torchvision.datasets
    except Exception as exc:  # noqa: BLE001 — a broken install raises more than ImportError
        pytest.skip(f"torchvision cannot be imported here ({type(exc).__name__}: {exc})")
    return torchvision.datasets


def test_a_failed_download_names_its_reason_and_leaves_no_empty_folders(tmp_path, monkeypatch):
    datasets = torchvision_datasets()

    from capsexplorer.data.datasets import DataError, _download

    class Offline:
        def __init__(self, root, train, download):
            (tmp_path / "data" / "MNIST" / "raw").mkdir(parents=True, exist_ok=True)
            raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:") from OSError("Network is unreachable")

    monkeypatch.setattr(datasets, "MNIST", Offline)
    with pytest.raises(DataError, match="Network is unreachable"):
        _download("mnist", tmp_path / "data")
    assert not (tmp_path / "data").exists()


def test_a_failed_download_gives_torchvisions_reason_from_its_last_line(tmp_path, monkeypatch):
    datasets = torchvision_datasets()

    from capsexplorer.data.datasets import DataError, _download

    class Offline:
        def __init__(self, root, train, download):
            raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried https://example/, got:\n"
                               "<urlopen error [Errno -2] Name or service not known>\n")

    monkeypatch.setattr(datasets, "MNIST", Offline)
    with pytest.raises(DataError, match=r"offline\?\): urlopen error \[Errno -2\] Name or service not known$"):
        _download("mnist", tmp_path / "data")


def test_train_refuses_weights_it_would_ignore(capsys, tmp_path):
    """Issue 22 §11: `train --weights fashion-mnist` silently trained from scratch; fine-tuning is --init."""
    for argv in (["train", "--weights", "fashion-mnist"], ["--weights", "fashion-mnist", "train"]):
        assert main([*argv, "--epochs", "1", "--out", str(tmp_path / "w.safetensors")]) == 1
        err = capsys.readouterr().err
        assert "use --init fashion-mnist" in err and err.count("\n") == 1
    assert not (tmp_path / "w.safetensors").exists()


def test_sample_writes_a_held_out_digit_or_pair_to_begin_with(capsys, tmp_path, heldout):
    """Issue 22 §11: no example image shipped, and no command exported one; classify needs one."""
    from PIL import Image

    out = tmp_path / "seven.png"
    assert main(["sample", str(out), "--digit", "7", "--seed", "3"]) == 0
    said = capsys.readouterr().out
    index = int(said.split("MNIST test digit ")[1].split()[0])
    assert heldout.labels[index] == 7 and np.array_equal(np.asarray(Image.open(out)), heldout.images[index])
    assert main(["classify", str(out), "--json", "--device", "cpu"]) == 0
    assert json.loads(capsys.readouterr().out)["prediction"] == 7
    pair = tmp_path / "pair.png"
    assert main(["sample", str(pair), "--pair", "--index", "5", "--scale", "2"]) == 0
    assert "held-out pair 5" in capsys.readouterr().out and Image.open(pair).size == (72, 72)
    assert main(["sample", str(tmp_path / "x.png"), "--digit", "3", "--index", "0"]) == 1
    assert capsys.readouterr().err == "capsexplorer: test digit 0 is a 7, not a 3\n"
    assert main(["sample", str(tmp_path / "x.txt")]) == 1 and not (tmp_path / "x.txt").exists()
    assert "name it *.png" in capsys.readouterr().err


def test_the_readme_s_usage_lines_are_the_parser_s():
    """Issue 22 §10: usage lines that disagreed with the parser (`sweep --steps` shown required, options missing)."""
    from pathlib import Path

    from capsexplorer.cli.parser import usage_block

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert f"```sh\n{usage_block()}\n```" in readme
    assert "--weights" not in usage_block().split("capsexplorer train")[1].split("capsexplorer evaluate")[0]


def test_every_option_s_help_says_its_default():
    """Issue 22 §10: the README says `COMMAND --help` gives every option with its default; some did not."""
    import argparse

    from capsexplorer.cli.parser import build_parser

    parser = build_parser()
    missing = []
    for name, command in next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices.items():
        formatter = command.formatter_class(prog=command.prog)
        for action in command._actions:
            if not action.option_strings or action.required or action.help == argparse.SUPPRESS \
                    or isinstance(action, (argparse._HelpAction, argparse._StoreTrueAction)):
                continue
            if "default" not in formatter._get_help_string(action):
                missing.append(f"{name} {action.option_strings[-1]}")
    assert not missing, missing


def _readme_commands() -> list[str]:
    """Every concrete `capsexplorer …` command the README gives: in its code blocks (continuations joined,
    comments cut, `&&` split) and in its running text's backticks; the usage block's generic lines (with
    `[` or `{`) are checked against the parser above."""
    import re
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", readme, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            commands += [part.strip() for part in line.split("#")[0].split("&&")]
    commands += re.findall(r"`(capsexplorer [^`]*)`", readme)
    return [c for c in commands if c.startswith("capsexplorer ") and not re.search(r"[\[{…]|\b[A-Z]{4,}\b", c)]


def test_every_command_the_readme_gives_is_one_the_program_accepts():
    """Issue 22 §10/§11: README commands that the program no longer took. Each concrete command parses; the
    python scripts it names exist."""
    import re
    import shlex
    from pathlib import Path

    from capsexplorer.cli.parser import build_parser

    commands = _readme_commands()
    assert len(commands) > 20 and any(c.startswith("capsexplorer train --dataset mnist") for c in commands)
    parser = build_parser()
    refused = []
    for command in commands:
        try:
            parser.parse_args(shlex.split(command)[1:])
        except SystemExit as exit:  # --help exits 0
            if exit.code:
                refused.append(command)
    assert not refused, refused
    root = Path(__file__).parent.parent
    readme = (root / "README.md").read_text()
    scripts = set(re.findall(r"(benchmarks/[\w-]+\.py)", readme))
    modules = set(re.findall(r"python -m (capsexplorer[\w.]*)", readme))
    assert scripts and all((root / s).is_file() for s in scripts), sorted(s for s in scripts if not (root / s).is_file())
    assert all((root / (m.replace(".", "/") + ".py")).is_file() or (root / m.replace(".", "/")).is_dir()
               for m in modules), modules


def test_the_readme_s_first_try_runs(tmp_path, capsys, monkeypatch):
    """The README's first try (`capsexplorer sample seven.png --digit 7 && capsexplorer classify seven.png`),
    run as written in an empty folder."""
    import shlex

    command = next(c for c in _readme_commands() if c.startswith("capsexplorer sample seven.png"))
    follow = next(c for c in _readme_commands() if c.startswith("capsexplorer classify seven.png"))
    monkeypatch.chdir(tmp_path)
    assert main(shlex.split(command)[1:]) == 0
    assert main(shlex.split(follow)[1:] + ["--device", "cpu"]) == 0
    assert "7" in capsys.readouterr().out


def test_every_window_picture_in_the_readme_is_one_the_screenshots_script_makes():
    """Issue 22 §10: a README picture that no script remade went stale (pair.png)."""
    import re
    from pathlib import Path

    from capsexplorer.app.screenshots import README_PICTURES

    root = Path(__file__).parent.parent
    shown = set(re.findall(r"resources/screenshots/([\w-]+)\.png", (root / "README.md").read_text()))
    assert shown and shown <= set(README_PICTURES), sorted(shown - set(README_PICTURES))
    assert all((root / "resources" / "screenshots" / f"{name}.png").is_file() for name in README_PICTURES)
