"""Automatic nucleus labels from a paired fluorescence channel (Salomon-Sörensen 2023).

Salomon-Sörensen ("Cell Identification from Microscopy Images using Deep Learning on
Automatically Labeled Data", Lund University MSc thesis, 2023) made training labels for a
transmitted-light U-Net from a nuclear stain
imaged at the same positions: CLAHE in Fiji (block size 127, 256 bins, maximum
slope 3.0), then CellProfiler's *IdentifyPrimaryObjects* with an adaptive
("local") Otsu threshold (window 20 x 20 px, threshold bounds 0.05-1.0), typical
diameter 5-30 px with objects outside that range discarded, and a dataset filter
dropping the 25 % of images with the fewest nucleus pixels and every image with
more nucleus than background pixels. This module and the three below do the same
with plain functions on NumPy arrays; files are read and written only by
:func:`pyfiji_dl.workflows.autolabel.autolabel_folder` (the folder run and its label QC).

The steps live in their own modules: the threshold in
:mod:`~pyfiji_dl.annotation.adaptive_otsu` (CellProfiler's adaptive Otsu), the clean-up of
the mask into objects in :mod:`~pyfiji_dl.annotation.object_cleanup` (holes, declumping,
border, size) and the folder's dataset filter in :mod:`~pyfiji_dl.annotation.label_selection`;
each module's docstring says how it follows CellProfiler and where it differs.

CLAHE is Fiji's ("Enhance Local Contrast (CLAHE)", a sliding window, not tiles),
from :func:`pyfiji_dl.annotation.clahe.clahe`.
"""

from __future__ import annotations

import numpy as np

from ..errors import OptionError
from .adaptive_otsu import AdaptiveThreshold, adaptive_otsu_threshold, apply_threshold, check_greyscale_2d
from .label_selection import exclusion_reasons, select_label_images
from .object_cleanup import (EIGHT_CONNECTED, fill_object_holes, fill_small_holes, filter_diameter,
                             remove_border_objects, split_touching_objects)

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


def autolabel_image(fluorescence, *, clahe=True, block_size=127, bins=256, max_slope=3.0,
                    window=20, bounds=(0.05, 1.0), min_diameter=5, max_diameter=30,
                    split_touching=False, exclude_border=False, smoothing_sigma=1.0,
                    fill_holes=True, split_h=1.0, intensity_range="auto"):
    """Nucleus label map from one fluorescence image (Salomon-Sörensen 2023's pipeline).

    CLAHE (Fiji's, sliding window), CellProfiler-style adaptive Otsu, hole
    filling, optional splitting of touching nuclei, border and size filters,
    labels renumbered 1..N. The docstrings of :mod:`~pyfiji_dl.annotation.adaptive_otsu`
    and :mod:`~pyfiji_dl.annotation.object_cleanup` list each step and how it relates to
    CellProfiler's *IdentifyPrimaryObjects*.

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
        True; False here keeps nuclei cut by the border labelled, see
        :mod:`~pyfiji_dl.annotation.object_cleanup`).
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
    image = check_greyscale_2d(fluorescence, "fluorescence image")
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
        binary = fill_small_holes(binary, max_d * max_d)
    labels, n_components = ndi.label(binary, EIGHT_CONNECTED)
    n_split = 0
    split = opts["split_touching"]
    if split:
        labels = split_touching_objects(labels, at.image01, "shape" if split is True else split, min_d,
                                 opts["split_h"])
        n_split = int(np.count_nonzero(np.bincount(labels.ravel())[1:])) - n_components
    n_removed_border = 0
    if opts["exclude_border"]:
        labels, n_removed_border = remove_border_objects(labels)
    kept = filter_diameter(labels, min_d, max_d)
    labels, n_small, n_large = kept.labels, kept.n_small, kept.n_large
    if opts["fill_holes"]:
        # a filled hole joins the one object around it and never holds that object's first
        # pixel (the pixel above a hole's first pixel is that object's), so renumbering
        # before filling numbers the objects as renumbering after it did
        labels = fill_object_holes(labels)
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


def _run_clahe(image, block_size, bins, max_slope):
    """Fiji's CLAHE (:func:`pyfiji_dl.annotation.clahe.clahe`); returns (image, backend name).

    ImageJ has 8-bit, 16-bit and 32-bit greyscale images; other types are
    converted to 32-bit float first, as Fiji would hold them.
    """
    from .clahe import clahe as fiji_clahe

    if image.dtype not in (np.uint8, np.uint16, np.float32, np.float64):
        image = image.astype(np.float32)
    return fiji_clahe(image, block_size=block_size, bins=bins, max_slope=max_slope), "fiji"
