"""Training-time augmentation shared by the model families.

Functions return ``augment(x, y) -> (x, y)`` callables as CSBDeep/StarDist data
generators expect them, applied to one patch pair at a time.
"""

from __future__ import annotations

import numpy as np


def random_flips_rotations(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, spatial: int):
    """The same random flips and 90-degree YX rotation applied to ``x`` and ``y``.

    Rotations only when the YX patch is square; channels (beyond ``spatial``
    leading axes) are left alone.
    """
    yx = (spatial - 2, spatial - 1)
    if x.shape[yx[0]] == x.shape[yx[1]] and rng.random() < 0.5:
        k = int(rng.integers(1, 4))
        x, y = np.rot90(x, k, axes=yx), np.rot90(y, k, axes=yx)
    for axis in range(spatial):
        if rng.random() < 0.5:
            x, y = np.flip(x, axis), np.flip(y, axis)
    return x, y


def geometric_augmenter(spatial: int, seed: int = 0):
    """Flips and rotations of source and target together (restoration pairs).

    ``spatial`` is the number of leading spatial axes of a patch (2 or 3); a
    trailing channel axis is left alone.
    """
    rng = np.random.default_rng(seed)

    def augment(x, y):
        x, y = random_flips_rotations(x, y, rng, spatial)
        return np.ascontiguousarray(x), np.ascontiguousarray(y)

    return augment


def instance_augmenter(seed: int = 0):
    """Flips, rotations and intensity changes (scale, offset, noise) for image + label patches."""
    rng = np.random.default_rng(seed)

    def augment(x, y):
        x, y = random_flips_rotations(x, y, rng, y.ndim)
        x = x * rng.uniform(0.6, 2.0) + rng.uniform(-0.2, 0.2)
        if rng.random() < 0.5:
            x = x + rng.normal(0, rng.uniform(0, 0.03), x.shape)
        return np.ascontiguousarray(x, dtype=np.float32), np.ascontiguousarray(y)

    return augment
