"""Test helpers: digits redrawn as people draw them."""
import numpy as np


def as_drawn(image: np.ndarray, size: int = 280, scale: float = 0.6, offset=(30, -40), thicken: int = 5,
             dark_on_light: bool = True) -> np.ndarray:
    """A 28×28 MNIST digit redrawn as a person would: big canvas, scaled, off-centre, thick, dark ink."""
    from PIL import Image, ImageFilter

    side = int(size * scale)
    big = Image.fromarray(image).resize((side, side), Image.BICUBIC)
    if thicken:
        big = big.filter(ImageFilter.MaxFilter(thicken))
    canvas = Image.new("L", (size, size), 0)
    canvas.paste(big, ((size - side) // 2 + offset[0], (size - side) // 2 + offset[1]))
    array = np.asarray(canvas)
    return 255 - array if dark_on_light else array
