"""The network's shape (Sabour et al. 2017, §4), checked field by field before anything is built:
a weights file's metadata is read from a file a user hands us and is trusted for nothing."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

MAX_ITERATIONS = 10  # routing iterations the explorer offers (the paper uses 3)
MAX_PARAMETERS = 200_000_000  # a config asking for more is refused before any allocation
ROUTERS = ("dynamic", "uniform", "attention", "self-attention")  # capsexplorer.net.routers
PAIR_ROUTERS = ("dynamic", "uniform", "attention")  # those with a shipped two-digit model, too
ROUTER_TITLES = {"dynamic": "Dynamic routing", "uniform": "Uniform couplings (no routing)",
                 "attention": "Inverted dot-product attention", "self-attention": "Self-attention (Efficient-CapsNet)"}
ROUTER_SHORT = {"dynamic": "Dynamic routing", "uniform": "Uniform (no routing)", "attention": "Attention",
                "self-attention": "Self-attention"}  # where room is short (the Routers tab's columns)
ROUTER_WORDS = {"dynamic": "dynamic routing", "uniform": "uniform couplings", "attention": "attention",
                "self-attention": "self-attention"}  # inside a sentence


def digits_model_name(router: str) -> str:
    """The shipped digits model of `router`, trained like the others: a name `load_model()` and `--weights` take."""
    return f"mnist-{router}"


def pairs_model_name(router: str) -> str | None:
    """The shipped two-digit model of `router`, or None."""
    return f"multimnist-{router}" if router in PAIR_ROUTERS else None


@dataclass(frozen=True)
class CapsNetConfig:
    image_size: int = 28
    kernel: int = 9
    conv_channels: int = 256
    primary_types: int = 32
    primary_dim: int = 8
    n_classes: int = 10
    digit_dim: int = 16
    decoder_hidden: tuple[int, int] = (512, 1024)
    routing_iterations: int = 3
    routing: str = "dynamic"  # the router (capsexplorer.net.routers); Sabour et al.'s is "dynamic"

    @property
    def grid(self) -> int:
        """Side of the PrimaryCaps grid: 28 → 20 after Conv1 → 6 after the stride-2 conv."""
        return (self.image_size - self.kernel + 1 - self.kernel) // 2 + 1

    @property
    def n_primary(self) -> int:
        return self.primary_types * self.grid * self.grid

    def parameter_count(self) -> int:
        k, c, t, d = self.kernel, self.conv_channels, self.primary_types, self.primary_dim
        h1, h2 = self.decoder_hidden
        decoder_in = self.n_classes * self.digit_dim
        router = {"attention": 2 * self.digit_dim, "self-attention": self.n_primary * self.n_classes}.get(self.routing, 0)
        return ((k * k + 1) * c + (k * k * c + 1) * t * d + self.n_primary * self.n_classes * self.digit_dim * d
                + (decoder_in + 1) * h1 + (h1 + 1) * h2 + (h2 + 1) * self.image_size ** 2 + router)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values) -> CapsNetConfig:
        """Builds a config from untrusted data; raises ValueError naming the first bad field."""
        if not isinstance(values, dict):
            raise ValueError(f"the configuration is a {type(values).__name__}, not a mapping")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown field {unknown[0]!r}")
        values = dict(values)
        for name, (low, high) in _RANGES.items():
            if name in values:
                values[name] = _int_in(name, values[name], low, high)
        if "decoder_hidden" in values:
            hidden = values["decoder_hidden"]
            if not isinstance(hidden, (list, tuple)) or len(hidden) != 2:
                raise ValueError(f"decoder_hidden must be two layer sizes, got {hidden!r}")
            values["decoder_hidden"] = tuple(_int_in("decoder_hidden", h, 1, 8192) for h in hidden)
        if "routing" in values and values["routing"] not in ROUTERS:
            raise ValueError(f"routing must be one of {', '.join(ROUTERS)}, got {values['routing']!r}")
        config = cls(**values)
        if config.grid < 1:
            raise ValueError(f"a {config.kernel}×{config.kernel} kernel leaves no capsules "
                             f"on a {config.image_size}×{config.image_size} image")
        if config.parameter_count() > MAX_PARAMETERS:
            raise ValueError(f"it asks for {config.parameter_count():,} parameters "
                             f"(at most {MAX_PARAMETERS:,})")
        return config


_RANGES = {"image_size": (8, 128), "kernel": (1, 31), "conv_channels": (1, 2048), "primary_types": (1, 256),
           "primary_dim": (1, 64), "n_classes": (2, 1000), "digit_dim": (1, 128),
           "routing_iterations": (1, MAX_ITERATIONS)}


def _int_in(name: str, value, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be from {low} to {high}, got {value}")
    return value
