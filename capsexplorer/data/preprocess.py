"""Drawn, typed or scanned digit → what MNIST looks like (LeCun et al.'s normalisation).

Ink fitted into a 20×20 box keeping its aspect ratio, anti-aliased, stroke weight brought to
MNIST's, centred by centre of mass in 28×28, light ink on black.
"""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter, UnidentifiedImageError

from capsexplorer.errors import ImageError, NoInkError
from capsexplorer.files import regular_file

BOX = 20  # MNIST fits the ink into a 20×20 box ...
SIZE = 28  # ... centred by mass in 28×28
WORK = 80  # the longer side of the ink at the working scale (4× the box)
MNIST_STROKE = 7.7  # median stroke width of MNIST digits at the working scale (measured, see tests)
MNIST_CENTRE = (14.0, 14.0)  # where MNIST digits' centre of mass lies, in (row, col) pixel coordinates
MIN_CONTRAST = 0.08  # ink must differ from the background by this much of the full range


MAX_SIDE = 1024  # a larger image is decoded at reduced size: a digit needs no more pixels
# The formats opened. EPS and PDF are left out: Pillow hands them to Ghostscript, which runs the file
# as a program (a three-line "image" can loop for ever).
SAFE_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP", "PPM", "ICO", "PCX", "TGA", "XBM", "DIB", "JPEG2000",
                "SGI", "IM", "QOI", "AVIF")


def _formats() -> tuple[str, ...]:
    Image.init()
    return tuple(name for name in SAFE_FORMATS if name in Image.OPEN)  # those this Pillow has
_ORIENTATION = 0x0112  # the EXIF tag
_T = Image.Transpose
_TURNS = {2: _T.FLIP_LEFT_RIGHT, 3: _T.ROTATE_180, 4: _T.FLIP_TOP_BOTTOM, 5: _T.TRANSPOSE, 6: _T.ROTATE_270,
          7: _T.TRANSVERSE, 8: _T.ROTATE_90}


def load_image(path: str | Path) -> Image.Image:
    """Opens an image file: its first frame, turned as its EXIF orientation says, reduced to at most
    MAX_SIDE pixels a side, in one of the modes L, LA, RGB, RGBA or F (high bit depths as floats in
    [0, 1]). A missing, unreadable or non-image file raises ImageError naming it."""
    if not isinstance(path, (str, Path)):
        raise ImageError(f"expected a file path, got {type(path).__name__}")
    if not str(path):
        raise ImageError("'': no such file (an empty path)")
    regular_file(path, ImageError)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # bomb warnings (we reduce at once), corrupt-EXIF notes
            with Image.open(path, formats=_formats()) as image:
                orientation = image.getexif().get(_ORIENTATION, 1)
                image = _reduced(image)
            if orientation in _TURNS:  # a camera's photo, stored sideways
                image = image.transpose(_TURNS[orientation])
            return standard_mode(image)
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image file (or a format Pillow cannot read)") from None
    except Image.DecompressionBombError:
        raise ImageError(f"{path}: the image is too large to open safely "
                         f"(over {2 * (Image.MAX_IMAGE_PIXELS or 0) // 1_000_000} megapixels)") from None
    except MemoryError:
        raise ImageError(f"{path}: the image is too large for the memory available") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ImageError(f"{path}: cannot read image ({exc})") from None


def _reduced(image: Image.Image) -> Image.Image:
    """The open image decoded and, when large, shrunk by an integer factor to ≤ MAX_SIDE a side.
    JPEG decodes at reduced scale (draft); other formats are reduced right after decoding."""
    factor = -(-max(image.size) // MAX_SIDE)  # ceiling
    if factor > 1 and image.format == "JPEG":
        image.draft(image.mode, (image.width // factor, image.height // factor))
        factor = -(-max(image.size) // MAX_SIDE)
    image.load()
    if factor <= 1:
        return image.copy()
    if image.mode.startswith("I;16"):  # no `reduce` for it: block means in numpy, no full-size float copy
        values = np.asarray(image)
        height, width = (values.shape[0] // factor) * factor, (values.shape[1] // factor) * factor
        blocks = values[:height, :width].reshape(height // factor, factor, width // factor, factor)
        return Image.fromarray(blocks.mean(axis=(1, 3), dtype=np.float32) / 65535.0, mode="F")
    if image.mode not in ("L", "RGB", "I", "F", "CMYK", "YCbCr", "HSV", "LAB"):
        image = standard_mode(image)  # "1", "P": into a mode that `reduce` takes
    if image.mode in ("LA", "RGBA"):
        # Pillow reduces these through a premultiplied copy of the whole image (4 bytes a pixel);
        # one byte a pixel for grey and alpha each keeps a 12000² image's peak near 0.9 GB.
        grey, alpha = image.convert("L"), image.getchannel("A")
        del image
        return Image.merge("LA", (grey.reduce(factor), alpha.reduce(factor)))
    return image.reduce(factor)


def standard_mode(image: Image.Image) -> Image.Image:
    """Any Pillow mode → L, LA, RGB, RGBA or F. 16- and 32-bit greys become floats in [0, 1] (a plain
    8-bit conversion clips them: grey ink in a 16-bit PNG would vanish)."""
    mode = image.mode
    if mode in ("L", "LA", "RGB", "RGBA"):
        return image
    if mode == "1":
        return image.convert("L")
    if mode in ("P", "PA"):
        return image.convert("RGBA" if mode == "PA" or "transparency" in image.info else "RGB")
    if mode in ("RGBa", "La"):
        return image.convert("RGBA")
    if mode == "LAB":
        return image.getchannel("L")
    if mode in ("CMYK", "YCbCr", "HSV", "RGBX"):
        return image.convert("RGB")
    if mode.startswith("I") or mode == "F":
        values = np.asarray(image, dtype=np.float64)
        values = np.where(np.isfinite(values), values, 0.0)
        low, peak = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
        if low < 0:  # signed data: its own range, so ink below zero is not clipped away
            scaled = (values - low) / (peak - low) if peak > low else np.zeros_like(values)
        else:
            if mode.startswith("I;16"):
                scale = 65535.0
            elif mode == "F" and peak <= 1.0:
                scale = 1.0
            else:
                scale = 255.0 if peak <= 255.0 else 65535.0 if peak <= 65535.0 else peak
            scaled = values / scale
        return Image.fromarray(np.clip(scaled, 0.0, 1.0).astype(np.float32), mode="F")
    return image.convert("RGB")


def to_grayscale(image) -> np.ndarray:
    """PIL image (any mode), numpy array or tensor (any size, grey/RGB/RGBA) → float32 (H, W) in [0, 1]."""
    if isinstance(image, Image.Image):
        image = standard_mode(image)
        if image.mode == "F":
            return np.asarray(image, dtype=np.float32)
        if image.mode in ("RGBA", "LA"):
            rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0
            return _flatten_alpha(rgba)
        return np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    try:
        array = image.detach().cpu().numpy() if _is_tensor(image) else np.asarray(image)
    except (ValueError, TypeError) as exc:  # a ragged list, an object that is no array
        raise ImageError(f"cannot read an image from {type(image).__name__} ({exc})") from None
    if array.dtype == bool:
        array = array.view(np.uint8)  # 0 and 1, without a copy
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise ImageError(f"cannot read an image from an array of {array.dtype}")
    given = array.shape
    if array.ndim > 2:
        array = np.squeeze(array)
    if array.ndim > 2 and array.shape[0] == 1:
        array = array[0]
    if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[-1] not in (1, 3, 4):
        array = np.moveaxis(array, 0, -1)  # channels-first → channels-last
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (1, 3, 4)):
        raise ImageError(f"expected a 2-D greyscale or H×W×3/4 colour image, got shape {given}")
    if array.size == 0:
        raise ImageError("the image is empty (0 pixels)")
    low, peak = float(array.min()), float(array.max())  # of the pixels as given: they choose the scale
    factor = -(-max(array.shape[:2]) // MAX_SIDE)  # ceiling
    array = _block_mean(array, factor) if factor > 1 else array.astype(np.float64)
    if not (np.isfinite(array).all() and np.isfinite([low, peak]).all()):
        raise ImageError("the image contains NaN or infinite values")
    if low < 0:  # signed data (ink below zero): its own range
        array = (array - low) / (peak - low) if peak > low else np.zeros_like(array)
    elif peak > 1.0:
        array = array / (255.0 if peak <= 255.0 else 65535.0 if peak <= 65535.0 else peak)
    array = np.clip(array, 0.0, 1.0).astype(np.float32)
    if array.ndim == 3:
        if array.shape[-1] == 4:
            return _flatten_alpha(array)
        array = array[..., :3].mean(axis=-1) if array.shape[-1] == 3 else array[..., 0]
    return array


def _block_mean(array: np.ndarray, factor: int) -> np.ndarray:
    """float64 means of factor×factor blocks (a ragged edge dropped), a band of rows at a time: a huge
    array is reduced to at most MAX_SIDE a side without a full-size float copy of it."""
    height, width = (array.shape[0] // factor) * factor, (array.shape[1] // factor) * factor
    out = np.empty((height // factor, width // factor) + array.shape[2:], np.float64)
    band = max(1, 2 ** 18 // (width * factor))  # output rows per band: about 2²⁰ input pixels (8 MB) each
    for row in range(0, len(out), band):
        block = array[row * factor:(row + band) * factor, :width].astype(np.float64)
        out[row:row + band] = block.reshape(-1, factor, width // factor, factor, *array.shape[2:]).mean(axis=(1, 3))
    return out


def _flatten_alpha(rgba: np.ndarray) -> np.ndarray:
    """Composites RGBA on the background that makes its ink visible."""
    grey, alpha = rgba[..., :3].mean(axis=-1), rgba[..., 3]
    if alpha.min() > 0.99:
        return grey
    opaque = alpha > 0.5
    ink_is_dark = opaque.any() and grey[opaque].mean() < 0.5
    background = 1.0 if ink_is_dark else 0.0
    return grey * alpha + background * (1.0 - alpha)


def ink_map(gray: np.ndarray) -> np.ndarray:
    """Light-on-dark ink in [0, 1] whatever the polarity: the border's median is the background."""
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    background = float(np.median(border))
    ink = gray - background if background < 0.5 else background - gray
    ink = np.clip(ink, 0.0, None)
    peak = float(ink.max())
    if peak < MIN_CONTRAST:
        raise NoInkError("no ink: the image is blank")
    ink = ink / peak
    ink[ink < 0.12] = 0.0  # paper texture and compression noise
    if np.count_nonzero(ink > 0.5) < 2:
        raise NoInkError("no ink: the image is blank")
    return ink


def stroke_width(ink: np.ndarray) -> float:
    """Mean stroke width ≈ 2·area / boundary length of the binarised ink (w·L / 2L per side)."""
    mask = ink > 0.5
    area = int(mask.sum())
    edges = (np.count_nonzero(mask[1:] != mask[:-1]) + np.count_nonzero(mask[:, 1:] != mask[:, :-1])
             + mask[0].sum() + mask[-1].sum() + mask[:, 0].sum() + mask[:, -1].sum())
    return 2.0 * area / max(int(edges), 1)


def _bounding_box(ink: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.nonzero(ink > 0.2)
    if rows.size == 0:
        raise NoInkError("no ink: the image is blank")
    return rows.min(), rows.max() + 1, cols.min(), cols.max() + 1


def _resize(array: np.ndarray, width: int, height: int) -> np.ndarray:
    image = Image.fromarray(array.astype(np.float32), mode="F")
    shrinking = width < array.shape[1] or height < array.shape[0]
    return np.asarray(image.resize((width, height), Image.LANCZOS if shrinking else Image.BILINEAR))


def _fit(ink: np.ndarray, longer_side: float) -> np.ndarray:
    height, width = ink.shape
    scale = longer_side / max(height, width)
    return _resize(ink, max(1, round(width * scale)), max(1, round(height * scale)))


def _match_stroke(ink: np.ndarray, target: float) -> np.ndarray:
    """Dilates thin strokes or erodes fat ones towards MNIST's stroke width (at the working scale)."""
    width = stroke_width(ink)
    radius = int(round(abs(target - width) / 2.0))
    if radius < 1:
        return ink
    padded = np.pad(ink, radius + 1)
    image = Image.fromarray(padded.astype(np.float32), mode="F")
    grow = width < target
    if not grow:
        radius = min(radius, max(0, int(width / 2.0) - 2))  # never erode a stroke away
        if radius < 1:
            return ink
    size = 2 * radius + 1
    image = image.filter(ImageFilter.MaxFilter(size) if grow else ImageFilter.MinFilter(size))
    return np.asarray(image)[radius + 1:-radius - 1, radius + 1:-radius - 1]


def _centre_by_mass(box: np.ndarray) -> np.ndarray:
    canvas = np.zeros((SIZE, SIZE), dtype=np.float32)
    height, width = box.shape
    top, left = (SIZE - height) // 2, (SIZE - width) // 2
    canvas[top:top + height, left:left + width] = box
    total = canvas.sum()
    rows, cols = np.indices(canvas.shape)
    dy = int(round(MNIST_CENTRE[0] - (rows * canvas).sum() / total))
    dx = int(round(MNIST_CENTRE[1] - (cols * canvas).sum() / total))
    # Never push ink off the canvas: limit the shift to the empty margin on each side.
    dy = int(np.clip(dy, -top, SIZE - top - height))
    dx = int(np.clip(dx, -left, SIZE - left - width))
    return np.roll(canvas, (dy, dx), axis=(0, 1))


STYLES = ("digits", "garments")


def style_for(dataset: str | None) -> str:
    """How inputs are prepared for a model of `dataset`: Fashion-MNIST's garments fill the frame."""
    return "garments" if dataset == "fashion-mnist" else "digits"


def preprocess_array(image, style: str = "digits") -> np.ndarray:
    """Like `preprocess`, returning a float32 (28, 28) numpy array. `style` "garments" prepares an
    image as Fashion-MNIST's are: the object's longer side fitted to all 28 pixels, centred, the ink
    kept as drawn (no stroke matching)."""
    if style not in STYLES:
        raise ValueError(f"style must be one of {', '.join(STYLES)}, got {style!r}")
    ink = ink_map(to_grayscale(image))
    if style == "garments":
        top, bottom, left, right = _bounding_box(ink)
        box = np.clip(_fit(ink[top:bottom, left:right], SIZE), 0.0, 1.0)
        canvas = np.zeros((SIZE, SIZE), dtype=np.float32)
        height, width = box.shape
        row, col = (SIZE - height) // 2, (SIZE - width) // 2
        canvas[row:row + height, col:col + width] = box
        return canvas
    top, bottom, left, right = _bounding_box(ink)
    work = _fit(ink[top:bottom, left:right], WORK)
    work = np.clip(_match_stroke(work, MNIST_STROKE), 0.0, 1.0)
    top, bottom, left, right = _bounding_box(work)
    box = np.clip(_fit(work[top:bottom, left:right], BOX), 0.0, 1.0)
    return _centre_by_mass(box)


def _is_tensor(value) -> bool:
    """A torch tensor, found without importing torch (a caller that has one has imported it)."""
    torch = sys.modules.get("torch")
    return torch is not None and torch.is_tensor(value)


def preprocess(image, style: str = "digits"):
    """PIL image or numpy array, any size, either polarity → float torch tensor 1×28×28 in [0, 1]
    (torch is imported only when this is called).

    Raises NoInkError("no ink ...") for a blank image and ImageError for what is not an image.
    """
    import torch

    return torch.from_numpy(preprocess_array(image, style)).unsqueeze(0)
