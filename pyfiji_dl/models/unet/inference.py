"""Images in, probabilities out: the U-Net's preprocessing and tiled prediction."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ...data.normalize import normalize_percentile
from ...errors import InputError, OptionError, SetupError
from .. import training
from .config import CLAHE_PARAMETERS, contrast_parameters, normalization_parameters, round_up

if TYPE_CHECKING:
    from .model import UNetModel


def preprocess(image: np.ndarray, contrast: dict, normalization: dict) -> np.ndarray:
    """Contrast enhancement and percentile normalisation, as the network was trained.

    Parameters
    ----------
    image : ndarray
        ``YX``, or ``YXC`` with channels last; raw intensities.
    contrast : dict
        The card's ``contrast``: ``{"method": "none" | "percentile" | "clahe", ...}``;
        CLAHE (Fiji's, :func:`pyfiji_dl.annotation.clahe.clahe`) runs on each channel
        before the normalisation.
    normalization : dict
        The card's ``normalization``: percentiles ``low`` and ``high`` of each
        channel are mapped to 0 and 1 (no clipping).

    Returns
    -------
    ndarray of float32
        Same shape.
    """
    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise InputError(f"a U-Net image is YX or YXC, not an array of shape {image.shape}")
    method = contrast.get("method", "percentile")
    if method == "clahe":
        enhance = _clahe_function()
        parameters = {k: contrast.get(k, v) for k, v in CLAHE_PARAMETERS.items()}
        planes = [image] if image.ndim == 2 else [image[..., c] for c in range(image.shape[-1])]
        # Fiji's CLAHE works on ImageJ's pixel types (8-, 16-bit, float); others go as float
        planes = [np.ascontiguousarray(p if p.dtype in (np.uint8, np.uint16, np.float32) else p.astype(np.float32))
                  for p in planes]
        enhanced = [np.asarray(enhance(plane, **parameters), dtype=np.float32) for plane in planes]
        image = enhanced[0] if image.ndim == 2 else np.stack(enhanced, axis=-1)
    elif method not in ("none", "percentile"):
        raise OptionError(f"unknown contrast method {method!r} (known: none, percentile, clahe)")
    return normalize_percentile(image, normalization["low"], normalization["high"],
                                channel_axis=-1 if image.ndim == 3 else None)


def _clahe_function():
    try:
        from ...annotation.clahe import clahe
    except ImportError as exc:
        raise SetupError("contrast 'clahe' needs pyfiji_dl.annotation.clahe, which this installation does "
                         f"not have ({exc}); use --contrast percentile.") from None
    return clahe


def _input_with_channels(image: np.ndarray, n_channels: int) -> np.ndarray:
    x = image[..., np.newaxis] if image.ndim == 2 else image
    if x.ndim != 3 or x.shape[-1] != n_channels:
        raise InputError(f"the model takes YX images with {n_channels} channel(s), not an array of shape {image.shape}")
    return x


def predict_normalized(model: UNetModel, image: np.ndarray, *, n_tiles=None) -> np.ndarray:
    """Foreground probability of an already preprocessed image (see :func:`preprocess`).

    The image is padded (mirrored) to a multiple of ``2**depth``; with more than
    one tile (CSBDeep's ``tile_iterator``, tiles of whole ``2**depth`` blocks), each tile
    is predicted with a halo of the network's receptive field, aligned to the pooling
    grid, and only its core is kept, so tiles give the whole-image result (up to float
    rounding).

    Parameters
    ----------
    model : UNetModel
    image : ndarray
        ``YX`` or ``YXC``, float.
    n_tiles : int or tuple, optional
        Tiles along Y and X (a third entry for C must be 1). Default: as few as fit
        in memory (:func:`pyfiji_dl.models.tiling.choose_n_tiles`).

    Returns
    -------
    ndarray of float32
        ``YX``, values in [0, 1].
    """
    from csbdeep.internals.predict import tile_iterator

    from ..tiling import choose_n_tiles

    x = _input_with_channels(np.asarray(image, dtype=np.float32), model.config.n_channel_in)
    height, width = x.shape[:2]
    div = model.config.divisible_by
    halo = model._axes_tile_overlap("Y")[0]
    if n_tiles is None:
        n_tiles = choose_n_tiles(x.shape, "YXC", grid=(div, div), overlap=(halo, halo))
    n_tiles = (int(n_tiles),) * 2 if np.isscalar(n_tiles) else tuple(int(n) for n in n_tiles)
    if len(n_tiles) not in (2, 3) or min(n_tiles[:2]) < 1 or (len(n_tiles) == 3 and n_tiles[2] != 1):
        raise OptionError(f"n_tiles {n_tiles}: give tiles along Y and X (and 1 for channels)")
    padded_shape = (round_up(height, div), round_up(width, div))
    padded = np.pad(x, ((0, padded_shape[0] - height), (0, padded_shape[1] - width), (0, 0)), mode="reflect")
    # CSBDeep's tiler warns when asked for more tiles than pooling blocks; we take as many as there are
    n_tiles = tuple(max(1, min(n, size // div)) for n, size in zip(n_tiles[:2], padded_shape)) + (1,)
    probability = np.empty(padded_shape + (1,), np.float32)
    with training.quiet_keras():
        # tiles on the pooling grid, each read with the halo and written without it (CSBDeep's tiling)
        for tile, core, target in tile_iterator(padded, n_tiles, block_sizes=(div, div, 1),
                                                n_block_overlaps=(halo // div, halo // div, 0), guarantee="n_tiles"):
            # a direct call, not predict(): no per-shape retracing, no progress output
            probability[target] = np.asarray(model.keras_model(tile[np.newaxis], training=False))[0][core]
    return probability[:height, :width, 0]


def predict(model: UNetModel, image: np.ndarray, *, n_tiles=None, block: dict | None = None) -> np.ndarray:
    """Foreground probability of one raw image (``YX``, or ``YXC`` channels last).

    Applies the model's contrast enhancement and normalisation, then
    :func:`predict_normalized`.

    Parameters
    ----------
    model : UNetModel
    image : ndarray
        Raw intensities.
    n_tiles : int or tuple, optional
        See :func:`predict_normalized`.
    block : dict, optional
        Accepted for the adapters' common signature and not needed: a U-Net's
        output is local, so tiles already bound memory for images of any size.

    Returns
    -------
    ndarray of float32
        ``YX`` probability map in [0, 1].
    """
    config = model.config
    normalized = preprocess(image, contrast_parameters(config), normalization_parameters(config))
    return predict_normalized(model, normalized, n_tiles=n_tiles)

