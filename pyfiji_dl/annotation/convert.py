"""ROI sets <-> label maps, pixel-exact with ImageJ.

:func:`rois_to_labels` paints every area ROI with exactly the pixels ImageJ's
``roi.getMask()`` selects; :func:`labels_to_rois` gives one ROI per label whose
ImageJ mask is exactly that label's pixels. Both work on stacks and hyperstacks:
a ROI's stack position puts it on its plane.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import roifile

from ..errors import InputError, OptionError, PyfijiDLError
from ..io.rois import RoiEntry
from .rasterize import RasterRules, roi_has_area, roi_mask
from .trace import label_rois

OVERLAP_RULES = ("last-wins", "first-wins", "drop", "error")
ID_RULES = ("auto", "order", "name")
LABEL_AXES = "TZYX"
# Names written by labels_to_rois: "label-00017", "label-00017-z003-t002"; prediction
# adds the object's confidence for review: "label-00017 p=0.62".
LABEL_NAME_RE = re.compile(r"^label-(\d+)(?:-z\d+)?(?:-t\d+)?(?: p=[0-9.]+)?$")


class RoiPlacementError(PyfijiDLError, ValueError):
    """A ROI cannot be placed on the image (outside it, or on a missing plane)."""


class OverlapError(PyfijiDLError, ValueError):
    """ROIs overlap and ``overlap='error'`` was asked for."""


@dataclass
class Overlap:
    """Two ROIs that claim the same pixels on one plane."""

    first: str
    second: str
    plane: tuple
    pixels: int


@dataclass
class ConversionReport:
    """What :func:`rois_to_labels` did, for the user to read.

    Attributes
    ----------
    n_rois : int
        ROIs read.
    n_labels : int
        Distinct labels painted.
    skipped : list of str
        ROIs without area (line, angle, point, ...), named with their type.
    clipped : list of str
        ROIs partly outside the image, painted only inside it.
    overlaps : list of Overlap
    ids : dict
        Label id -> ROI name.
    """

    n_rois: int = 0
    n_labels: int = 0
    skipped: list = field(default_factory=list)
    clipped: list = field(default_factory=list)
    overlaps: list = field(default_factory=list)
    ids: dict = field(default_factory=dict)

    def messages(self) -> list[str]:
        """Warnings worth showing, one line each."""
        out = []
        if self.skipped:
            out.append(f"skipped {len(self.skipped)} ROI(s) without area: " + ", ".join(self.skipped[:10])
                       + (" ..." if len(self.skipped) > 10 else ""))
        if self.clipped:
            out.append(f"{len(self.clipped)} ROI(s) extend past the image edge and were clipped: "
                       + ", ".join(self.clipped[:10]) + (" ..." if len(self.clipped) > 10 else ""))
        if self.overlaps:
            pairs = ", ".join(f"{o.first} & {o.second} ({o.pixels} px)" for o in self.overlaps[:10])
            out.append(f"{len(self.overlaps)} overlapping ROI pair(s): {pairs}" + (" ..." if len(self.overlaps) > 10 else ""))
        return out


def label_axes_for(image_axes: str) -> str:
    """Axes of the label map for an image: the image's planes without C and S."""
    return "".join(a for a in image_axes if a in LABEL_AXES)


def _roi_type_name(roi: roifile.ImagejRoi) -> str:
    if roi.subtype and roi.subtype != roifile.ROI_SUBTYPE.UNDEFINED:
        return roi.subtype.name.lower()
    return roi.roitype.name.lower()


def _plane_targets(entry: RoiEntry, sizes: dict) -> tuple[list, list]:
    """The z and t indices (0-based) a ROI belongs to; all of an axis if unset."""
    roi = entry.roi
    n_c, n_z, n_t = sizes["C"], sizes["Z"], sizes["T"]
    if roi.c_position or roi.z_position or roi.t_position:
        z, t = roi.z_position, roi.t_position
        if roi.c_position > n_c:
            raise RoiPlacementError(
                f"{entry.source}: ROI '{entry.name}' is on channel {roi.c_position} but the image has {n_c}."
            )
    elif roi.position:
        if roi.position > n_c * n_z * n_t:
            raise RoiPlacementError(
                f"{entry.source}: ROI '{entry.name}' is on stack position {roi.position} but the image "
                f"has {n_c * n_z * n_t} plane(s). Was it drawn on another image?"
            )
        index = roi.position - 1  # ImageJ's stack order: c fastest, then z, then t
        z, t = (index // n_c) % n_z + 1, index // (n_c * n_z) + 1
    else:
        z = t = 0
    for axis, value, size in (("z", z, n_z), ("t", t, n_t)):
        if value > size:
            raise RoiPlacementError(
                f"{entry.source}: ROI '{entry.name}' is on {axis}={value} but the image has {size}."
            )
    zs = [z - 1] if z else list(range(n_z))
    ts = [t - 1] if t else list(range(n_t))
    return zs, ts


def _assign_ids(entries: list[RoiEntry], rule: str) -> list[int]:
    if rule not in ID_RULES:
        raise OptionError(f"ids must be one of {ID_RULES}, not {rule!r}")
    parsed = [LABEL_NAME_RE.match(e.name) for e in entries]
    use_names = rule == "name" or (rule == "auto" and entries and all(parsed))
    if rule == "name" and not all(parsed):
        bad = [e.name for e, m in zip(entries, parsed) if not m][:5]
        raise InputError(f"ids='name' needs ROI names like 'label-00017'; these are not: {bad}")
    if use_names:
        return [int(m.group(1)) for m in parsed]
    return list(range(1, len(entries) + 1))


def rois_to_labels(
    entries: list[RoiEntry],
    image_shape: tuple,
    image_axes: str = "YX",
    *,
    overlap: str = "last-wins",
    ids: str = "auto",
    rules: RasterRules | None = None,
) -> tuple[np.ndarray, str, ConversionReport]:
    """Paint ROIs into a label map, pixel for pixel as ImageJ fills them.

    Parameters
    ----------
    entries : list of RoiEntry
        ROIs in ROI Manager order (see :func:`pyfiji_dl.io.rois.read_rois`).
    image_shape : tuple of int
        Shape of the image the ROIs were drawn on.
    image_axes : str
        Its ImageJ axes (subset of ``TZCYXS``).
    overlap : {'last-wins', 'first-wins', 'drop', 'error'}
        Pixels claimed by several ROIs go to the last one (as ImageJ draws them one
        after the other), the first one, nobody, or raise :class:`OverlapError`.
    ids : {'auto', 'order', 'name'}
        Label ids from the ROI order (1, 2, ...) or from names written by
        :func:`labels_to_rois` (``label-00017``); ``auto`` uses names when every ROI
        has such a name, so label maps survive a round trip with their ids.
    rules : RasterRules, optional
        Which ImageJ to fill like (rotated rectangles and spline fits changed in
        ImageJ 1.54); default ImageJ 1.54p, the ImageJ of current Fiji.

    Returns
    -------
    labels : ndarray
        int32 label map with axes ``label_axes``.
    label_axes : str
        ``image_axes`` without C and S.
    report : ConversionReport

    Raises
    ------
    RoiPlacementError
        A ROI lies entirely outside the image or on a plane the image lacks.
    OverlapError
        With ``overlap='error'``, listing the overlapping ROIs.
    """
    if overlap not in OVERLAP_RULES:
        raise OptionError(f"overlap must be one of {OVERLAP_RULES}, not {overlap!r}")
    if len(image_shape) != len(image_axes):
        raise InputError(f"image shape {image_shape} does not match axes {image_axes!r}")
    sizes = {a: (image_shape[image_axes.index(a)] if a in image_axes else 1) for a in "TZCYX"}
    height, width = sizes["Y"], sizes["X"]
    axes = label_axes_for(image_axes)
    labels = np.zeros((sizes["T"], sizes["Z"], height, width), dtype=np.int32)
    shared = np.zeros(labels.shape, dtype=bool) if overlap == "drop" else None

    report = ConversionReport(n_rois=len(entries))
    area_entries = []
    for entry in entries:
        if roi_has_area(entry.roi):
            area_entries.append(entry)
        else:
            report.skipped.append(f"'{entry.name}' ({_roi_type_name(entry.roi)})")
    label_ids = _assign_ids(area_entries, ids)
    owner: dict = {}

    for entry, label in zip(area_entries, label_ids):
        try:
            left, top, mask = roi_mask(entry.roi, rules)
        except ValueError as exc:
            raise RoiPlacementError(f"{entry.source}: {exc}") from None
        y0, x0 = max(top, 0), max(left, 0)
        y1, x1 = min(top + mask.shape[0], height), min(left + mask.shape[1], width)
        clipped_mask = mask[y0 - top:y1 - top, x0 - left:x1 - left] if (y1 > y0 and x1 > x0) else mask[:0, :0]
        if not clipped_mask.any():
            raise RoiPlacementError(
                f"{entry.source}: ROI '{entry.name}' (bounds x={left}, y={top}, "
                f"{mask.shape[1]}x{mask.shape[0]}) covers no pixel of the {width}x{height} image. "
                "Was it drawn on another image, or is the wrong image paired with this ROI set?"
            )
        if clipped_mask.sum() < mask.sum():
            report.clipped.append(f"'{entry.name}'")
        zs, ts = _plane_targets(entry, sizes)
        owner.setdefault(label, entry.name)
        for t in ts:
            for z in zs:
                region = labels[t, z, y0:y1, x0:x1]
                conflict = clipped_mask & (region != 0) & (region != label)
                if conflict.any():
                    found, counts = np.unique(region[conflict], return_counts=True)
                    for other, count in zip(found.tolist(), counts.tolist()):
                        report.overlaps.append(Overlap(owner.get(other, str(other)), entry.name, (t, z), count))
                    if shared is not None:
                        shared[t, z, y0:y1, x0:x1] |= conflict
                paint = clipped_mask & (region == 0) if overlap == "first-wins" else clipped_mask
                region[paint] = label
    if shared is not None:
        labels[shared] = 0
    if overlap == "error" and report.overlaps:
        raise OverlapError(
            f"{len(report.overlaps)} pair(s) of ROIs overlap: "
            + "; ".join(f"'{o.first}' and '{o.second}' share {o.pixels} px" for o in report.overlaps[:10])
            + ". Fix them in the ROI Manager or choose --overlap last-wins/first-wins/drop."
        )
    report.n_labels = int(np.unique(labels[labels > 0]).size)
    report.ids = {label: owner[label] for label in sorted(owner)}
    shape = tuple(sizes[a] for a in axes)
    return labels.reshape(shape), axes, report


def _plane_name_format(z: int | None, t: int | None) -> str:
    """ROI name template for one plane; only ``{label}`` is left to fill."""
    fmt = "label-{label:05d}"
    if z is not None:
        fmt += f"-z{z:03d}"
    if t is not None:
        fmt += f"-t{t:03d}"
    return fmt


def labels_to_rois(
    labels: np.ndarray,
    axes: str = "YX",
    *,
    hyperstack: bool | None = None,
) -> list[roifile.ImagejRoi]:
    """One ImageJ ROI per label and plane, whose ImageJ mask is exactly its pixels.

    Parameters
    ----------
    labels : ndarray
        Non-negative integer label map (integer-valued floats accepted).
    axes : str
        Its axes, a subset of ``TZYX`` ending in ``YX``.
    hyperstack : bool, optional
        Give ROIs hyperstack c/z/t positions (header2) instead of a stack index.
        Default: when both Z and T have more than one plane. ImageJ treats a plain
        z-stack or time-lapse as a simple stack and places ROIs by stack index only.

    Returns
    -------
    list of roifile.ImagejRoi
        Named ``label-00017`` (plus ``-z003``/``-t002`` on stacks), traced on pixel
        edges; labels with holes or several parts become one composite ROI.
    """
    labels = np.asarray(labels)
    axes = axes.upper()
    if len(axes) != labels.ndim:
        raise InputError(f"label map of shape {labels.shape} does not match axes {axes!r}")
    extra = [a for a in axes if a not in LABEL_AXES]
    if extra or not axes.endswith("YX"):
        raise InputError(
            f"label maps must have axes from T, Z, Y, X ending in YX, not {axes!r}; "
            "split channels (Image > Color > Split Channels) first."
        )
    # one integer type for the tracer: numba compiles (and caches) once per dtype
    labels = ensure_integer_labels(labels).astype(np.int32, copy=False)
    n_t = labels.shape[axes.index("T")] if "T" in axes else 1
    n_z = labels.shape[axes.index("Z")] if "Z" in axes else 1
    planes = labels.reshape((n_t, n_z) + labels.shape[-2:])
    if hyperstack is None:
        hyperstack = n_z > 1 and n_t > 1
    rois: list = []
    for t in range(n_t):
        for z in range(n_z):
            # ImageJ drops the stack index of a ROI that has c/z/t, so give one or the other
            if hyperstack:
                placement = {"z": z + 1, "t": t + 1}
            else:
                placement = {"position": t * n_z + z + 1 if n_t * n_z > 1 else 0}
            fmt = _plane_name_format(z + 1 if n_z > 1 else None, t + 1 if n_t > 1 else None)
            rois.extend(label_rois(planes[t, z], name_format=fmt, **placement))
    return rois


def ensure_integer_labels(labels: np.ndarray, source: str = "label map") -> np.ndarray:
    """Check that a label map holds non-negative whole numbers and return it as integers."""
    labels = np.asarray(labels)
    if labels.dtype.kind == "b":
        return labels.astype(np.uint8)
    if labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
            raise InputError(f"{source}: holds non-integer values; a label map must hold whole numbers.")
        labels = labels.astype(np.int64)
    elif labels.dtype.kind not in "iu":
        raise InputError(f"{source}: dtype {labels.dtype} is not a label map.")
    if labels.dtype.kind == "i" and labels.size and labels.min() < 0:
        raise InputError(f"{source}: holds negative values ({labels.min()}); labels must be 0 (background) or positive.")
    return labels
