"""The JSON progress protocol, defined once for `train --progress json` and the Training dialog."""
import math

import numpy as np

from capsexplorer import progress_events
from capsexplorer.training.train import Progress


def test_a_step_round_trips_and_non_finite_numbers_become_null():
    p = Progress(epoch=1, epochs=2, step=3, steps=8, loss=float("nan"), accuracy=0.5, images_per_second=12.34,
                 margin_loss=0.2, reconstruction_loss=float("inf"), seconds_left=None, elapsed=1.234)

    class Config:
        model, dataset, out, checkpoint_path = "capsnet", "mnist5k", "w.safetensors", "w.safetensors.ckpt"

    event = progress_events.decode(progress_events.encode(progress_events.record(p, Config)))
    assert event["event"] == "step" and event["step"] == 3 and event["images_per_second"] == 12.3
    assert event["loss"] is None and event["reconstruction_loss"] is None and event["margin_loss"] == 0.2
    start = progress_events.decode(progress_events.encode(progress_events.start(p, Config)).encode())
    assert start["event"] == "start" and start["checkpoint"] == "w.safetensors.ckpt"


def test_lines_that_are_not_events_are_ignored():
    for line in (b"", b"Downloading...", b"[1, 2]", b'{"event": "unknown"}', b"\xff\xfe", b'"step"'):
        assert progress_events.decode(line) is None


def test_images_travel_as_rows_of_bytes_and_come_back_at_their_size():
    images = np.random.default_rng(0).random((3, 36, 36)).astype(np.float32)
    rows = progress_events.pixels(images)
    assert len(rows) == 3 and len(rows[0]) == 36 * 36 and max(map(max, rows)) <= 255
    back = progress_events.image_rows(rows)
    assert back.shape == (3, 36, 36) and np.abs(back - images).max() <= 0.5 / 255 + 1e-6
    assert progress_events.image_rows(None) is None and not math.isnan(back.sum())
