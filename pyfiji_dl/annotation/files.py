"""File-level conversions used by the command line and the Fiji macros.

Each function reads its inputs, validates them completely, and writes its one
output atomically, so a failure leaves no output file behind.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import OptionError, PyfijiDLError
from ..io.rois import read_rois, write_rois
from ..io.tiff import ImageInfo, read_image, read_image_info, write_label_image
from .convert import ConversionReport, labels_to_rois, rois_to_labels


class LabelMapError(PyfijiDLError, ValueError):
    """A label map cannot be converted; the message names the file."""


@dataclass
class RoisToLabelsResult:
    output: Path
    report: ConversionReport
    shape: tuple
    axes: str


def rois_file_to_labels(
    rois_path: str | os.PathLike,
    output: str | os.PathLike,
    *,
    image: str | os.PathLike | None = None,
    shape: tuple | None = None,
    overlap: str = "last-wins",
    ids: str = "auto",
    rules=None,
) -> RoisToLabelsResult:
    """Convert a ROI zip / .roi file into a label map TIFF shaped like its image.

    Parameters
    ----------
    rois_path : path-like
        ``.zip`` (ROI Manager set) or ``.roi``.
    output : path-like
        Label map TIFF to write (16-bit, or 32-bit float above 65,535 labels).
    image : path-like, optional
        The image the ROIs were drawn on: gives shape, stack layout and calibration.
    shape : tuple, optional
        ``(height, width)`` when there is no image.
    overlap, ids : str
        See :func:`pyfiji_dl.annotation.convert.rois_to_labels`.
    rules : pyfiji_dl.annotation.rasterize.RasterRules, optional
        Which ImageJ to fill like; default ImageJ 1.54p (current Fiji).
    """
    if image is None and shape is None:
        raise OptionError("give the image the ROIs belong to (--image), or its size (--shape HEIGHT,WIDTH)")
    entries = read_rois(rois_path)
    if image is not None:
        info = read_image_info(image)
    else:
        info = ImageInfo(None, tuple(shape), "YX" if len(shape) == 2 else "ZYX"[-len(shape):], np.dtype(np.uint8))
    labels, axes, report = rois_to_labels(entries, info.shape, info.axes, overlap=overlap, ids=ids, rules=rules)
    write_label_image(output, labels, axes, calibration=info.calibration)
    return RoisToLabelsResult(Path(output), report, labels.shape, axes)


def read_label_image(path: str | os.PathLike) -> tuple[np.ndarray, ImageInfo]:
    """Read a label map TIFF, checking it can be one (integer values, no channels)."""
    from .convert import ensure_integer_labels

    data, info = read_image(path)
    if "S" in info.axes:
        raise LabelMapError(f"{path}: is an RGB image, not a label map. Label maps are 8/16/32-bit greyscale.")
    if "C" in info.axes and info.size("C") > 1:
        raise LabelMapError(
            f"{path}: has {info.size('C')} channels; a label map has one. "
            "Split the channels in Fiji (Image > Color > Split Channels) and convert each."
        )
    if "C" in info.axes:
        data = data.reshape(tuple(s for s, a in zip(info.shape, info.axes) if a != "C"))
        info = ImageInfo(info.path, data.shape, info.axes.replace("C", ""), info.dtype, info.calibration, info.hyperstack)
    try:
        data = ensure_integer_labels(data, source=str(path))
    except ValueError as exc:
        raise LabelMapError(str(exc)) from None
    return data, info


def labels_file_to_rois(labels_path: str | os.PathLike, output: str | os.PathLike) -> int:
    """Convert a label map TIFF into a ROI Manager zip; return the number of ROIs.

    ROIs on stacks carry their slice (on z-and-t hyperstacks their z and t) so
    each lands on its plane in Fiji. An empty label map is an error: a zip with no ROI would be
    rejected by Fiji's ROI Manager.
    """
    labels, info = read_label_image(labels_path)
    rois = labels_to_rois(labels, info.axes)
    if not rois:
        raise LabelMapError(f"{labels_path}: contains no labels (all pixels are 0); no ROI set written.")
    write_rois(output, rois)
    return len(rois)

