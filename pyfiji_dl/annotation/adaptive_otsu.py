"""CellProfiler's adaptive ("local") Otsu threshold, as Salomon-Sörensen 2023 labels nuclei with it.

The thresholding step of :func:`pyfiji_dl.annotation.autolabel.autolabel_image`: the
per-pixel threshold of CellProfiler's *IdentifyPrimaryObjects* (adaptive Otsu, window
20 x 20 px, bounds 0.05-1.0 in Salomon-Sörensen, "Cell Identification from Microscopy
Images using Deep Learning on Automatically Labeled Data", Lund University MSc thesis, 2023).

How CellProfiler's threshold is reproduced
------------------------------------------
Learned from CellProfiler 4/5 (``cellprofiler_library.functions.image_processing``:
``get_adaptive_threshold``, ``get_global_threshold``, ``apply_threshold``;
``modules/_identifyprimaryobjects.py``; ``functions/object_processing.py``) and
centrosome (``threshold.py``, ``cpmorphology.fill_labeled_holes``):

* **Intensities in 0-1.** CellProfiler thresholds images scaled to 0-1 and the
  bounds 0.05-1.0 are in those units. 8-bit images are divided by 255 as
  CellProfiler does. *Difference:* other types (16-bit, 32-bit) are mapped by
  their own minimum and maximum, because CellProfiler's division of 16-bit data
  by 65535 puts the whole of a typical 12-bit camera image (or an 8-bit range
  stored in 16 bits) below the 0.05 bound and nothing would be found. Choose with
  ``intensity_range``.
* **Blocks.** ``n = size // window`` blocks per axis; block ``i`` spans pixels
  ``int(i * size / n)`` to ``int((i + 1) * size / n)``, so blocks are ``window``
  to ``window + 1`` px wide and tile the image exactly. An image smaller than two
  windows along an axis is an error, as in CellProfiler.
* **Otsu per block.** As ``skimage.filters.threshold_otsu`` on floating-point
  data: 256 bins between the block's minimum and maximum, threshold at the centre
  of the bin maximising the between-class variance (computed here for all blocks
  at once; equal to calling skimage block by block). A block with a single value
  takes that value. Like CellProfiler, pixels equal to 0 are left out of the
  block statistics (CellProfiler's way of ignoring masked pixels;
  ``ignore_zeros=False`` keeps them); a block with nothing left gets 0.
* **Interpolation.** The block thresholds sit at the block centres and a cubic
  (or lower order for fewer than 4 blocks) interpolating spline,
  ``scipy.interpolate.RectBivariateSpline`` with CellProfiler's node and pixel
  coordinates, turns them into a smooth per-pixel threshold.
* **Global guide.** Otsu of the whole image (zeros included), clipped to the
  bounds, is the *global threshold* ``G``; the per-pixel threshold is clipped to
  ``[max(lower_bound, 0.7 G), min(upper_bound, 1.5 G)]``. This is what stops
  blocks of pure background from finding "nuclei" in noise.
* **Smoothing before thresholding.** *IdentifyPrimaryObjects* sets the threshold
  smoothing scale to 1.3488, i.e. a Gaussian of sigma 1 px applied to the image
  (with edge correction) before it is compared with the threshold, which itself
  is computed on the unsmoothed image; foreground is ``smoothed >= threshold``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..errors import InputError, OptionError
from ..io.tiff import require_intensity_pixels

__all__ = ["AdaptiveThreshold", "adaptive_otsu_threshold", "apply_threshold", "check_greyscale_2d", "GLOBAL_LIMITS"]

GLOBAL_LIMITS = (0.7, 1.5)
"""CellProfiler keeps the adaptive threshold within these multiples of the global one."""


class AdaptiveThreshold(NamedTuple):
    """Result of :func:`adaptive_otsu_threshold`.

    Attributes
    ----------
    threshold : ndarray of float64
        Per-pixel threshold, in the 0-1 units of ``image01``.
    global_threshold : float
        Otsu threshold of the whole image clipped to the bounds (0-1 units).
    image01 : ndarray of float64
        The image mapped to 0-1 (``(image - low) / (high - low)``).
    intensity_range : (float, float)
        ``(low, high)``: the original intensities mapped to 0 and 1. A threshold
        ``t`` in 0-1 units is ``low + t * (high - low)`` in image units.
    n_blocks : (int, int)
        Blocks along Y and X.
    """

    threshold: np.ndarray
    global_threshold: float
    image01: np.ndarray
    intensity_range: tuple
    n_blocks: tuple


def adaptive_otsu_threshold(image, window=20, lower_bound=0.05, upper_bound=1.0, *,
                            global_limits=GLOBAL_LIMITS, mask=None, ignore_zeros=True,
                            nbins=256, intensity_range="auto") -> AdaptiveThreshold:
    """CellProfiler's "Adaptive" Otsu threshold: Otsu per block, splined, clipped.

    See the module docstring for every step and where it departs from
    CellProfiler.

    Parameters
    ----------
    image : ndarray, 2D
        Greyscale image (any real dtype).
    window : int
        Adaptive window size in pixels (CellProfiler's "Size of adaptive
        window"); the image is cut into ``size // window`` blocks per axis.
    lower_bound, upper_bound : float
        Bounds on the threshold, in 0-1 intensity units (Salomon-Sörensen 2023: 0.05, 1.0).
    global_limits : (float, float)
        The per-pixel threshold stays within these multiples of the global
        threshold (CellProfiler: 0.7, 1.5).
    mask : ndarray of bool, optional
        Pixels to use; others are left out of all statistics.
    ignore_zeros : bool
        Leave pixels equal to 0 (after mapping to 0-1) out of the per-block Otsu,
        as CellProfiler does.
    nbins : int
        Histogram bins of each Otsu (256, as skimage and CellProfiler).
    intensity_range : {"auto", "dtype", "image"} or (float, float)
        How intensities map to 0-1. ``"auto"``: 8-bit divided by 255, float data
        already within 0-1 kept, anything else by its minimum and maximum.
        ``"dtype"``: integers divided by their type's maximum (CellProfiler's
        rule), floats kept. ``"image"``: minimum and maximum of ``image``. A pair
        ``(low, high)``: those values map to 0 and 1.

    Returns
    -------
    AdaptiveThreshold

    Raises
    ------
    ValueError
        If the image is not 2D, or smaller than two windows along an axis.
    """
    image = check_greyscale_2d(image, "image")
    window = int(window)
    if window < 1:
        raise OptionError(f"window must be a positive number of pixels, got {window}")
    if not 0 <= lower_bound <= upper_bound:
        raise OptionError(f"threshold bounds must satisfy 0 <= lower <= upper, got ({lower_bound}, {upper_bound})")
    size = np.array(image.shape, dtype=int)
    n_blocks = size // window
    if np.any(n_blocks < 2):
        largest = int(size.min()) // 2
        what_to_do = (f"choose a window of at most {largest} px" if largest >= 1
                      else "the image needs at least 2 pixels along each axis")
        raise OptionError(
            f"adaptive window of {window} px is too large for a {size[1]} x {size[0]} image: "
            f"it may be at most half of each dimension (CellProfiler's rule); {what_to_do}."
        )
    image01, low_high = _to_unit_range(image, intensity_range)
    valid = np.ones(image.shape, bool) if mask is None else np.asarray(mask, bool)
    if valid.shape != image.shape:
        raise InputError(f"mask {valid.shape} and image {image.shape} differ in shape")

    # global threshold: Otsu of all used pixels, clipped to the bounds
    if valid.any():
        global_t = float(_otsu_blocks(image01[valid][None, :], np.ones((1, int(valid.sum())), bool), nbins)[0])
    else:
        global_t = 0.0
    global_t = min(max(global_t, lower_bound), upper_bound)

    block_valid = valid & (image01 != 0) if ignore_zeros else valid
    block_t = _block_thresholds(image01, block_valid, n_blocks, nbins)
    threshold = _spline_blocks(block_t, size, n_blocks)
    t_min = max(lower_bound, global_t * global_limits[0])
    t_max = min(upper_bound, global_t * global_limits[1])
    np.clip(threshold, t_min, max(t_min, t_max), out=threshold)
    return AdaptiveThreshold(threshold, global_t, image01, low_high, (int(n_blocks[0]), int(n_blocks[1])))


def apply_threshold(image01, threshold, smoothing_sigma=1.0, mask=None):
    """Foreground where the (smoothed) image is at or above the threshold.

    Parameters
    ----------
    image01 : ndarray
        Image in the units of ``threshold``.
    threshold : float or ndarray
    smoothing_sigma : float
        Gaussian sigma in pixels applied before the comparison, with the edge
        correction CellProfiler uses (the blur of the image divided by the blur of
        the mask, so borders are not darkened). 0 = none. *IdentifyPrimaryObjects*
        uses 1 (threshold smoothing scale 1.3488).
    mask : ndarray of bool, optional

    Returns
    -------
    ndarray of bool
    """
    from scipy import ndimage as ndi

    image01 = np.asarray(image01, dtype=np.float64)
    valid = np.ones(image01.shape, bool) if mask is None else np.asarray(mask, bool)
    if smoothing_sigma and smoothing_sigma > 0:
        weights = ndi.gaussian_filter(valid.astype(np.float64), smoothing_sigma, mode="constant", cval=0.0)
        blurred = ndi.gaussian_filter(np.where(valid, image01, 0.0), smoothing_sigma, mode="constant", cval=0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            image01 = np.where(valid, blurred / weights, 0.0)
    return (image01 >= threshold) & valid


def _to_unit_range(image, intensity_range):
    data = np.asarray(image)
    if isinstance(intensity_range, str):
        if intensity_range not in ("auto", "dtype", "image"):
            raise OptionError(f"intensity_range must be 'auto', 'dtype', 'image' or (low, high), got {intensity_range!r}")
        finite = data[np.isfinite(data)] if data.dtype.kind == "f" else data
        lo = float(finite.min()) if finite.size else 0.0
        hi = float(finite.max()) if finite.size else 1.0
        if intensity_range == "dtype" or (intensity_range == "auto" and data.dtype == np.uint8):
            low, high = (0.0, float(np.iinfo(data.dtype).max)) if data.dtype.kind in "ui" else (0.0, 1.0)
        elif intensity_range == "auto" and data.dtype.kind == "f" and lo >= 0.0 and hi <= 1.0:
            low, high = 0.0, 1.0
        else:
            low, high = lo, hi
    else:
        low, high = map(float, intensity_range)
    span = high - low
    out = data.astype(np.float64)
    if span > 0:
        out -= low
        out /= span
    else:
        out = np.zeros(data.shape, np.float64)
    out[~np.isfinite(out)] = 0.0
    return out, (low, high)


def _block_edges(size: int, n: int) -> np.ndarray:
    increment = size / n
    return np.array([int(i * increment) for i in range(n + 1)])


def _block_thresholds(image01, valid, n_blocks, nbins):
    """Otsu threshold of each block, as skimage's ``threshold_otsu`` on the valid pixels."""
    ny, nx = (int(n) for n in n_blocks)
    ey = _block_edges(image01.shape[0], ny)
    ex = _block_edges(image01.shape[1], nx)
    # crop to the blocks (they tile the image exactly, but be safe with rounding)
    image01 = image01[: ey[-1], : ex[-1]]
    valid = valid[: ey[-1], : ex[-1]]
    row_block = np.repeat(np.arange(ny), np.diff(ey))
    col_block = np.repeat(np.arange(nx), np.diff(ex))
    block_id = (row_block[:, None] * nx + col_block[None, :])[valid]
    values = image01[valid]
    order = np.argsort(block_id, kind="stable")
    block_id, values = block_id[order], values[order]
    counts = np.bincount(block_id, minlength=ny * nx)
    width = int(counts.max()) if counts.size else 0
    # ragged -> padded (n_blocks, width) so all blocks are processed at once
    padded = np.zeros((ny * nx, max(width, 1)), np.float64)
    present = np.arange(max(width, 1))[None, :] < counts[:, None]
    padded[present] = values
    out = _otsu_blocks(padded, present, nbins)
    return out.reshape(ny, nx)


def _otsu_blocks(values, present, nbins):
    """Row-wise Otsu of ``values[present]``, numerically as ``skimage.filters.threshold_otsu``.

    Float path of skimage: ``np.histogram(bins=nbins, range=(min, max))``, bin
    centres, argmax of the between-class variance (first maximum). Rows with one
    value return it; empty rows return 0.
    """
    n_rows = values.shape[0]
    has = present.any(axis=1)
    vmin = np.where(present, values, np.inf).min(axis=1)
    vmax = np.where(present, values, -np.inf).max(axis=1)
    result = np.zeros(n_rows, np.float64)
    constant = has & (vmin == vmax)
    result[constant] = vmin[constant]
    rows = np.flatnonzero(has & (vmin < vmax))
    if rows.size == 0:
        return result
    vals, pres = values[rows], present[rows]
    first, last = vmin[rows], vmax[rows]
    edges = np.linspace(first, last, nbins + 1, axis=1)
    # np.histogram's uniform-bin index computation, including its edge corrections
    norm_denom = (last - first)[:, None]
    f_idx = ((vals - first[:, None]) / norm_denom) * nbins
    idx = np.clip(f_idx, 0, nbins).astype(np.intp)
    idx[idx == nbins] -= 1
    r = np.arange(rows.size)[:, None]
    idx[vals < edges[r, idx]] -= 1
    inc = (vals >= edges[r, idx + 1]) & (idx != nbins - 1)
    idx[inc] += 1
    flat = (r * nbins + idx)[pres]
    counts = np.bincount(flat, minlength=rows.size * nbins).reshape(rows.size, nbins)
    centers = (edges[:, :-1] + edges[:, 1:]) / 2.0
    weight1 = np.cumsum(counts, axis=1)
    weight2 = np.cumsum(counts[:, ::-1], axis=1)[:, ::-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean1 = np.cumsum(counts * centers, axis=1) / weight1
        mean2 = (np.cumsum((counts * centers)[:, ::-1], axis=1) / weight2[:, ::-1])[:, ::-1]
    variance12 = weight1[:, :-1] * weight2[:, 1:] * (mean1[:, :-1] - mean2[:, 1:]) ** 2
    best = np.argmax(np.nan_to_num(variance12, nan=-np.inf), axis=1)
    result[rows] = centers[np.arange(rows.size), best]
    return result


def _spline_blocks(block_t, size, n_blocks):
    """Per-pixel threshold from block thresholds, with CellProfiler's spline geometry."""
    from scipy.interpolate import RectBivariateSpline

    ny, nx = int(n_blocks[0]), int(n_blocks[1])
    inc = size.astype(float) / np.array([ny, nx], float)
    order = int(min(3, min(ny, nx) - 1))
    ys = np.linspace(int(inc[0] / 2), int((ny - 0.5) * inc[0]), ny)
    xs = np.linspace(int(inc[1] / 2), int((nx - 0.5) * inc[1]), nx)
    spline = RectBivariateSpline(ys, xs, block_t, bbox=(0.5, size[0] - 0.5, 0.5, size[1] - 0.5),
                                 kx=order, ky=order)
    out_y = np.linspace(0.5, int(ny * inc[0]) - 0.5, int(size[0]))
    out_x = np.linspace(0.5, int(nx * inc[1]) - 0.5, int(size[1]))
    return np.asarray(spline(out_y, out_x), dtype=np.float64)


def check_greyscale_2d(image, what):
    """``image`` as an array, if it is one greyscale 2D plane (YX); ``what`` names it in the error."""
    image = require_intensity_pixels(image, what)
    if image.ndim == 3 and image.shape[-1] in (3, 4):
        raise InputError(f"{what}: looks like an RGB image {image.shape}; pass the nuclear channel only.")
    if image.ndim != 2:
        raise InputError(f"{what}: needs a 2D image (YX), got shape {image.shape}.")
    return image
