"""Percentile normalisation, as CSBDeep and StarDist apply it."""

from __future__ import annotations

import numpy as np


def normalize_percentile(x, pmin: float = 1.0, pmax: float = 99.8, *, channel_axis: int | None = None,
                         clip: bool = False, eps: float = 1e-20) -> np.ndarray:
    """Map the ``pmin``/``pmax`` percentiles of ``x`` to 0/1, per channel, in float32.

    The arithmetic is CSBDeep's ``normalize`` (float32 throughout), so models see
    the same numbers as in StarDist's and CSBDeep's notebooks.

    Parameters
    ----------
    x : ndarray
    pmin, pmax : float
        Percentiles (0-100); StarDist uses 1/99.8, CSBDeep 3/99.8.
    channel_axis : int, optional
        Normalise each channel along this axis on its own.
    clip : bool
        Clip the result to [0, 1].
    eps : float
        Guards against a constant image (which then becomes all zeros).

    Returns
    -------
    ndarray of float32
    """
    x = np.asarray(x)
    axes = None if channel_axis is None else tuple(i for i in range(x.ndim) if i != channel_axis % x.ndim)
    low = np.percentile(x, pmin, axis=axes, keepdims=True).astype(np.float32)
    high = np.percentile(x, pmax, axis=axes, keepdims=True).astype(np.float32)
    out = (x.astype(np.float32, copy=False) - low) / (high - low + np.float32(eps))
    return np.clip(out, 0, 1) if clip else out
