import os
import threading

import numpy as np
import pytest
import torch

from capsexplorer import load_model
from capsexplorer.data.augment import augment, to_tensor
from capsexplorer.data.datasets import Dataset, Split, mnist5k
from capsexplorer.errors import CapsExplorerError
from capsexplorer.training.train import TrainConfig, evaluate, iter_training


@pytest.fixture(scope="module")
def tiny():
    full = mnist5k()
    pick = np.arange(0, len(full.train), len(full.train) // 64)[:64]
    return Dataset("mnist5k", Split(full.train.images[pick], full.train.labels[pick]),
                   Split(full.heldout.images[::20], full.heldout.labels[::20]), split="test slice")


def config(tmp_path, **overrides):
    values = dict(epochs=2, batch_size=16, out=str(tmp_path / "w.safetensors"), checkpoint_every=2,
                  float16=False, device="cpu")
    values.update(overrides)
    return TrainConfig(**values)


def run_all(cfg, data, **kwargs):
    return list(iter_training(cfg, dataset=data, **kwargs))


def one_step(cfg, data):
    """A run stopped after its first step, as Ctrl+C would stop it."""
    stop = threading.Event()
    progress = []
    for p in iter_training(cfg, dataset=data, stop=stop):
        progress.append(p)
        stop.set()
    return progress


def test_short_training_lowers_the_loss(tmp_path, tiny):
    progress = run_all(config(tmp_path, epochs=4, augment=False), tiny)
    per_epoch = [p.loss for p in progress if not p.finished and p.step == p.steps]
    assert per_epoch[-1] < 0.6 * per_epoch[0], per_epoch
    final = progress[-1]
    assert final.finished and 0 <= final.heldout_accuracy <= 1
    model = load_model(final.weights, device="cpu")
    assert model.metadata["epochs"] == "4" and model.metadata["dataset"] == "mnist5k"
    # MNIST 5k's own fifth is training digits of MNIST: a validation figure, never called held out
    assert "heldout_accuracy" not in model.metadata
    assert float(model.metadata["validation_accuracy"]) == pytest.approx(final.heldout_accuracy, abs=1e-4)
    from capsexplorer.net.weights import accuracy_text

    assert accuracy_text(model.metadata).startswith(f"validation accuracy {final.heldout_accuracy:.2%}")


def weights_of(path):
    return load_model(path, device="cpu").state_dict()


def assert_bit_equal(a, b):
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


@pytest.mark.slow
def test_stops_at_random_moments_resume_bit_exactly(tmp_path, tiny):
    """A stop request from another thread (what a signal handler does) at random moments: every
    checkpoint is of a completed step and the resumed run ends on exactly the same weights."""
    straight = run_all(config(tmp_path / "a"), tiny)[-1]
    cfg = config(tmp_path / "b")
    rng = np.random.default_rng(5)
    interruptions = 0
    while True:
        stop = threading.Event()
        timer = threading.Timer(float(rng.uniform(0.0, 0.6)), stop.set)
        timer.start()
        progress = run_all(cfg, tiny, stop=stop)
        timer.cancel()
        if progress[-1].finished:
            break
        assert progress[-1].interrupted and cfg.checkpoint_path.exists()
        interruptions += 1
        assert interruptions < 40
    assert interruptions >= 3, "the random stops should have landed mid-run several times"
    assert_bit_equal(weights_of(straight.weights), weights_of(progress[-1].weights))


@pytest.mark.slow
def test_sigint_at_random_moments_in_the_command_resumes_bit_exactly(tmp_path):
    """The real command, sent SIGINT at random moments (during steps, checkpoint writes and the
    progress bar), resumed each time; the weights equal an uninterrupted run's bit for bit."""
    import signal
    import subprocess
    import sys
    import time

    args = ["train", "--limit", "48", "--batch-size", "16", "--epochs", "2", "--float32", "--device", "cpu",
            "--no-augment"]
    run = lambda out, **kw: subprocess.Popen([sys.executable, "-m", "capsexplorer.cli", *args, "--out", str(out)],
                                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    straight = run(tmp_path / "a.safetensors")
    assert straight.wait(timeout=300) == 0, straight.stderr.read()
    rng = np.random.default_rng(11)
    out = tmp_path / "b.safetensors"
    interrupted = 0
    for _ in range(12):
        proc = run(out)
        deadline = time.monotonic() + 120
        while "epoch" not in proc.stderr.readline() and proc.poll() is None and time.monotonic() < deadline:
            pass  # wait until training runs (past start-up)
        time.sleep(float(rng.uniform(0.0, 0.8)))
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=300)
        assert "Traceback" not in stderr, stderr
        if proc.returncode == 0:
            break
        assert proc.returncode == 130 and "checkpoint saved" in stderr, stderr
        interrupted += 1
    else:
        proc = run(out)
        assert proc.wait(timeout=300) == 0
    assert interrupted >= 1
    assert_bit_equal(weights_of(tmp_path / "a.safetensors"), weights_of(out))
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob("*.ckpt"))


def test_checkpoint_from_other_settings_is_refused(tmp_path, tiny):
    cfg = config(tmp_path)
    progress = one_step(cfg, tiny)
    assert progress[-1].interrupted and progress[-1].step == 1
    with pytest.raises(CapsExplorerError, match="other settings"):
        run_all(config(tmp_path, seed=7), tiny)
    cfg.checkpoint_path.write_bytes(b"corrupt")
    with pytest.raises(CapsExplorerError, match="unreadable checkpoint"):
        run_all(cfg, tiny)


@pytest.mark.parametrize("overrides, message", [
    (dict(batch_size=0), "--batch-size"), (dict(batch_size=-4), "--batch-size"), (dict(limit=0), "--limit"),
    (dict(limit=-5), "--limit"), (dict(epochs=0), "--epochs"), (dict(lr=float("nan")), "--lr"),
    (dict(lr=-1.0), "--lr"), (dict(lr_decay=0.0), "--lr-decay"), (dict(seed=-1), "--seed"),
    (dict(out="weights.bin"), "safetensors"), (dict(augment_style="mirror"), "--augment"),
    (dict(amp="yes"), "amp"), (dict(decoder_epochs=-1), "--decoder-epochs"),
])
def test_bad_settings_are_refused_before_any_work(tmp_path, tiny, overrides, message):
    cfg = config(tmp_path, **overrides)
    with pytest.raises(CapsExplorerError, match=message):
        next(iter_training(cfg, dataset=tiny))
    assert not list(tmp_path.iterdir())  # nothing written


def test_unwritable_out_is_refused_up_front(tmp_path, tiny):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    if os.access(locked, os.W_OK):
        locked.chmod(0o700)
        pytest.skip("running as root, who can write anywhere")
    with pytest.raises(CapsExplorerError, match="cannot write"):
        next(iter_training(config(locked), dataset=tiny))
    locked.chmod(0o700)


def test_a_regular_file_as_the_out_folder_is_named(tmp_path, tiny):
    (tmp_path / "file").write_text("x")
    with pytest.raises(CapsExplorerError, match="not a directory"):
        next(iter_training(config(tmp_path / "file"), dataset=tiny))


def test_orphaned_temporary_files_are_removed_on_start(tmp_path, tiny):
    orphans = [tmp_path / "w.safetensors.abcd1234.tmp", tmp_path / "w.safetensors.ckpt.x9y8z7w6.tmp"]
    for orphan in orphans:
        orphan.write_bytes(b"\0" * 1000)
    keep = tmp_path / "other.safetensors.abcd1234.tmp"
    keep.write_bytes(b"x")
    stop = threading.Event()
    stop.set()
    run_all(config(tmp_path), tiny, stop=stop)
    assert not any(o.exists() for o in orphans) and keep.exists()


def test_augment_is_seeded_and_stays_within_its_bounds(heldout):
    from capsexplorer.analysis.posegrid import moments

    x = to_tensor(heldout.images[:64])
    a = augment(x, torch.Generator().manual_seed(3))
    b = augment(x, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.shape == x.shape and not torch.equal(a, x)
    assert float(a.min()) >= 0 and float(a.max()) <= 1
    before, after = moments(x[:, 0].numpy()), moments(a[:, 0].numpy())
    # Shifts of at most 2 px, rotation ≤ 12°, scale 0.88–1.12 and shear ≤ 0.15 move a centred digit's
    # centre of mass by a few pixels at most; its size changes by at most the scale (and thickening).
    moved = np.hypot(after["centroid_x"] - before["centroid_x"], after["centroid_y"] - before["centroid_y"])
    assert moved.max() <= 4.5 and moved.mean() > 0.3
    ratio = (after["size"] / before["size"])[heldout.labels[:64] != 1]  # a thin 1's width is mostly thickening
    assert ratio.min() >= 0.8 and ratio.max() <= 1.3
    still = augment(x, torch.Generator().manual_seed(3), max_shift=0)
    still_moved = np.hypot(*(moments(still[:, 0].numpy())[k] - before[k] for k in ("centroid_x", "centroid_y")))
    assert still_moved.mean() < moved.mean()  # the shifts are part of the movement


def test_evaluate_confusion(model, balanced):
    part = Split(balanced.images[::10], balanced.labels[::10])
    result = evaluate(model, part)
    assert result.confusion.sum() == 100 and result.confusion.sum(axis=1).tolist() == [10] * 10
    assert result.accuracy == pytest.approx(np.trace(result.confusion) / 100)


@pytest.mark.slow
def test_bf16_autocast_trains_and_says_so(tmp_path, tiny):
    final = run_all(config(tmp_path, epochs=1, amp=True, augment_style="shifts"), tiny)[-1]
    model = load_model(final.weights, device="cpu")
    assert model.metadata["amp"] == "bf16" and "'augment_style': 'shifts'" in model.metadata["train_config"]
    assert all(torch.isfinite(p).all() and p.dtype == torch.float32 for p in model.parameters())
    assert final.reconstruction_sse is not None and float(model.metadata["reconstruction_sse"]) > 0


def test_progress_reports_each_loss_and_time_left(tmp_path, tiny):
    progress = run_all(config(tmp_path, epochs=2, evaluate_each_epoch=True), tiny)
    steps = [p for p in progress if not (p.finished or p.epoch_end)]
    assert all(p.margin_loss > 0 and p.reconstruction_loss > 0 for p in steps)
    assert all(p.loss == pytest.approx(p.margin_loss + p.reconstruction_loss, rel=1e-5) for p in steps if p.step == 1)
    assert steps[-1].seconds_left == 0 and steps[0].seconds_left > 0
    reports = [p for p in progress if p.epoch_end]
    assert len(reports) == 1 and reports[0].epoch == 1  # after each epoch but the last; the end reports that
    assert reports[0].samples.shape == (8, 28, 28) and reports[0].reconstructions.shape == (8, 28, 28)


def test_init_starts_from_given_weights(tmp_path, tiny):
    from capsexplorer.net.weights import shipped_weights_path

    cfg = config(tmp_path, init="mnist5k")
    progress = one_step(cfg, tiny)
    assert progress[-1].interrupted
    state = torch.load(cfg.checkpoint_path, weights_only=True)["model"]
    shipped = load_model("mnist5k", device="cpu").state_dict()
    moved = (state["digit_weights"] - shipped["digit_weights"]).abs().max()
    assert 0 < moved < 0.01  # one Adam step from the shipped weights, not from random ones
    with pytest.raises(CapsExplorerError, match="CapsNet weights, not the CNN"):
        run_all(config(tmp_path / "cnn", model="cnn", init=str(shipped_weights_path())), tiny)


def test_a_run_can_be_lengthened_or_shortened_from_its_checkpoint(tmp_path, tiny):
    """The number of epochs changes no step of the path (the learning rate decays per epoch): a run
    stopped after epoch 1 of 3 finishes as a 1-epoch run: the weights an uninterrupted 1-epoch run
    reaches."""
    straight = run_all(config(tmp_path / "one", epochs=1), tiny)[-1]
    cfg = config(tmp_path / "three", epochs=3)
    for progress in iter_training(cfg, tiny):
        if progress.epoch == 2 and progress.step == 0:  # epoch 1 ended: its checkpoint is written
            break
    shortened = run_all(config(tmp_path / "three", epochs=1), tiny)[-1]
    assert shortened.finished
    assert_bit_equal(weights_of(straight.weights), weights_of(shortened.weights))


def test_a_checkpoint_from_before_a_setting_existed_still_resumes(tmp_path, tiny):
    cfg = config(tmp_path)
    one_step(cfg, tiny)
    state = torch.load(cfg.checkpoint_path, weights_only=True)
    del state["identity"]["init"]  # written by a version without --init
    torch.save(state, cfg.checkpoint_path)
    with pytest.raises(CapsExplorerError, match="other settings"):
        run_all(config(tmp_path, init="mnist5k"), tiny)  # a new setting away from its default still counts
    assert run_all(cfg, tiny)[-1].finished


def test_validation_images_are_set_aside_and_each_epochs_report_measures_them(tmp_path, tiny):
    from capsexplorer.training.train import set_aside

    kept, aside = set_aside(tiny.train, 8, seed=0)
    assert len(kept) == 56 and len(aside) == 8
    keys = {bytes(image) for image in kept.images}
    assert not any(bytes(image) in keys for image in aside.images)  # never trained on
    assert set_aside(tiny.train, 0, 0) == (tiny.train, None)
    with pytest.raises(CapsExplorerError, match="--validation 64 leaves nothing to train on"):
        set_aside(tiny.train, 64, 0)
    progress = run_all(config(tmp_path, epochs=2, validation=8, evaluate_each_epoch=True), tiny)
    report = next(p for p in progress if p.epoch_end)
    assert report.samples is not None and len(report.samples) == min(8, len(np.unique(aside.labels)))
    assert any(np.array_equal(report.samples[0], image) for image in aside.images)
    model = load_model(progress[-1].weights, device="cpu")
    assert model.metadata["train_size"] == "56" and model.metadata["validation_set_aside"] == "8"


def test_augmentation_maps_are_the_transforms_own():
    """Issue 23: augmentation builds its maps with transforms.compose — one warp of a digit by augment's grid equals
    the probe's bilinear warp with the same matrix (inside the image, away from the border's interpolation)."""
    from capsexplorer.data import transforms
    from capsexplorer.data.augment import sampling_grid_map

    rng = np.random.default_rng(0)
    image = np.zeros((28, 28), np.float32)
    image[8:20, 10:18] = rng.random((12, 8))
    forward = transforms.compose(10.0, 0.1, 1.1, 1.1, 2.0, -1.0)[None]  # (1, 3, 3)
    theta = torch.from_numpy(sampling_grid_map(forward, 28))
    x = torch.from_numpy(image)[None, None]
    grid = torch.nn.functional.affine_grid(theta, [1, 1, 28, 28], align_corners=False)
    ours = torch.nn.functional.grid_sample(x, grid, align_corners=False, padding_mode="zeros")[0, 0].numpy()
    probe = transforms.warp(image[None], forward)[0]
    np.testing.assert_allclose(ours, probe, atol=1e-4)


def test_every_evaluation_restores_train_mode_when_it_fails(model, balanced, monkeypatch):
    """Issue 23 §5: one batch loop for every evaluation, and the model's train mode restored in `finally` — a
    failure in the middle of `evaluate` left the model in eval mode (dropout and the like off for training)."""
    from capsexplorer.net.inference import map_batches

    part = Split(balanced.images[:20], balanced.labels[:20])
    calls = []

    def fails_on_the_second_batch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("simulated failure")
        return type(model).forward(model, *args, **kwargs)

    model.train()
    monkeypatch.setattr(model, "forward", fails_on_the_second_batch)
    with pytest.raises(RuntimeError, match="simulated"):
        evaluate(model, part, batch_size=10)
    assert model.training
    monkeypatch.undo()
    steps = map_batches(model, lambda x: len(x), part.images, batch=10)
    assert next(steps) == 10 and not model.training
    steps.close()  # a caller that stops early
    assert model.training
    model.eval()
