"""Automatic nucleus labels from a paired fluorescence channel (Salomon-Sörensen 2023).

Salomon-Sörensen ("Cell Identification from Microscopy Images using Deep Learning on
Automatically Labeled Data", Lund University MSc thesis, 2023) made training labels for a
transmitted-light U-Net from a nuclear stain
imaged at the same positions: CLAHE in Fiji (block size 127, 256 bins, maximum
slope 3.0), then CellProfiler's *IdentifyPrimaryObjects* with an adaptive
("local") Otsu threshold (window 20 x 20 px, threshold bounds 0.05-1.0), typical
diameter 5-30 px with objects outside that range discarded, and a dataset filter
dropping the 25 % of images with the fewest nucleus pixels and every image with
more nucleus than background pixels. This module does the same with plain
functions on NumPy arrays; files are read and written only by
:func:`pyfiji_dl.workflows.autolabel.autolabel_folder` (the folder run and its label QC).

How the CellProfiler steps are reproduced
-----------------------------------------
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
* **Fill holes** ("after both thresholding and declumping", the default):
  background regions enclosed by foreground and smaller than ``max_diameter ** 2``
  pixels are filled before objects are labelled (8-connected); after splitting and
  filtering, holes enclosed by a single object are filled. *Difference:*
  CellProfiler walks a region-adjacency graph (``fill_labeled_holes``); here a
  hole is a 4-connected background region that does not reach the image edge,
  which gives the same result except for background pockets shared by several
  touching objects (left open here).
* **Declumping.** CellProfiler's default splits clumps by intensity peaks.
  *Difference:* here splitting is off by default (``split_touching=False``; for a
  semantic U-Net the mask is the same) and ``True``/``"shape"`` splits with the
  distance transform, ``"intensity"`` with the smoothed intensity (sigma
  ``min_diameter / 3.5``), as CellProfiler's *Shape* and *Intensity* methods:
  regional maxima (a plateau is one seed) no closer than ``min_diameter / 1.5``
  to a higher one (CellProfiler's automatic "minimum allowed distance"), then a
  watershed inside the foreground (8-connected). For "shape", neighbouring
  pieces are merged again unless the lower peak stands at least ``split_h`` px
  above the saddle between them (h-maxima), so an elongated nucleus with a
  bumpy outline is not cut in two; CellProfiler instead adds random noise to
  break ties. Its low-resolution maxima search for ``min_diameter > 10`` is not
  used. Note that with small ``min_diameter`` "intensity" splits textured
  nuclei into pieces (as CellProfiler does with the same settings).
* **Border.** CellProfiler discards objects touching the image border by
  default. *Difference:* here ``exclude_border=False`` by default, because a
  nucleus cut by the border is still a nucleus in the transmitted-light image:
  removing it would teach the network to call it background. Pass ``True`` to
  match CellProfiler.
* **Size.** "Discard objects outside the diameter range": an object is *removed*
  (not merged, not kept in another map) when its equivalent diameter
  ``sqrt(4 area / pi)`` is below ``min_diameter`` or above ``max_diameter``,
  i.e. area outside ``[pi min^2 / 4, pi max^2 / 4]``, after splitting and border
  exclusion, exactly as CellProfiler's ``filter_on_size``. Labels are then
  renumbered 1..N in raster order of first pixel.

CLAHE is Fiji's ("Enhance Local Contrast (CLAHE)", a sliding window, not tiles),
from :func:`pyfiji_dl.annotation.clahe.clahe`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..errors import InputError, OptionError
from .objects import filter_by_area

__all__ = [
    "AdaptiveThreshold",
    "adaptive_otsu_threshold",
    "apply_threshold",
    "autolabel_image",
    "select_label_images",
    "exclusion_reasons",
    "REPORT_DIR_NAME",
]

REPORT_DIR_NAME = "autolabel_report"
"""Folder beside ``masks_dir`` that receives the QC table, pictures and excluded maps."""

GLOBAL_LIMITS = (0.7, 1.5)
"""CellProfiler keeps the adaptive threshold within these multiples of the global one."""

REASON_NO_OBJECTS = "no objects"
REASON_TOO_MUCH_FOREGROUND = "more foreground than background"


def _reason_lowest(lowest_fraction: float) -> str:
    return f"lowest {lowest_fraction * 100:g} % of foreground pixels"


def exclusion_reasons(lowest_fraction: float = 0.25) -> tuple:
    """The reason texts :func:`select_label_images` can give, most important first."""
    return (REASON_NO_OBJECTS, REASON_TOO_MUCH_FOREGROUND, _reason_lowest(lowest_fraction))


# ---------------------------------------------------------------------------
# thresholding
# ---------------------------------------------------------------------------


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
    image = _check_2d(image, "image")
    window = int(window)
    if window < 1:
        raise OptionError(f"window must be a positive number of pixels, got {window}")
    if not 0 <= lower_bound <= upper_bound:
        raise OptionError(f"threshold bounds must satisfy 0 <= lower <= upper, got ({lower_bound}, {upper_bound})")
    size = np.array(image.shape, dtype=int)
    n_blocks = size // window
    if np.any(n_blocks < 2):
        raise OptionError(
            f"adaptive window of {window} px is too large for a {size[1]} x {size[0]} image: "
            "it may be at most half of each dimension (CellProfiler's rule)."
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


# ---------------------------------------------------------------------------
# one image
# ---------------------------------------------------------------------------

_EIGHT = np.ones((3, 3), bool)


def autolabel_image(fluorescence, *, clahe=True, block_size=127, bins=256, max_slope=3.0,
                    window=20, bounds=(0.05, 1.0), min_diameter=5, max_diameter=30,
                    split_touching=False, exclude_border=False, smoothing_sigma=1.0,
                    fill_holes=True, split_h=1.0, intensity_range="auto"):
    """Nucleus label map from one fluorescence image (Salomon-Sörensen 2023's pipeline).

    CLAHE (Fiji's, sliding window), CellProfiler-style adaptive Otsu, hole
    filling, optional splitting of touching nuclei, border and size filters,
    labels renumbered 1..N. The module docstring lists each step and how it
    relates to CellProfiler's *IdentifyPrimaryObjects*.

    Parameters
    ----------
    fluorescence : ndarray, 2D
        The nuclear-stain image (YX), any real dtype. Not modified.
    clahe : bool
        Enhance local contrast first with Fiji's CLAHE.
    block_size, bins, max_slope :
        CLAHE parameters (Fiji's defaults, as Salomon-Sörensen 2023: 127, 256, 3.0).
    window : int
        Adaptive threshold window in pixels (Salomon-Sörensen 2023: 20).
    bounds : (float, float)
        Lower and upper bound on the threshold in 0-1 intensity units
        (Salomon-Sörensen 2023: 0.05, 1.0); see :func:`adaptive_otsu_threshold` for how
        intensities map to 0-1 (``intensity_range``).
    min_diameter, max_diameter : float
        Typical nucleus diameter range in pixels (Salomon-Sörensen 2023: 5, 30). Objects whose
        equivalent diameter ``sqrt(4 area / pi)`` is outside the range are
        **removed** from the label map (CellProfiler's "Discard objects outside
        the diameter range": Yes). ``min_diameter`` also sets the minimum distance
        between split seeds (``min_diameter / 1.5``).
    split_touching : bool or {"shape", "intensity"}
        Split touching nuclei by a seeded watershed. ``True`` means ``"shape"``
        (distance transform); ``"intensity"`` uses peaks of the smoothed image.
    exclude_border : bool
        Remove objects touching the image border (CellProfiler's default is
        True; False here keeps nuclei cut by the border labelled, see the module
        docstring).
    smoothing_sigma : float
        Gaussian sigma (px) applied before comparing with the threshold
        (CellProfiler: 1).
    fill_holes : bool
        Fill holes after thresholding (smaller than ``max_diameter ** 2``) and
        inside each final object.
    split_h : float
        For ``"shape"`` splitting: a seed must rise at least this many pixels of
        distance above the saddle to its neighbour.
    intensity_range :
        See :func:`adaptive_otsu_threshold`.

    Returns
    -------
    labels : ndarray of int32
        0 = background, objects 1..N.
    info : dict
        ``n_objects``, ``foreground_fraction`` (pixels in kept objects / all
        pixels), ``threshold_foreground_fraction`` (right after thresholding),
        ``global_threshold``, ``threshold_min``, ``threshold_mean``,
        ``threshold_max`` (0-1 units), ``global_threshold_intensity`` (in the units
        of the CLAHE output), ``intensity_low``, ``intensity_high``, ``n_split``
        (objects gained by splitting), ``n_removed_border``, ``n_removed_small``,
        ``n_removed_large``, ``clahe`` (``"fiji"`` or ``"off"``).
    """
    labels, info, _ = _autolabel(fluorescence, clahe=clahe, block_size=block_size, bins=bins,
                                 max_slope=max_slope, window=window, bounds=bounds,
                                 min_diameter=min_diameter, max_diameter=max_diameter,
                                 split_touching=split_touching, exclude_border=exclude_border,
                                 smoothing_sigma=smoothing_sigma, fill_holes=fill_holes,
                                 split_h=split_h, intensity_range=intensity_range)
    return labels, info


def _check_options(opts: dict) -> None:
    lo, hi = opts["bounds"]
    if not 0 <= lo <= hi:
        raise OptionError(f"bounds must satisfy 0 <= lower <= upper, got {opts['bounds']}")
    if not 0 < opts["min_diameter"] <= opts["max_diameter"]:
        raise OptionError(
            f"diameters must satisfy 0 < min_diameter <= max_diameter, got {opts['min_diameter']}, {opts['max_diameter']}"
        )
    if opts["split_touching"] not in (False, True, "shape", "intensity", None):
        raise OptionError(f"split_touching must be False, True, 'shape' or 'intensity', got {opts['split_touching']!r}")
    if int(opts["window"]) < 1:
        raise OptionError(f"window must be a positive number of pixels, got {opts['window']}")


def _autolabel(fluorescence, **opts):
    """``autolabel_image`` that also returns the enhanced image mapped to 0-1 (for pictures)."""
    from scipy import ndimage as ndi

    _check_options(opts)
    image = _check_2d(fluorescence, "fluorescence image")
    if opts["clahe"]:
        enhanced, backend = _run_clahe(image, opts["block_size"], opts["bins"], opts["max_slope"])
    else:
        enhanced, backend = image, "off"
    lo_bound, hi_bound = opts["bounds"]
    at = adaptive_otsu_threshold(enhanced, opts["window"], lo_bound, hi_bound,
                                 intensity_range=opts["intensity_range"])
    binary = apply_threshold(at.image01, at.threshold, opts["smoothing_sigma"])
    threshold_fraction = float(binary.mean())
    min_d, max_d = float(opts["min_diameter"]), float(opts["max_diameter"])
    if opts["fill_holes"]:
        binary = _fill_small_holes(binary, max_d * max_d)
    labels, n_components = ndi.label(binary, _EIGHT)
    n_split = 0
    split = opts["split_touching"]
    if split:
        labels = _split_touching(labels, at.image01, "shape" if split is True else split, min_d,
                                 opts["split_h"])
        n_split = int(np.count_nonzero(np.bincount(labels.ravel())[1:])) - n_components
    n_removed_border = 0
    if opts["exclude_border"]:
        labels, n_removed_border = _remove_border_objects(labels)
    kept = _filter_diameter(labels, min_d, max_d)
    labels, n_small, n_large = kept.labels, kept.n_small, kept.n_large
    if opts["fill_holes"]:
        # a filled hole joins the one object around it and never holds that object's first
        # pixel (the pixel above a hole's first pixel is that object's), so renumbering
        # before filling numbers the objects as renumbering after it did
        labels = _fill_object_holes(labels)
    n_objects = int(labels.max())
    low, high = at.intensity_range
    info = {
        "n_objects": n_objects,
        "foreground_fraction": float(np.count_nonzero(labels)) / labels.size,
        "threshold_foreground_fraction": threshold_fraction,
        "global_threshold": at.global_threshold,
        "global_threshold_intensity": low + at.global_threshold * (high - low),
        "threshold_min": float(at.threshold.min()),
        "threshold_mean": float(at.threshold.mean()),
        "threshold_max": float(at.threshold.max()),
        "intensity_low": low,
        "intensity_high": high,
        "n_split": n_split,
        "n_removed_border": n_removed_border,
        "n_removed_small": n_small,
        "n_removed_large": n_large,
        "clahe": backend,
    }
    return labels, info, at.image01


def _check_2d(image, what):
    image = np.asarray(image)
    if image.dtype == bool or image.dtype.kind not in "uif":
        raise InputError(f"{what}: needs a greyscale intensity image, got dtype {image.dtype}")
    if image.ndim == 3 and image.shape[-1] in (3, 4):
        raise InputError(f"{what}: looks like an RGB image {image.shape}; pass the nuclear channel only.")
    if image.ndim != 2:
        raise InputError(f"{what}: needs a 2D image (YX), got shape {image.shape}.")
    return image


def _run_clahe(image, block_size, bins, max_slope):
    """Fiji's CLAHE (:func:`pyfiji_dl.annotation.clahe.clahe`); returns (image, backend name).

    ImageJ has 8-bit, 16-bit and 32-bit greyscale images; other types are
    converted to 32-bit float first, as Fiji would hold them.
    """
    from .clahe import clahe as fiji_clahe

    if image.dtype not in (np.uint8, np.uint16, np.float32, np.float64):
        image = image.astype(np.float32)
    return fiji_clahe(image, block_size=block_size, bins=bins, max_slope=max_slope), "fiji"


def _filter_diameter(labels, min_diameter, max_diameter):
    """Keep objects whose equivalent diameter is in ``[min, max]`` (CellProfiler's size rule), renumbered."""
    return filter_by_area(labels, math.pi * min_diameter * min_diameter / 4.0,
                          math.pi * max_diameter * max_diameter / 4.0, order="raster")


def _fill_small_holes(binary, max_area):
    """Fill background regions enclosed by foreground and smaller than ``max_area`` pixels."""
    from scipy import ndimage as ndi

    holes = ndi.binary_fill_holes(binary) & ~binary
    if not holes.any():
        return binary
    hole_labels, n = ndi.label(holes)
    sizes = np.bincount(hole_labels.ravel(), minlength=n + 1)
    small = sizes < max_area
    small[0] = False
    return binary | small[hole_labels]


def _fill_object_holes(labels):
    """Fill holes (4-connected background not reaching the edge) enclosed by one object."""
    from scipy import ndimage as ndi

    foreground = labels > 0
    holes = ndi.binary_fill_holes(foreground) & ~foreground
    if not holes.any():
        return labels
    hole_labels, n = ndi.label(holes)
    # labels of the objects around each hole: object pixels 4-adjacent to hole pixels
    pairs = []
    for axis in (0, 1):
        for shift in (1, -1):
            h = np.roll(hole_labels, shift, axis=axis)
            # np.roll wraps; holes never touch the edge, so wrapped rows/cols are 0 there
            sel = (h > 0) & foreground
            pairs.append(np.stack([h[sel], labels[sel]], axis=1))
    pairs = np.unique(np.concatenate(pairs), axis=0)
    n_neighbours = np.bincount(pairs[:, 0], minlength=n + 1)
    single = n_neighbours == 1
    fill_value = np.zeros(n + 1, labels.dtype)
    fill_value[pairs[:, 0]] = pairs[:, 1]
    fill_value[~single] = 0
    fill = fill_value[hole_labels]
    out = labels.copy()
    out[fill > 0] = fill[fill > 0]
    return out


def _disk(radius):
    r = int(math.floor(radius))
    yy, xx = np.mgrid[-r: r + 1, -r: r + 1]
    return (yy * yy + xx * xx) <= radius * radius


def _split_touching(labels, image01, method, min_diameter, split_h):
    """Seeded watershed inside the foreground (CellProfiler Shape/Intensity declumping).

    Seeds are the regional maxima of the distance transform ("shape") or of the
    smoothed image ("intensity"), a plateau being one seed, none closer than
    ``min_diameter / 1.5`` to a higher one. For "shape", neighbouring basins are
    then merged when the lower peak rises less than ``split_h`` above the saddle
    between them (the h-maxima criterion, computed on the basin adjacency
    graph instead of by morphological reconstruction, which is slow).
    """
    from scipy import ndimage as ndi
    from skimage.morphology import local_maxima
    from skimage.segmentation import watershed

    foreground = labels > 0
    if not foreground.any():
        return labels
    if method == "shape":
        surface = ndi.distance_transform_edt(foreground)
        h = float(split_h or 0.0)
    elif method == "intensity":
        sigma = min_diameter / 3.5  # CellProfiler: filter size 2.35 * min / 3.5, sigma = size / 2.35
        surface = ndi.gaussian_filter(np.where(foreground, image01, 0.0), sigma) if sigma > 0 else image01
        h = 0.0
    else:
        raise OptionError(f"split_touching must be 'shape' or 'intensity', got {method!r}")
    masked = np.where(foreground, surface, -np.inf)
    seeds = local_maxima(masked, connectivity=2, allow_borders=True) & foreground
    # no seed within CellProfiler's "minimum allowed distance" of a higher one
    footprint = _disk(max(1.0, min_diameter / 1.5 - 0.5))
    seed_values = np.where(seeds, surface, -np.inf)
    higher_near = ndi.maximum_filter(seed_values, footprint=footprint, mode="constant", cval=-np.inf) > seed_values
    markers, n_markers = ndi.label(seeds, _EIGHT)
    keep = np.ones(n_markers + 1, bool)
    keep[markers[seeds & higher_near]] = False
    keep[0] = False
    renumber = np.zeros(n_markers + 1, np.int32)
    renumber[keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    markers = renumber[markers]
    n_markers = int(keep.sum())
    # every component keeps at least one seed (its highest point)
    has_seed = np.zeros(int(labels.max()) + 1, bool)
    has_seed[labels[markers > 0]] = True
    missing = np.flatnonzero(~has_seed[1:]) + 1
    if missing.size:
        for k, pos in enumerate(ndi.maximum_position(surface, labels, missing), start=1):
            markers[pos] = n_markers + k
        n_markers += missing.size
    basins = watershed(-surface, markers=markers, mask=foreground, connectivity=2).astype(np.int32, copy=False)
    if h > 0 and n_markers > 1:
        basins = _merge_shallow_basins(basins, surface, h)
    return basins


def _merge_shallow_basins(basins, surface, h):
    """Merge neighbouring basins whose lower peak is less than ``h`` above their saddle."""
    n = int(basins.max())
    peaks = np.full(n + 1, -np.inf)
    inside = basins > 0
    np.maximum.at(peaks, basins[inside], surface[inside])
    # saddle between two basins: highest min(surface) over 8-adjacent pixel pairs across their border
    a_list, b_list, s_list = [], [], []
    shifts = ((slice(None), slice(1, None)), (slice(None), slice(None, -1))), \
             ((slice(1, None), slice(None)), (slice(None, -1), slice(None))), \
             ((slice(1, None), slice(1, None)), (slice(None, -1), slice(None, -1))), \
             ((slice(1, None), slice(None, -1)), (slice(None, -1), slice(1, None)))
    for p, q in shifts:
        a, b = basins[p], basins[q]
        sel = (a > 0) & (b > 0) & (a != b)
        if sel.any():
            a_list.append(np.minimum(a[sel], b[sel]))
            b_list.append(np.maximum(a[sel], b[sel]))
            s_list.append(np.minimum(surface[p][sel], surface[q][sel]))
    if not a_list:
        return basins
    a = np.concatenate(a_list).astype(np.int64)
    b = np.concatenate(b_list).astype(np.int64)
    s = np.concatenate(s_list)
    key = a * (n + 1) + b
    order = np.lexsort((-s, key))  # per pair, highest saddle first
    key, s = key[order], s[order]
    first = np.ones(key.size, bool)
    first[1:] = key[1:] != key[:-1]
    key, s = key[first], s[first]
    a, b = key // (n + 1), key % (n + 1)
    parent = np.arange(n + 1)

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    top = peaks.copy()
    for k in np.argsort(-s, kind="stable"):  # descending saddles, as in the dynamics of h-maxima
        ra, rb = find(a[k]), find(b[k])
        if ra != rb and min(top[ra], top[rb]) - s[k] < h:
            parent[rb] = ra
            top[ra] = max(top[ra], top[rb])
    roots = np.array([find(i) for i in range(n + 1)])
    return roots[basins].astype(np.int32, copy=False)


def _remove_border_objects(labels):
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    edge = edge[edge > 0]
    if edge.size == 0:
        return labels, 0
    out = labels.copy()
    out[np.isin(labels, edge)] = 0
    return out, int(edge.size)


# ---------------------------------------------------------------------------
# dataset QC
# ---------------------------------------------------------------------------


def select_label_images(foreground_fractions, lowest_fraction=0.25, *, max_foreground=0.5):
    """Salomon-Sörensen 2023's dataset filter: which automatic label maps to train on.

    Rules, each giving an exclusion reason (the first that applies is reported):

    1. ``"no objects"``: foreground fraction 0.
    2. ``"more foreground than background"``: fraction strictly above
       ``max_foreground`` (0.5: more nucleus than background pixels; exactly
       half is kept).
    3. ``"lowest 25 % of foreground pixels"``: among *all* images given
       (including those excluded by 1-2), the ``floor(lowest_fraction * n)``
       with the smallest fractions. Ties: images with equal fractions are
       treated alike and a tie at the cut-off is kept, i.e. an image is dropped
       only if its fraction is strictly smaller than that of the
       ``(k + 1)``-th smallest. So at most ``floor(lowest_fraction * n)`` images
       are dropped by this rule (none when ``n < 1 / lowest_fraction``), the
       result does not depend on the order of the images, and equal images
       never get different verdicts.

    Parameters
    ----------
    foreground_fractions : sequence of float
        Fraction of pixels inside kept objects, one per image, in [0, 1].
    lowest_fraction : float
        Fraction of the dataset dropped for too little foreground (0 = none).
    max_foreground : float
        Largest allowed foreground fraction.

    Returns
    -------
    list of dict
        One per image, in input order: ``kept`` (bool), ``reason`` (str, empty
        when kept), ``rank`` (1 = least foreground; equal fractions share the
        rank of the first of them).

    Examples
    --------
    >>> [r["reason"] or "kept" for r in select_label_images([0.0, 0.1, 0.2, 0.3, 0.6, 0.12, 0.15, 0.18])]
    ['no objects', 'lowest 25 % of foreground pixels', 'kept', 'kept', 'more foreground than background', 'kept', 'kept', 'kept']
    """
    fractions = np.asarray(list(foreground_fractions), dtype=np.float64).reshape(-1)
    if fractions.size and (not np.all(np.isfinite(fractions)) or fractions.min() < 0 or fractions.max() > 1):
        raise InputError("foreground fractions must be finite numbers in [0, 1]; leave out images that failed.")
    if not 0 <= lowest_fraction < 1:
        raise OptionError(f"lowest_fraction must be in [0, 1), got {lowest_fraction}")
    n = fractions.size
    k = int(math.floor(lowest_fraction * n + 1e-9))
    sorted_f = np.sort(fractions)
    cutoff = sorted_f[k] if k < n else np.inf
    lowest = fractions < cutoff if k > 0 else np.zeros(n, bool)
    ranks = np.searchsorted(sorted_f, fractions, side="left") + 1
    out = []
    for i, f in enumerate(fractions):
        if f == 0:
            reason = REASON_NO_OBJECTS
        elif f > max_foreground:
            reason = REASON_TOO_MUCH_FOREGROUND
        elif lowest[i]:
            reason = _reason_lowest(lowest_fraction)
        else:
            reason = ""
        out.append({"kept": not reason, "reason": reason, "rank": int(ranks[i])})
    return out
