"""Bootstrap annotation: auto-threshold + particle analysis -> label map / ROI set.

This is the first step of the manual Fiji protocol (Image > Adjust > Threshold,
then Analyze > Analyze Particles... with "Add to Manager"), done in Python so the
user starts correcting ROIs instead of drawing every one.

What ImageJ's ``ParticleAnalyzer`` does (the same in 1.53t and 1.54p), and what
:func:`bootstrap_labels` repeats:

* It scans the thresholded pixels in raster order; at each pixel not yet taken
  the Wand traces the outer boundary of its **8-connected** particle.
* **Include holes** (``fill_holes=True``): the particle is everything inside that
  outline, i.e. holes are filled, and anything inside a hole (even another
  particle) belongs to it. Its area is that pixel count. Without it, the particle
  is only its own 8-connected pixels, and particles inside holes are separate.
* **Exclude on edges**: a particle whose bounding box touches the image border
  is dropped (its pixels are still taken, so nothing inside it reappears).
* **Size**: kept when ``min_area <= area <= max_area`` (pixels).
* Particles are numbered in the order the scan meets them: raster order of their
  first (top-most, then left-most) pixel.

``split_touching`` adds a distance-transform watershed in the spirit of ImageJ's
Process > Binary > Watershed: seeds are the maxima of the Euclidean distance map
that stand out by more than 0.5 px (ImageJ's ultimate eroded points), and every
foreground pixel goes to one seed (ImageJ would leave 1-px background lines
between the pieces; here the pieces touch, which suits label maps). Size and
edge filters then apply to the pieces.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from scipy import ndimage

from ..errors import InputError, OptionError, PyfijiDLError
from ..io.rois import write_rois
from ..io.tiff import ImageReadError, read_image
from .convert import labels_to_rois
from .threshold import auto_threshold, canonical_method, mask_from_limits
from .objects import filter_by_area
from .watershed import split_touching as _split_touching

__all__ = ["BootstrapError", "bootstrap_labels", "bootstrap_rois_file"]

_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


class BootstrapError(PyfijiDLError, ValueError):
    """An image cannot be bootstrapped; the message names the file and what to do."""


def _particles(mask: np.ndarray, *, min_area, max_area, exclude_edges, split_touching, fill_holes) -> np.ndarray:
    """Label map of one thresholded plane, as the ParticleAnalyzer would outline it."""
    if fill_holes:
        # background not 4-connected to the outside lies inside a particle's outline
        mask = ndimage.binary_fill_holes(mask)
    if split_touching:
        labels = _split_touching(mask)
    else:
        labels, _ = ndimage.label(mask, structure=_EIGHT_CONNECTED)
    border = np.unique(np.concatenate((labels[0], labels[-1], labels[:, 0], labels[:, -1]))) if exclude_edges else ()
    return filter_by_area(labels, min_area, max_area, order="raster", drop=border).labels


def _check_area(name: str, value) -> float:
    if value is None:
        return None
    value = float(value)
    if not value >= 0:
        raise OptionError(f"{name} must be a number of pixels >= 0, got {value!r}")
    return value


def bootstrap_labels(
    image,
    method: str = "Default",
    *,
    dark_background: bool = True,
    min_area: float = 0,
    max_area: float | None = None,
    exclude_edges: bool = False,
    split_touching: bool = False,
    fill_holes: bool = True,
    stack_histogram: bool = False,
    imagej: str = "1.54",
) -> np.ndarray:
    """Threshold an image as ImageJ does and label its particles.

    Parameters
    ----------
    image : ndarray
        8-bit, 16-bit or 32-bit greyscale, 2D or a stack whose last two axes are
        Y and X (no channel or RGB axis: pick one channel first). Not modified.
    method : str
        ImageJ auto-threshold method (see
        :data:`pyfiji_dl.annotation.threshold.THRESHOLD_METHODS`), any case.
    dark_background : bool
        True when objects are brighter than the background (fluorescence).
    min_area, max_area : float
        Particle size limits in pixels, inclusive, as "Size (pixel^2)" in
        Analyze Particles. ``max_area=None`` means no upper limit.
    exclude_edges : bool
        Drop particles touching the image border ("Exclude on edges").
    split_touching : bool
        Split touching objects with a distance-transform watershed (see module
        docstring); size and edge filters then apply to the pieces.
    fill_holes : bool
        ImageJ's "Include holes": a particle is everything inside its outline.
    stack_histogram : bool
        Stacks: one threshold from all planes instead of one per plane.
    imagej : {'1.54', '1.53'}
        Whose threshold methods to follow: ImageJ 1.54p (current Fiji) or 1.53t.

    Returns
    -------
    ndarray of int32
        Same shape as ``image``; 0 is background, particles are 1..N in raster
        order of their first pixel, plane after plane for stacks (each plane is
        analysed on its own, as the particle analyzer does slice by slice).

    Raises
    ------
    ValueError
        Unknown method, bad size limits, or an image that is not greyscale.
    """
    labels, _, _ = _bootstrap(
        image,
        method,
        dark_background=dark_background,
        min_area=min_area,
        max_area=max_area,
        exclude_edges=exclude_edges,
        split_touching=split_touching,
        fill_holes=fill_holes,
        stack_histogram=stack_histogram,
        imagej=imagej,
    )
    return labels


def _bootstrap(image, method, *, dark_background, min_area, max_area, exclude_edges, split_touching,
               fill_holes, stack_histogram, imagej="1.54"):
    """Labels plus the threshold limits used (scalars, or one per plane)."""
    method = canonical_method(method)
    image = np.asarray(image)
    if image.ndim < 2 or image.size == 0:
        raise InputError(f"expected a non-empty image with Y and X axes, got shape {image.shape}")
    min_area = _check_area("min_area", min_area)
    max_area = _check_area("max_area", max_area)
    if max_area is not None and max_area < min_area:
        raise OptionError(f"max_area ({max_area:g}) is smaller than min_area ({min_area:g})")
    lower, upper = auto_threshold(image, method, dark_background, stack_histogram=stack_histogram, imagej=imagej)
    masks = mask_from_limits(image, lower, upper)
    planes = masks.reshape((-1,) + masks.shape[-2:])
    labels = np.zeros(planes.shape, dtype=np.int32)
    offset = 0
    for index, plane in enumerate(planes):
        plane_labels = _particles(
            plane,
            min_area=min_area,
            max_area=max_area,
            exclude_edges=exclude_edges,
            split_touching=split_touching,
            fill_holes=fill_holes,
        )
        n = int(plane_labels.max())
        if n:
            labels[index] = np.where(plane_labels > 0, plane_labels + offset, 0)
        offset += n
    return labels.reshape(image.shape), lower, upper


def _select_channel(data: np.ndarray, axes: str, channel, path) -> tuple[np.ndarray, str]:
    from ..io.tiff import ChannelError, select_channel

    try:
        return select_channel(data, axes, channel, path)
    except ChannelError as exc:
        raise BootstrapError(str(exc)) from None


def bootstrap_rois_file(
    image_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    method: str = "Default",
    dark_background: bool = True,
    min_area: float = 0,
    max_area: float | None = None,
    exclude_edges: bool = False,
    split_touching: bool = False,
    fill_holes: bool = True,
    stack_histogram: bool = False,
    channel: int | None = None,
    overwrite: bool = False,
    imagej: str = "1.54",
) -> dict:
    """Threshold a TIFF, analyse its particles and save them as a ROI Manager set.

    Writes ``out_dir/<image stem>.zip``, which Fiji's ROI Manager opens (More >
    Open...) on top of the image for correction. On a stack every ROI carries its
    slice (z-stack / time-lapse) or its channel, slice and frame (hyperstack), so
    it lands on the plane it was found on.

    Parameters
    ----------
    image_path : path-like
        The image, read only.
    out_dir : path-like
        Folder for the ROI set (created if needed).
    method, dark_background, min_area, max_area, exclude_edges, split_touching, fill_holes, stack_histogram
        See :func:`bootstrap_labels`.
    channel : int, optional
        1-based channel to threshold; required when the image has several.
    overwrite : bool
        Replace an existing ROI set; otherwise an existing one is an error.

    Returns
    -------
    dict
        ``image``, ``output`` (the zip, or None when no particle was found:
        nothing is written then), ``n_rois``, ``method``, ``dark_background``,
        ``channel``, ``axes`` (of the thresholded planes), ``thresholds``
        (``(lower, upper)`` per plane, in pixel values) and ``objects_per_plane``.

    Raises
    ------
    BootstrapError
        Unreadable image, RGB image, several channels and no ``channel``, or an
        existing output without ``overwrite``. Nothing is written then.
    """
    image_path = Path(image_path)
    method = canonical_method(method)
    output = Path(out_dir) / f"{image_path.stem}.zip"
    try:
        data, info = read_image(image_path)
    except ImageReadError as exc:
        raise BootstrapError(str(exc)) from None
    planes, axes = _select_channel(data, info.axes, channel, image_path)
    if planes.dtype.kind not in "uif" and planes.dtype != np.bool_:
        raise BootstrapError(f"{image_path}: pixel type {planes.dtype} cannot be thresholded; save it as 8, 16 or 32-bit.")
    if output.exists() and not overwrite:
        raise BootstrapError(f"{output}: exists already; pass overwrite=True to replace it, or choose another folder.")
    labels, lower, upper = _bootstrap(
        planes,
        method,
        dark_background=dark_background,
        min_area=min_area,
        max_area=max_area,
        exclude_edges=exclude_edges,
        split_touching=split_touching,
        fill_holes=fill_holes,
        stack_histogram=stack_histogram,
        imagej=imagej,
    )
    n_planes = int(np.prod(planes.shape[:-2], dtype=np.int64))
    lower = np.broadcast_to(np.asarray(lower, dtype=np.float64), (n_planes,)) if n_planes else np.zeros(0)
    upper = np.broadcast_to(np.asarray(upper, dtype=np.float64), (n_planes,)) if n_planes else np.zeros(0)
    per_plane = labels.reshape((-1,) + labels.shape[-2:])
    objects_per_plane = [int(np.unique(plane[plane > 0]).size) for plane in per_plane]

    multichannel = "C" in info.axes and info.size("C") > 1
    rois = labels_to_rois(labels, axes, hyperstack=True if multichannel else None)
    if multichannel:
        for roi in rois:
            roi.c_position = int(channel)
    result = {
        "image": image_path,
        "output": None,
        "n_rois": len(rois),
        "method": method,
        "dark_background": bool(dark_background),
        "channel": channel,
        "axes": axes,
        "thresholds": [(float(lo), float(hi)) for lo, hi in zip(lower.ravel(), upper.ravel())],
        "objects_per_plane": objects_per_plane,
    }
    if rois:
        write_rois(output, rois, overwrite=overwrite)
        result["output"] = output
    return result
