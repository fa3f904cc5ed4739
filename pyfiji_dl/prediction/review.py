"""ROI sets ordered and coloured for review: least confident objects first.

A reviewer with little time should look first where the model is least sure. Each
predicted object carries a *confidence*: StarDist's object probability (the ``prob``
of its polygon after non-maximum suppression) or a U-Net's mean foreground
probability inside the object. This module puts that number where Fiji shows it:

* the ROI name, ``label-00007 p=0.62`` (the ``label-00007`` part keeps the label id
  through ``rois-to-labels``, so corrected sets map back to the same ids);
* an ImageJ ROI property ``confidence`` (``Roi.getProperty("confidence")`` in a
  macro, *Properties...* in the ROI Manager);
* the outline colour, on a ramp from vermillion (least confident) through yellow to
  sky blue (most confident): three colours of Okabe & Ito's colour-blind-safe
  palette (Color Universal Design, 2008), all bright enough to read on the dark
  background of fluorescence images;
* the order of the set (``order="confidence"``): least confident first, so the
  ROI Manager lists the objects in the order a person should check them.

The label map is not touched: ids and pixels stay as predicted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

from ..errors import OptionError
from ..models.card import ModelCard

ROI_ORDERS = ("confidence", "label")
# Okabe & Ito (2008) vermillion, yellow and sky blue, low -> high confidence.
CONFIDENCE_RAMP = ((213, 94, 0), (240, 228, 66), (86, 180, 233))
# Objects the model gave no confidence (e.g. painted over by a more probable one).
UNKNOWN_COLOUR = (153, 153, 153)
_ROI_NAME_RE = re.compile(r"^label-(\d+)(?:-z(\d+))?(?:-t(\d+))?")


def confidence_floor(card: ModelCard) -> float:
    """The lowest confidence an object of this model can have: its probability threshold.

    StarDist keeps polygons with ``prob`` above ``thresholds.prob``; a U-Net keeps
    pixels above ``threshold``. Colours are spread between this floor and 1, so the
    ramp is used in full whatever threshold the model was given.
    """
    value = card.thresholds.get("prob", 0.0)
    try:
        value = float(value)
    except (TypeError, ValueError):
        return 0.0
    return value if 0.0 <= value < 1.0 else 0.0


def confidence_colour(confidence: float | None, floor: float = 0.0) -> tuple[int, int, int]:
    """RGB outline colour of an object: vermillion at ``floor``, yellow halfway, sky blue at 1.

    Parameters
    ----------
    confidence : float or None
        None (no confidence known) gives grey.
    floor : float
        Confidence mapped to the low end of the ramp (the model's threshold).

    Returns
    -------
    tuple of int
    """
    if confidence is None or not np.isfinite(confidence):
        return UNKNOWN_COLOUR
    span = max(1.0 - floor, 1e-6)
    position = float(np.clip((confidence - floor) / span, 0.0, 1.0)) * (len(CONFIDENCE_RAMP) - 1)
    low = min(int(position), len(CONFIDENCE_RAMP) - 2)
    weight = position - low
    start, end = np.array(CONFIDENCE_RAMP[low], float), np.array(CONFIDENCE_RAMP[low + 1], float)
    return tuple(int(round(v)) for v in start + weight * (end - start))


def review_name(base: str, confidence: float | None) -> str:
    """``label-00007 p=0.62``: the name ``labels_to_rois`` gave, plus the confidence."""
    return base if confidence is None else f"{base} p={confidence:.2f}"


def _plane_of(name: str) -> tuple[int, int, int] | None:
    """(label, z, t) of a ROI named by ``labels_to_rois``; z and t 1-based, 1 when absent."""
    match = _ROI_NAME_RE.match(name or "")
    if not match:
        return None
    label, z, t = match.groups()
    return int(label), int(z or 1), int(t or 1)


def prediction_frame(z: int, t: int, n_z: int, model_ndim: int) -> int:
    """The 1-based plane index prediction keys a ROI's confidence by.

    A 2D model predicts every plane of a stack or time-lapse on its own (planes
    numbered t-major, as the stack index); a 3D model predicts one volume per frame.
    """
    return t if model_ndim == 3 else (t - 1) * n_z + z


def review_rois(
    rois: list,
    confidences: Mapping,
    *,
    n_z: int = 1,
    model_ndim: int = 2,
    order: str = "confidence",
    floor: float = 0.0,
) -> list:
    """Name, colour and order the ROIs of a prediction for review.

    Parameters
    ----------
    rois : list of roifile.ImagejRoi
        As :func:`~pyfiji_dl.annotation.convert.labels_to_rois` names them
        (``label-00007``, ``label-00007-z003-t002``); changed in place.
    confidences : mapping
        ``{(frame, label): confidence}`` as prediction gives them (frame 1-based, see
        :func:`prediction_frame`), or ``{label: confidence}``.
    n_z : int
        Z planes of the label map.
    model_ndim : int
        2 or 3: how prediction numbered the frames.
    order : {"confidence", "label"}
        ``confidence``: least confident objects first (objects without a confidence
        last), the slices of a 3D object kept together; ``label``: as given.
    floor : float
        Low end of the colour ramp (:func:`confidence_floor`).

    Returns
    -------
    list of roifile.ImagejRoi
    """
    if order not in ROI_ORDERS:
        raise OptionError(f"ROI order must be one of {ROI_ORDERS}, not {order!r}")
    keyed = []
    for index, roi in enumerate(rois):
        plane = _plane_of(roi.name)
        confidence = None
        label = frame = 0
        if plane is not None:
            label, z, t = plane
            frame = prediction_frame(z, t, n_z, model_ndim)
            confidence = confidences.get((frame, label), confidences.get(label))
            confidence = None if confidence is None else float(confidence)
            roi.name = review_name(roi.name, confidence)
        red, green, blue = confidence_colour(confidence, floor)
        roi.stroke_color = bytes((255, red, green, blue))
        if confidence is not None:
            roi.properties = {**roi.properties, "confidence": f"{confidence:.4f}"}
        keyed.append((confidence, frame, label, index, roi))
    if order == "confidence":
        keyed.sort(key=lambda k: (k[0] is None, k[0] if k[0] is not None else 0.0, k[1], k[2], k[3]))
    return [k[-1] for k in keyed]
