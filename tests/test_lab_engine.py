"""The capsule lab's engine: input transforms, sweeps and Figure-4 grids (no Qt)."""
import json

import numpy as np
import pytest
from PIL import Image

from capsexplorer.analysis.posegrid import moments, pose_grid
from capsexplorer.analysis.sweep import run_sweep
from capsexplorer.cli import main
from capsexplorer.data import transforms
from capsexplorer.errors import CapsExplorerError


@pytest.fixture(scope="module")
def seven(heldout):
    return heldout.images[np.flatnonzero(heldout.labels == 7)[0]].astype(np.float32) / 255.0


@pytest.mark.parametrize("pixels", [1, 3, -2, 7])
def test_integer_shifts_are_exact_pixel_moves(seven, pixels):
    right, down = np.zeros_like(seven), np.zeros_like(seven)
    if pixels > 0:
        right[:, pixels:], down[pixels:] = seven[:, :-pixels], seven[:-pixels]
    else:
        right[:, :pixels], down[:pixels] = seven[:, -pixels:], seven[-pixels:]
    np.testing.assert_array_equal(transforms.apply(seven, "shift-x", pixels), right)  # + moves right
    np.testing.assert_array_equal(transforms.apply(seven, "shift-y", pixels), down)  # + moves down


@pytest.mark.parametrize("degrees, turns", [(90, 1), (-90, -1), (180, 2), (270, 3), (360, 0)])
def test_right_angle_rotations_are_numpy_rot90(seven, degrees, turns):
    # numpy.rot90 turns counter-clockwise as an image is shown (row 0 at the top), as + does here.
    np.testing.assert_allclose(transforms.apply(seven, "rotate", degrees), np.rot90(seven, turns), atol=1e-6)


def test_the_other_transforms_do_what_their_names_say(seven):
    m = lambda image: {k: float(v[0]) for k, v in moments(image[None]).items()}  # noqa: E731
    base = m(seven)
    np.testing.assert_array_equal(transforms.apply(seven, "scale", 1.0), seven)
    assert m(transforms.apply(seven, "scale", 1.3))["size"] > 1.2 * base["size"]
    assert m(transforms.apply(seven, "scale", 0.7))["size"] < 0.8 * base["size"]
    assert transforms.apply(seven, "thickness", 1).sum() > 1.3 * seven.sum()
    assert transforms.apply(seven, "thickness", -1).sum() < 0.8 * seven.sum()
    half = transforms.apply(seven, "thickness", 0.5)
    assert seven.sum() < half.sum() < transforms.apply(seven, "thickness", 1).sum()
    sheared = m(transforms.apply(seven, "shear", 20))
    assert sheared["slant"] < base["slant"] - 0.2  # + shear moves lower rows right: the top leans left
    turned = m(transforms.apply(seven, "rotate", 20))
    turn = (turned["orientation"] - base["orientation"] + 90) % 180 - 90  # an axis: its angle counts modulo 180°
    assert turn == pytest.approx(20, abs=5)  # counter-clockwise
    # About the centre: a rotation keeps the centre of mass of a centred digit within a pixel or so.
    assert abs(turned["centroid_x"] - base["centroid_x"]) < 2 and abs(turned["centroid_y"] - base["centroid_y"]) < 2


def test_a_sweep_of_images_equals_one_transform_at_a_time(seven):
    values = np.linspace(-45, 45, 7)
    batch = transforms.sweep_images(seven, "rotate", values)
    for image, value in zip(batch, values):
        np.testing.assert_allclose(image, transforms.apply(seven, "rotate", value), atol=1e-6)
    assert transforms.sweep_images(seven, "thickness", [0, 1]).shape == (2, 28, 28)


@pytest.mark.parametrize("transform, value, message", [("spin", 3, "unknown transform"), ("scale", 0, "scale must"),
                                                       ("rotate", float("nan"), "rotate must"), ("shift-x", 99, "shift-x")])
def test_bad_transforms_are_named(seven, transform, value, message):
    with pytest.raises(CapsExplorerError, match=message):
        transforms.apply(seven, transform, value)


def test_sweep_follows_the_untransformed_winner(model, seven):
    values = np.linspace(-30, 30, 5)
    sweep = run_sweep(model, seven, "rotate", values)
    assert sweep.digit == 7 and sweep.values.shape == (5,)
    assert sweep.images.shape == (5, 28, 28) and sweep.lengths.shape == (5, 10) and sweep.poses.shape == (5, 10, 16)
    assert sweep.prediction.shape == (5,) and sweep.reconstruction.shape == (5, 28, 28)
    middle = model.trace(seven[None], iterations=3)  # value 0 is the untransformed input
    np.testing.assert_allclose(sweep.lengths[2], middle.final_lengths[0], atol=1e-5)
    np.testing.assert_allclose(sweep.poses[2], middle.poses[0], atol=1e-5)
    np.testing.assert_allclose(sweep.reconstruction[2], middle.reconstruction[0], atol=1e-5)
    assert sweep.pose_angle()[2] == pytest.approx(0, abs=0.1) and sweep.relative_length_change()[2] == pytest.approx(0, abs=1e-4)
    for k, value in enumerate(values):  # each step is the trace of that transformed input
        alone = model.trace(transforms.apply(seven, "rotate", value)[None], iterations=3)
        np.testing.assert_allclose(sweep.lengths[k], alone.final_lengths[0], atol=1e-4)
    assert set(sweep.summary()) >= {"max_pose_angle_deg", "max_relative_length_change", "kept_prediction"}


def test_pose_grid_is_figure_4(model, seven):
    tr = model.trace(seven[None])
    grid = pose_grid(model, tr.poses[0, 7], 7, span=0.25, steps=11)
    assert grid.grid.shape == (16, 11, 28, 28)
    np.testing.assert_allclose(grid.offsets, np.arange(-0.25, 0.2501, 0.05), atol=1e-6)
    for k in range(16):  # the middle column is the unperturbed reconstruction
        np.testing.assert_allclose(grid.grid[k, 5], tr.reconstruction[0], atol=1e-5)
    pose = tr.poses[0, 7].copy()
    pose[4] += grid.offsets[9]
    np.testing.assert_allclose(grid.grid[4, 9], model.reconstruct(pose[None], [7]).numpy()[0], atol=1e-5)
    labels = grid.labels()
    assert [row["index"] for row in labels] == list(range(16))
    assert all(isinstance(row["label"], str) and row["label"] for row in labels)


def test_dimension_labels_name_a_measured_effect():
    """A synthetic capsule whose 'dimension 0' moves a blob right and 'dimension 1' scales it."""
    from capsexplorer.analysis.posegrid import PoseGrid

    ys, xs = np.mgrid[0:28, 0:28]
    offsets = np.linspace(-0.25, 0.25, 11).astype(np.float32)
    blob = lambda cx, r: np.exp(-(((xs - cx) / r) ** 2 + ((ys - 14) / (1.6 * r)) ** 2))  # noqa: E731
    rows = np.zeros((3, 11, 28, 28), np.float32)
    for s, o in enumerate(offsets):
        rows[0, s] = blob(14 + 12 * o, 3)  # 6 px to the right over the row
        rows[1, s] = blob(14, 3 * (1 + 1.2 * o))  # grows
        rows[2, s] = blob(14, 3) * (1 + 0.02 * o)  # barely changes
    labels = PoseGrid(0, np.zeros(16, np.float32), offsets, rows).labels()
    assert labels[0]["label"] == "shifts right" and labels[0]["effects"]["centroid_x"] == pytest.approx(12, rel=0.05)
    assert labels[1]["label"].startswith("larger")
    assert labels[2]["label"] == "little effect"


@pytest.fixture
def two_png(tmp_path, heldout):
    path = tmp_path / "two.png"
    Image.fromarray(255 - heldout.images[np.flatnonzero(heldout.labels == 2)[0]]).save(path)
    return path


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_sweep_command_writes_strip_gif_npz_and_json(capsys, tmp_path, two_png):
    code, out, err = run(capsys, "sweep", two_png, "--transform", "rotate", "--from", "-90", "--to", "90",
                         "--steps", "7", "--out", tmp_path / "s.png", "--gif", tmp_path / "s.gif",
                         "--npz", tmp_path / "s.npz", "--json")
    assert code == 0 and err == ""
    row = json.loads(out)
    assert row["digit"] == 2 and len(row["values"]) == 7 and len(row["lengths"][0]) == 10
    with np.load(tmp_path / "s.npz") as data:
        assert {"values", "images", "lengths", "poses", "prediction", "digit", "reconstruction"} <= set(data.files)
        assert data["images"].shape == (7, 28, 28) and int(data["digit"]) == 2
    with Image.open(tmp_path / "s.gif") as gif:
        assert gif.n_frames == 7
    assert Image.open(tmp_path / "s.png").size[0] > 7 * 28


def test_grid_command_json_and_npz(capsys, tmp_path, two_png):
    code, out, err = run(capsys, "grid", two_png, "--digit", "2", "--steps", "5", "--span", "0.2",
                         "--npz", tmp_path / "g.npz", "--out", tmp_path / "g.png", "--json")
    assert code == 0 and err == ""
    row = json.loads(out)
    assert row["digit"] == 2 and len(row["dimensions"]) == 16
    assert set(row["dimensions"][0]) == {"index", "dimension", "label", "effects", "offsets", "salience", "read_as"}
    assert row["dimensions"][0]["dimension"] == 1 and "orientation" in row["effect_units"]
    with np.load(tmp_path / "g.npz") as data:
        assert data["grid"].shape == (16, 5, 28, 28) and data["offsets"].tolist() == pytest.approx([-0.2, -0.1, 0, 0.1, 0.2])
        assert data["pose"].shape == (16,) and int(data["digit"]) == 2
    assert Image.open(tmp_path / "g.png").size[1] > 16 * 28


@pytest.mark.parametrize("argv, message", [
    (["sweep", "IMG", "--transform", "rotate", "--from", "0", "--to", "9999"], "rotate must"),
    (["sweep", "IMG", "--transform", "scale", "--from", "0", "--to", "2"], "scale must"),
    (["sweep", "IMG", "--transform", "rotate", "--from", "0", "--to", "90", "--out", "x.jpg"], "name it *.png"),
    (["grid", "IMG", "--span", "0"], "--span"),
    (["grid", "IMG", "--npz", "/nonexistent-file-as-dir/x.npz"], None),
])
def test_lab_commands_refuse_bad_options_in_one_line(capsys, tmp_path, two_png, argv, message):
    argv = [str(two_png) if a == "IMG" else a for a in argv]
    if message is None:
        (tmp_path / "f").write_text("x")
        argv[-1] = str(tmp_path / "f" / "x.npz")
        message = "not a directory"
    code, out, err = run(capsys, *argv)
    assert code == 1 and message in err and err.count("\n") == 1 and out == ""


def test_prediction_runs_say_where_the_input_changes_class(model, heldout):
    x = heldout.images[np.flatnonzero(heldout.labels == 4)[0]].astype(np.float32) / 255
    sweep = run_sweep(model, x, "rotate", np.linspace(-180, 180, 37))
    runs = sweep.prediction_runs()
    assert [d for d, _, _ in runs] == [int(p) for k, p in enumerate(sweep.prediction)
                                      if k == 0 or p != sweep.prediction[k - 1]]
    assert runs[0][1] == -180 and runs[-1][2] == 180
    assert all(first <= last for _, first, last in runs)
    assert any(d == 4 and first <= 0 <= last for d, first, last in runs)  # upright, it is a 4


def test_the_figure_4_png_holds_every_row_name_whole():
    from PIL import ImageDraw

    from capsexplorer.analysis import render
    from capsexplorer.analysis.posegrid import PoseGrid

    grid = PoseGrid(4, np.zeros(16, np.float32), np.linspace(-0.25, 0.25, 11), np.zeros((16, 11, 28, 28)))
    long_name = "turns counter-clockwise, wider, not taller"
    labels = [{"index": k, "label": long_name if k == 5 else "mixed", "effects": {}} for k in range(16)]
    image = render.grid_image(grid, labels)
    width = ImageDraw.Draw(image).textlength(long_name, font=render.text_font())
    tiles = 11 * (2 * 28 + 2)
    assert image.width - tiles >= 34 + width  # the name, then the tiles: no name runs under a tile


def test_a_figure4_name_is_the_tooltip_s_strongest_effect(model, heldout):
    """Issue 22 §2: dimension 15 was named "turns clockwise" while its tooltip's largest figure was stroke.
    Now the name follows the figures the tooltip lists first (just-visible changes), and a row whose shape turns
    round at some step has no orientation."""
    from capsexplorer.analysis.posegrid import ROUND, WORDS, moments
    from capsexplorer.app.panels.grid_panel import effects_text

    for k in (0, 1, 4):
        image = heldout.images[k].astype(np.float32)[None] / 255.0
        tr = model.trace(image, iterations=3)
        digit = int(tr.prediction[0])
        grid = pose_grid(model, tr.poses[0, digit], digit, 0.5, 7)
        named = 0
        for row in grid.labels():
            strongest = next(iter(row["salience"]))
            listed = effects_text(row, grid.offsets).splitlines()[2].split(":")[0].strip()
            assert listed == strongest  # the tooltip lists the deciding figure first
            if row["label"].startswith("mixed"):  # none dominates: the strongest still said, "mixed (most: …)"
                assert any(row["label"] == f"mixed (most: {word})" for word in WORDS[strongest])
                continue
            if row["label"] == "little effect":
                continue
            named += 1
            assert any(row["label"].startswith(word) for word in WORDS[strongest])
            if row["effects"]["orientation"] is not None:
                assert moments(grid.grid[row["index"]])["elongation"].min() >= ROUND
        assert named > 0


def test_one_runner_drives_every_long_job_and_passes_partial_results_on():
    """Issue 23: 'run a generator to its return value' was written three times; now `batches` and `run_steps`."""
    from capsexplorer.progress_events import batches, run_steps

    def job():
        yield 1, 3
        yield "the CapsNet's half"
        yield 2, 3
        yield 3, 3
        return "done"

    seen, partial = [], []
    assert run_steps(job(), lambda done, total: seen.append((done, total))) == "done"
    assert seen == [(1, 3), (2, 3), (3, 3)]

    def worker():
        result = yield from batches(job(), partial=partial.append)
        return result

    steps = worker()
    assert list(iter(lambda: next(steps, None), None)) == [(1, 3), (2, 3), (3, 3)] and partial == ["the CapsNet's half"]
