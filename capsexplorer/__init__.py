"""capsexplorer: a Capsule Network (Sabour, Frosst & Hinton 2017) you can see and touch.

    from capsexplorer import load_model, preprocess
    model = load_model()
    tr = model.trace(preprocess(image).unsqueeze(0), iterations=3)
"""
from .errors import CapsExplorerError, DataError, ImageError, NoInkError, WeightsError
from .model import CapsNet, CapsNetConfig, default_device
from .preprocess import load_image, preprocess
from .trace import RoutingTrace
from .weights import load_model, save_weights

__all__ = ["CapsNet", "CapsNetConfig", "RoutingTrace", "load_model", "save_weights", "preprocess",
           "load_image", "default_device", "CapsExplorerError", "NoInkError", "ImageError",
           "WeightsError", "DataError"]
__version__ = "0.1.0"
