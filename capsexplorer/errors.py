"""Errors for a user's mistake: each carries one line that names the problem."""


class CapsExplorerError(Exception):
    """A problem with the user's input, reported as one line, never a traceback."""


class NoInkError(CapsExplorerError, ValueError):
    """The image is blank: there is nothing to classify."""


class ImageError(CapsExplorerError, ValueError):
    """A file or array that is not a usable image."""


class WeightsError(CapsExplorerError, ValueError):
    """A weights file that is missing, corrupt, unsafe or does not fit the model."""


class DataError(CapsExplorerError, ValueError):
    """A data set that cannot be found or read."""


class DeviceError(CapsExplorerError, ValueError):
    """A --device that torch does not know, or that this machine does not have."""


class DivergedError(CapsExplorerError):
    """Training (or a decoder fit) met a non-finite loss: it stopped, and wrote no weights."""
