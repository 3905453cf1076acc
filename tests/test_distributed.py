"""Training at scale: torchrun + DistributedDataParallel (Gloo on the CPU) against one process."""
import json
import os
import subprocess
import sys

import pytest
import torch

from capsexplorer.net.weights import read_state
from capsexplorer.training.distributed import World


def test_shares_of_a_global_batch_cover_it_once_in_order():
    index = torch.arange(37)
    for size in (1, 2, 3, 5):
        shares = [index[World(rank, size).share(index)] for rank in range(size)]
        assert torch.equal(torch.cat(shares), index)
        assert max(map(len, shares)) - min(map(len, shares)) <= 1
    assert len(index[:1][World(0, 2).share(index[:1])]) == 0  # a share may be empty


def train(tmp_path, name, launcher):
    out = tmp_path / f"{name}.safetensors"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    command = launcher + ["-m", "capsexplorer", "train", "--limit", "33", "--batch-size", "16", "--epochs", "1",
                          "--device", "cpu", "--float32", "--out", str(out), "--progress", "json"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return out, [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


@pytest.mark.slow
def test_two_gloo_processes_match_one_process(tmp_path):
    """33 images in global batches of 16 (shares 8+8, 8+8, and 0+1: an empty share) with the training augmentation: the
    weights after one epoch equal a single process's within float tolerance; only rank 0 reports."""
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    ddp, ddp_lines = train(tmp_path, "ddp", torchrun)
    one, one_lines = train(tmp_path, "one", [sys.executable])
    a, meta = read_state(ddp)
    b, _ = read_state(one)
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-4, atol=2e-5, msg=name)
    assert [r["event"] for r in ddp_lines].count("finished") == 1  # one report, from rank 0
    last = lambda lines: [r["loss"] for r in lines if r["event"] == "step" and r["step"] == r["steps"]]  # noqa: E731
    assert last(ddp_lines) == pytest.approx(last(one_lines), rel=1e-4)  # every epoch's last step is reported
    assert not (tmp_path / "ddp.safetensors.ckpt").exists()


def test_a_half_set_up_world_is_one_line(tmp_path):
    env = dict(os.environ, WORLD_SIZE="2", RANK="0")
    env.pop("MASTER_ADDR", None)
    done = subprocess.run([sys.executable, "-m", "capsexplorer", "train", "--limit", "8", "--device", "cpu",
                           "--out", str(tmp_path / "w.safetensors")], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [done.stderr.strip()] and "torchrun" in done.stderr
    assert "Traceback" not in done.stderr


def test_json_progress_to_a_reader_that_leaves_is_like_ctrl_c(tmp_path):
    """`train --progress json | head -1`: the reader goes after the first line; as after Ctrl+C the run
    checkpoints, says so in one line on stderr and ends with 1 — and the same command resumes from there."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "capsexplorer", "train", "--limit", "32", "--batch-size", "4", "--epochs", "1",
               "--device", "cpu", "--progress", "json", "--out", str(tmp_path / "w.safetensors")]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path)
    first = json.loads(proc.stdout.readline())
    proc.stdout.close()
    _, err = proc.communicate(timeout=300)
    ckpt = tmp_path / "w.safetensors.ckpt"
    assert first["event"] == "start" and proc.returncode == 1
    assert err.decode() == f"capsexplorer: the progress reader went away; checkpoint saved at {ckpt}\n"
    again = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    start = json.loads(again.stdout.splitlines()[0])
    assert again.returncode == 0 and start["event"] == "start" and start["step"] > 1  # resumed, not from step 1


def test_a_training_process_that_dies_is_named_by_the_others(tmp_path):
    """Two ranks started by hand (what torchrun does); rank 1 is killed once rank 0 has trained a step:
    rank 0 ends with one line saying what happened, not an internal error from Gloo."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "capsexplorer", "train", "--limit", "400", "--batch-size", "4", "--epochs", "1",
               "--device", "cpu", "--progress", "json", "--out", str(tmp_path / "w.safetensors")]
    ranks = []
    for rank in (0, 1):
        env = dict(os.environ, OMP_NUM_THREADS="1", RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2",
                   MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        ranks.append(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                      cwd=tmp_path, text=True))
    leader, other = ranks
    try:
        while json.loads(leader.stdout.readline())["event"] != "step":
            pass
        other.kill()
        other.wait(timeout=60)
        _, err = leader.communicate(timeout=120)
    finally:
        for proc in ranks:
            proc.kill()
    assert leader.returncode == 1 and err.count("\n") == 1, err
    assert "another training process ended" in err and "internal error" not in err
