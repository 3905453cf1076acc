import numpy as np
import pytest
import torch
from drawing import as_drawn
from PIL import Image

from capsexplorer import NoInkError, preprocess
from capsexplorer.data.preprocess import (
    MNIST_STROKE,
    WORK,
    _bounding_box,
    _fit,
    load_image,
    preprocess_array,
    stroke_width,
)
from capsexplorer.errors import ImageError


def similarity(a, b):
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return float(np.corrcoef(a, b)[0, 1])


def test_output_is_a_1x28x28_float_tensor_in_unit_range(digit_image):
    x = preprocess(digit_image)
    assert x.shape == (1, 28, 28) and x.dtype == torch.float32
    assert float(x.min()) >= 0 and float(x.max()) <= 1


def test_an_mnist_digit_is_nearly_unchanged(digit_image):
    assert similarity(preprocess(digit_image)[0], digit_image) > 0.85


@pytest.mark.parametrize("variant", [
    dict(),  # thick, dark on light, off-centre, scaled on a 280×280 canvas
    dict(scale=0.3, offset=(-80, 70)),  # small, far in a corner
    dict(scale=0.9, offset=(0, 0), thicken=13),  # huge and very fat
    dict(thicken=0, dark_on_light=False),  # thin, light on dark
])
def test_drawn_versions_look_like_the_mnist_digit(digit_image, variant):
    drawn = as_drawn(digit_image, **variant)
    assert similarity(preprocess(drawn)[0], preprocess(digit_image)[0]) > 0.8


def test_ink_fits_a_20_box_and_centre_of_mass_is_central(digit_image):
    out = preprocess_array(as_drawn(digit_image, scale=0.4, offset=(60, 60)))
    rows, cols = np.nonzero(out > 0.05)
    assert max(np.ptp(rows), np.ptp(cols)) + 1 <= 22
    total = out.sum()
    r, c = np.indices(out.shape)
    assert abs((r * out).sum() / total - 14) < 1 and abs((c * out).sum() / total - 14) < 1


def test_stroke_weight_is_brought_to_mnist(digit_image):
    for thicken in (0, 9, 17):
        out = preprocess_array(as_drawn(digit_image, thicken=thicken))
        top, bottom, left, right = _bounding_box(out)
        width = stroke_width(np.clip(_fit(out[top:bottom, left:right], WORK), 0, 1))
        assert 0.6 * MNIST_STROKE < width < 1.6 * MNIST_STROKE, (thicken, width)


def test_polarity_is_detected(digit_image):
    light_on_dark, dark_on_light = preprocess(digit_image), preprocess(255 - digit_image)
    torch.testing.assert_close(light_on_dark, dark_on_light, atol=0.02, rtol=0)


def test_pil_images_of_any_mode(digit_image):
    drawn = as_drawn(digit_image)
    reference = preprocess(drawn)
    for mode in ("L", "RGB", "RGBA", "I", "F", "P"):
        out = preprocess(Image.fromarray(drawn).convert(mode))
        torch.testing.assert_close(out, reference, atol=0.03, rtol=0)


def test_transparent_background_with_dark_ink(digit_image):
    alpha = as_drawn(digit_image, dark_on_light=False)  # ink where alpha is high
    rgba = np.zeros(alpha.shape + (4,), np.uint8)
    rgba[..., 3] = alpha
    assert similarity(preprocess(Image.fromarray(rgba, "RGBA"))[0], preprocess(digit_image)[0]) > 0.8


@pytest.mark.parametrize("blank", [np.zeros((50, 50)), np.full((280, 280), 255, np.uint8),
                                   np.full((28, 28), 0.5), Image.new("RGB", (64, 64), "white")])
def test_blank_images_are_no_ink(blank):
    with pytest.raises(NoInkError, match="no ink"):
        preprocess(blank)


def test_faint_paper_noise_is_no_ink():
    rng = np.random.default_rng(0)
    paper = 240 + rng.integers(0, 8, (200, 200))
    with pytest.raises(NoInkError):
        preprocess(paper.astype(np.uint8))


@pytest.mark.parametrize("bad", [np.zeros((0, 0)), np.zeros((5, 5, 7)), np.array(["a", "b"]),
                                 np.full((5, 5), np.nan)])
def test_arrays_that_are_not_images(bad):
    with pytest.raises(ImageError):
        preprocess(bad)


def test_drawn_digits_are_classified(model, heldout):
    """A quick slice of the benchmark in benchmarks/eval_drawn.py."""
    rng = np.random.default_rng(0)
    picks = [np.flatnonzero(heldout.labels == d)[k] for d in range(10) for k in (0, 1, 2)]
    drawn = [as_drawn(heldout.images[i], scale=rng.uniform(0.35, 0.9),
                      offset=tuple(rng.integers(-40, 41, 2)), thicken=int(rng.choice([3, 7, 11])))
             for i in picks]
    x = torch.stack([preprocess(d) for d in drawn])
    accuracy = (model.trace(x).prediction == heldout.labels[picks]).mean()
    assert accuracy >= 0.9


def _ink_three(heldout):
    """A held-out 3 at 280×280 as uint8, dark ink on white, and what preprocess makes of it."""
    from capsexplorer.data.preprocess import preprocess_array

    three = heldout.images[np.flatnonzero(heldout.labels == 3)[0]]
    light = np.array(Image.fromarray(three).resize((280, 280), Image.BILINEAR))
    return 255 - light, preprocess_array(light)


def _modes(ink):
    grey16 = (65535 - (255 - ink).astype(np.float32) / 255 * 30000).astype(np.uint16)  # grey ink, 16 bit
    transparent = Image.fromarray(ink).convert("P")
    transparent.info["transparency"] = transparent.getpixel((0, 0))
    alpha = np.stack([np.zeros_like(ink), 255 - ink], -1)
    return {
        "1.png": Image.fromarray(ink).convert("1"), "L.png": Image.fromarray(ink),
        "LA.png": Image.fromarray(alpha, "LA"), "P.png": Image.fromarray(ink).convert("P"),
        "P-transparent.png": transparent, "P.gif": Image.fromarray(ink).convert("P"),
        "RGB.png": Image.fromarray(ink).convert("RGB"), "RGBA.png": Image.fromarray(ink).convert("RGBA"),
        "CMYK.jpg": Image.fromarray(ink).convert("RGB").convert("CMYK"), "CMYK.tif": Image.fromarray(ink).convert("CMYK"),
        "I16.png": Image.fromarray(grey16), "I.tif": Image.fromarray(grey16.astype(np.int32)),
        "F.tif": Image.fromarray(ink.astype(np.float32) / 255), "F255.tif": Image.fromarray(ink.astype(np.float32)),
    }


@pytest.mark.parametrize("name", list(_modes(np.zeros((4, 4), np.uint8))))
def test_every_pillow_mode_is_read(tmp_path, heldout, name):
    """Each mode a user can hand us gives the network the same digit (a 16-bit grey PNG used to
    read as blank)."""
    ink, expected = _ink_three(heldout)
    image = _modes(ink)[name]
    path = tmp_path / name
    image.save(path)
    assert Image.open(path).mode == image.mode or name.endswith((".jpg", ".gif"))
    x = preprocess_array(load_image(path))
    tolerance = 0.15 if name in ("1.png", "CMYK.jpg") else 0.02  # a 1-bit image loses its anti-aliasing
    assert np.abs(x - expected).max() < tolerance, name


def test_multi_frame_files_read_their_first_frame(tmp_path, heldout):
    ink, expected = _ink_three(heldout)
    frames = [Image.fromarray(ink), Image.fromarray(np.full_like(ink, 255))]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    frames[0].save(tmp_path / "a.tif", save_all=True, append_images=frames[1:])
    for name in ("a.gif", "a.tif"):
        assert np.abs(preprocess_array(load_image(tmp_path / name)) - expected).max() < 0.02


def test_an_exif_rotated_photo_is_turned_upright(tmp_path, heldout):
    ink, expected = _ink_three(heldout)
    stored = Image.fromarray(ink).convert("RGB").transpose(Image.Transpose.ROTATE_90)  # as a camera stores it
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    stored.save(tmp_path / "photo.jpg", exif=exif, quality=95)
    assert np.abs(preprocess_array(load_image(tmp_path / "photo.jpg")) - expected).max() < 0.05


def test_a_huge_image_is_decoded_at_reduced_size(tmp_path):
    """12000×12000 RGBA: reduced while loading, no Pillow warning; the ink is still found."""
    import warnings

    big = np.full((12000, 12000, 4), 255, np.uint8)
    big[3000:9000, 5500:6500, :3] = 0  # a thick vertical bar: a "1"
    Image.fromarray(big, "RGBA").save(tmp_path / "huge.png", compress_level=1)
    del big
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        image = load_image(tmp_path / "huge.png")
    assert max(image.size) <= 1024
    x = preprocess_array(image)
    assert x.sum() > 10 and x[:, 14].sum() > x[:, 4].sum()


@pytest.mark.parametrize("kind, message", [("loop", "link loop"), ("long", "too long"), ("fifo", "FIFO"),
                                           ("notdir", "not a directory")])
def test_unreadable_paths_are_named(tmp_path, kind, message):
    import os

    path = {"loop": tmp_path / "loop.png", "long": tmp_path / ("x" * 300 + ".png"), "fifo": tmp_path / "fifo.png",
            "notdir": tmp_path / "file.png" / "inside.png"}[kind]
    if kind == "loop":
        path.symlink_to(path)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "notdir":
        (tmp_path / "file.png").write_bytes(b"x")
    with pytest.raises(ImageError, match=message) as info:
        load_image(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("kind", ["float-tiff", "int8-array", "int32-tiff"])
def test_signed_images_keep_ink_below_zero(tmp_path, heldout, kind):
    ink = heldout.images[np.flatnonzero(heldout.labels == 3)[0]].astype(np.float32) / 255  # light on dark
    if kind == "float-tiff":
        Image.fromarray(-5.0 * ink).save(tmp_path / "x.tif")
        image = load_image(tmp_path / "x.tif")
    elif kind == "int32-tiff":
        Image.fromarray((ink * -(2 ** 31 - 1)).astype(np.int32)).save(tmp_path / "x.tif")
        image = load_image(tmp_path / "x.tif")
    else:
        image = (ink * -100).astype(np.int8)
    x = preprocess_array(image)
    assert x.sum() > 20


def test_odd_api_inputs_get_image_errors(heldout):
    with pytest.raises((NoInkError, ImageError)):
        preprocess(np.ones((1, 1)))  # a 1×1 image: read, and blank
    with pytest.raises(ImageError, match="cannot read an image"):
        preprocess([[1, 2], [3]])
    with pytest.raises(ImageError, match="complex"):
        preprocess(np.ones((28, 28), complex))
    with pytest.raises(ImageError, match="file path"):
        load_image(None)
    wide = np.zeros((1, 60), np.uint8)
    wide[0, 20:40] = 255
    assert preprocess(wide).shape == (1, 28, 28)  # a 1×N strip is an image too: a horizontal stroke


@pytest.mark.slow
def test_a_huge_16_bit_png_stays_within_a_gigabyte(tmp_path):
    import subprocess
    import sys

    code = ("import numpy as np, resource, sys\n"
            "from PIL import Image\n"
            "a = np.full((12000, 12000), 65535, np.uint16); a[3000:9000, 5500:6500] = 20000\n"
            "Image.fromarray(a).save(sys.argv[1], compress_level=1); del a\n"
            "from capsexplorer.data.preprocess import load_image, preprocess_array\n"
            "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "x = preprocess_array(load_image(sys.argv[1]))\n"
            "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) // 1024, x.sum())\n")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "big16.png")], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    extra_mb, ink = proc.stdout.split()
    assert int(extra_mb) < 1024 and float(ink) > 10
