"""A sweep: one transform of the input over a range of values, the inputs routed in batches. It
answers "what happens to the pose, and to the length, when I rotate my digit?" — an equivariant
capsule turns its pose while its length holds (Sabour et al. 2017, §1, §5.1)."""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from capsexplorer.data import transforms


@dataclass(frozen=True)
class Sweep:
    transform: str
    values: np.ndarray  # (S,) the transform's parameter at each step
    images: np.ndarray  # (S, 28, 28) the transformed network inputs
    lengths: np.ndarray  # (S, 10) ‖v_j‖ after the last routing iteration
    poses: np.ndarray  # (S, 10, 16) v_j
    prediction: np.ndarray  # (S,) the longest capsule at each step
    digit: int  # the winner of the untransformed input: the capsule followed
    reconstruction: np.ndarray  # (S, 28, 28) the decoder's image of that digit's capsule at each step
    reference_lengths: np.ndarray  # (10,) of the untransformed input
    reference_pose: np.ndarray  # (16,) the digit's pose for the untransformed input

    def relative_length_change(self) -> np.ndarray:
        """(S,) ‖v_d‖ / ‖v_d‖ untransformed − 1, for the followed digit d; NaN (undefined) when the
        untransformed length is 0."""
        return _ratio(self.lengths[:, self.digit], self.reference_lengths[self.digit]) - 1.0

    def pose_angle(self) -> np.ndarray:
        """(S,) degrees between the digit's unit pose at each step and the untransformed one; NaN
        (undefined) where either pose is 0 and so has no direction."""
        cosine = _unit(self.poses[:, self.digit]) @ _unit(self.reference_pose)
        return np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))

    def pose_change(self) -> np.ndarray:
        """(S, 16) the digit's pose minus the untransformed pose."""
        return self.poses[:, self.digit] - self.reference_pose[None]

    def unit_pose_change(self) -> np.ndarray:
        """(S, 16) the change of the digit's pose direction v/‖v‖ — apart from its length, which
        shrinks every dimension together when the capsule fades."""
        return _unit(self.poses[:, self.digit]) - _unit(self.reference_pose)[None]

    def active(self, threshold: float = 0.1) -> np.ndarray:
        """(S,) bool: the followed capsule is at least m⁻ long — shorter, its direction means little."""
        return self.lengths[:, self.digit] >= threshold

    def prediction_runs(self) -> list[tuple[int, float, float]]:
        """The prediction along the sweep as runs of one class: [(class, first value, last value)], in
        the order of the values — where the input stops being one class and what it becomes."""
        runs: list[tuple[int, float, float]] = []
        for value, predicted in zip(self.values, self.prediction):
            if runs and runs[-1][0] == int(predicted):
                runs[-1] = (runs[-1][0], runs[-1][1], float(value))
            else:
                runs.append((int(predicted), float(value), float(value)))
        return runs

    def summary(self) -> dict:
        """The figures a reader compares: how far the pose turns, how much the length moves."""
        signed, angle = self.relative_length_change(), self.pose_angle()
        change = np.abs(signed)
        active = self.active()
        return {"transform": self.transform, "digit": int(self.digit),
                "steps": int(len(self.values)), "active_steps": int(active.sum()),
                "max_pose_angle_deg_active": _defined(np.max, angle[active]),
                "kept_prediction": float(np.mean(self.prediction == self.digit)),
                "max_pose_angle_deg": _defined(np.max, angle),
                "max_relative_length_change": _defined(np.max, change),
                "lowest_relative_length_change": _defined(np.min, signed),  # the deepest fall (< 0)
                "highest_relative_length_change": _defined(np.max, signed),  # the highest rise (> 0)
                "mean_pose_angle_deg": _defined(np.mean, angle),
                "mean_relative_length_change": _defined(np.mean, change)}

    def arrays(self) -> dict[str, np.ndarray]:
        """Every field as an array, for `numpy.savez`."""
        return {f.name: np.asarray(getattr(self, f.name)) for f in fields(self)}


def _unit(v: np.ndarray) -> np.ndarray:
    """v / ‖v‖ along the last axis; NaN where ‖v‖ is 0 (no direction), without numpy's warnings."""
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.divide(v, norm, out=np.full(np.shape(v), np.nan, dtype=np.result_type(v, np.float32)),
                     where=norm > 0)


def _ratio(a: np.ndarray, b: float) -> np.ndarray:
    return np.divide(a, b, out=np.full(np.shape(a), np.nan), where=b != 0)


def _defined(reduce, values: np.ndarray) -> float:
    """`reduce` over the defined (finite) values: 0.0 for none at all, NaN when every one is undefined."""
    values = np.asarray(values, dtype=np.float64)
    defined = values[np.isfinite(values)]
    return float(reduce(defined)) if len(defined) else (0.0 if not len(values) else float("nan"))


CHUNK = 256  # images routed at a time: a sweep of any length needs the memory of this many


def run_sweep(model, image, transform: str, values, iterations: int = 3, chunk: int = CHUNK) -> Sweep:
    """`image` (28, 28) in [0, 1] — the network input, already preprocessed — under `transform` at
    each of `values`; the untransformed input rides along as the reference. Routed `chunk` images
    at a time, keeping only the poses."""
    values = np.asarray(values, dtype=np.float64).ravel()
    original = transforms.apply_all(image, {})
    inputs = np.concatenate([original[None], transforms.sweep_images(original, transform, values)])  # (1+S, 28, 28)
    poses = np.concatenate([model.poses(inputs[start:start + chunk], iterations)
                            for start in range(0, len(inputs), chunk)])  # (1+S, 10, 16)
    lengths = np.linalg.norm(poses, axis=-1)  # (1+S, 10)
    prediction = lengths.argmax(axis=1)
    digit = int(prediction[0])
    followed = poses[1:, digit]  # (S, 16)
    reconstruction = np.concatenate([
        model.reconstruct(followed[start:start + chunk], np.full(len(followed[start:start + chunk]), digit)).numpy()
        for start in range(0, max(len(followed), 1), chunk)])  # (S, 28, 28)
    return Sweep(transform, values.astype(np.float32), inputs[1:], lengths[1:], poses[1:],
                 prediction[1:], digit, reconstruction, lengths[0], poses[0, digit])
