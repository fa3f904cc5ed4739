"""Per-object and per-image measurements of label maps, as tables Fiji users expect.

The numbers follow ImageJ's *Analyze > Measure* conventions, so a row can be checked
against Fiji by selecting the object's ROI (``labels_to_rois``) and pressing ``m``:

- **area** is the pixel count times ``pixel_width * pixel_height`` (times
  ``voxel_depth`` for a 3D **volume**);
- **centroid** is the mean of the pixel *centres*: the pixel in column ``j`` covers
  ``[j, j + 1)`` and its centre is at ``x = (j + 0.5) * pixel_width``, as in Fiji's
  "Centroid" measurement. The same rule is used for rows (``y``) and, for volumes,
  slices (``z``: slice ``k``, 0-based, i.e. Fiji's slice ``k + 1``, has its centre at
  ``(k + 0.5) * voxel_depth``);
- **mean_intensity** is the plain mean of the image values under the object.

Units. ImageJ's Results table keeps units out of its column headers (``Area``, not
``Area (micron^2)``), and a header such as ``area_micron^2`` breaks scripts that
look columns up by name whenever the calibration changes. So column names never
change: ``area`` and ``centroid_*`` are in the calibration's length unit (``area``
in unit², ``volume`` in unit³), and every row names that length unit in its ``unit``
column (``pixel`` for uncalibrated images). ``area_px`` / ``volume_px`` always hold
the plain pixel (voxel) count.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..io.tiff import Calibration
from ..errors import InputError

LABEL_AXES = "TZYX"
# Columns of object_rows for a 2D label map (with or without T) and one-channel image.
OBJECT_COLUMNS = (
    "image",
    "frame",
    "label",
    "area",
    "area_px",
    "centroid_x",
    "centroid_y",
    "unit",
    "mean_intensity",
    "probability",
)
# ... and for a 3D (Z) label map, whose objects are measured as volumes.
OBJECT_COLUMNS_3D = (
    "image",
    "frame",
    "label",
    "volume",
    "volume_px",
    "centroid_x",
    "centroid_y",
    "centroid_z",
    "unit",
    "mean_intensity",
    "probability",
)
# Rows handed to one np.bincount call: bounds the temporary weight arrays (~8 MB
# each) without giving up vectorisation.
_CHUNK_PIXELS = 1 << 20


def object_columns(axes: str, n_channels: int = 1) -> list[str]:
    """Column names :func:`object_rows` produces for a label map with ``axes``.

    Pass them to :func:`~pyfiji_dl.io.tables.write_csv` so an image without objects
    still gets a table with a header.

    Parameters
    ----------
    axes : str
        Axes of the label map (subset of ``TZYX`` ending in ``YX``).
    n_channels : int
        Channels of the intensity image; more than one gives ``mean_intensity_c1``,
        ``mean_intensity_c2``, ... instead of ``mean_intensity``.

    Returns
    -------
    list of str
    """
    columns = list(OBJECT_COLUMNS_3D if "Z" in axes.upper() else OBJECT_COLUMNS)
    if n_channels > 1:
        at = columns.index("mean_intensity")
        columns[at : at + 1] = [f"mean_intensity_c{c + 1}" for c in range(n_channels)]
    return columns


def object_rows(
    labels: np.ndarray,
    axes: str,
    *,
    image: np.ndarray | None = None,
    calibration: Calibration | None = None,
    probabilities: Mapping | None = None,
    image_name: str = "",
    image_axes: str | None = None,
) -> list[dict]:
    """Measure every object of a label map: one row per object and frame.

    Parameters
    ----------
    labels : ndarray
        Label map, 0 for background. Its axes are a subset of ``TZYX`` ending in
        ``YX``. A time-lapse (T) is measured frame by frame, so a label present on
        two frames gives two rows; a Z axis makes objects volumes.
    axes : str
        Axes of ``labels``.
    image : ndarray, optional
        Intensity image for ``mean_intensity``: same axes as ``labels``, or with one
        extra channel axis (last, unless ``image_axes`` says otherwise), which gives
        one ``mean_intensity_c1``, ``mean_intensity_c2``, ... column per channel.
    calibration : Calibration, optional
        Pixel size and unit (default: uncalibrated, 1 pixel).
    probabilities : mapping, optional
        Object probabilities (e.g. StarDist's ``polys["prob"]``), keyed by
        ``(frame, label)`` with a 1-based frame as in the ``frame`` column, or by
        ``label`` alone for every frame. Objects not in it get an empty cell.
    image_name : str
        Written to the ``image`` column so tables of several images can be merged.
    image_axes : str, optional
        Axes of ``image`` when they are not ``axes`` (+ ``C``), e.g. ``"TCYX"`` for an
        image in ImageJ order. Channel-like axes are ``C`` and ``S`` (RGB).

    Returns
    -------
    list of dict
        Rows sorted by frame, then label, with the keys of
        :func:`object_columns` ``(axes, n_channels)``: ``image``; ``frame``
        (1-based, 1 without T); ``label``; ``area`` (unit²) and ``area_px`` for 2D or
        ``volume`` (unit³) and ``volume_px`` for 3D; ``centroid_x``, ``centroid_y``
        (and ``centroid_z``) in ``unit``; ``unit``; ``mean_intensity`` (None without
        an image); ``probability`` (None when not given).

    Notes
    -----
    All sums are done with ``np.bincount`` over the flattened frame, a few chunks
    at a time: the cost is a handful of passes over the pixels, independent of the
    number of objects. Label ids larger than the frame's pixel count are first
    mapped onto small codes, so large ids (e.g. 2**40) need no huge tables.
    """
    labels, axes = _check_labels(labels, axes)
    cal = calibration or Calibration()
    channels = None if image is None else _image_channels(image, labels.shape, axes, image_axes)
    n_channels = 1 if channels is None else channels.shape[-1]
    is_3d = "Z" in axes
    size_key = "volume" if is_3d else "area"
    pixel_size = cal.pixel_width * cal.pixel_height * (cal.voxel_depth if is_3d else 1.0)
    intensity_keys = object_columns(axes, n_channels)[-1 - n_channels : -1]

    rows: list[dict] = []
    for frame_index, frame_labels in enumerate(_frames(labels, axes)):
        frame = frame_index + 1
        frame_channels = None if channels is None else channels[frame_index]
        stats = _frame_sums(frame_labels, frame_channels)
        if stats is None:
            continue
        ids, counts, sums = stats
        # (j + 0.5): ImageJ puts a pixel's centre half a pixel from its corner
        centroid_x = (sums["x"] / counts + 0.5) * cal.pixel_width
        centroid_y = (sums["y"] / counts + 0.5) * cal.pixel_height
        centroid_z = (sums["z"] / counts + 0.5) * cal.voxel_depth if is_3d else None
        means = None if channels is None else sums["intensity"] / counts[:, None].astype(np.float64)
        ids_list, counts_list = ids.tolist(), counts.tolist()
        size_list = (counts * pixel_size).tolist()
        cx, cy = centroid_x.tolist(), centroid_y.tolist()
        cz = centroid_z.tolist() if is_3d else None
        mean_list = None if means is None else means.tolist()
        for i, label in enumerate(ids_list):
            row = {
                "image": image_name,
                "frame": frame,
                "label": label,
                size_key: size_list[i],
                f"{size_key}_px": counts_list[i],
                "centroid_x": cx[i],
                "centroid_y": cy[i],
            }
            if is_3d:
                row["centroid_z"] = cz[i]
            row["unit"] = cal.unit
            if mean_list is None:
                row["mean_intensity"] = None
            else:
                row.update(zip(intensity_keys, mean_list[i]))
            row["probability"] = _probability(probabilities, frame, label)
            rows.append(row)
    return rows


def summary_rows(
    image_name: str,
    labels: np.ndarray,
    axes: str,
) -> list[dict]:
    """Object counts per image and per frame.

    Parameters
    ----------
    image_name : str
        Written to the ``image`` column.
    labels : ndarray
        Label map with ``axes`` (subset of ``TZYX`` ending in ``YX``).
    axes : str

    Returns
    -------
    list of dict
        First a row for the whole image (``frame`` is ``"all"``), then, for a
        time-lapse, one row per frame (``frame`` 1, 2, ...). Keys: ``image``,
        ``frame``, ``count``, ``distinct_labels``, ``mean_{size}_px``,
        ``median_{size}_px``, ``min_{size}_px``, ``max_{size}_px`` and
        ``foreground_fraction``, where ``size`` is ``area`` for 2D and ``volume``
        for 3D maps. ``count`` counts objects per frame, like :func:`object_rows`
        (the ``"all"`` row counts a label present on two frames twice, as two
        rows of the object table); ``distinct_labels`` counts different ids (for
        tracked labels: the tracks). Sizes are None (an empty cell) when there is
        no object.
    """
    labels, axes = _check_labels(labels, axes)
    size = "volume" if "Z" in axes else "area"
    per_frame = []
    all_ids = []
    for frame_labels in _frames(labels, axes):
        ids, counts = _frame_counts(frame_labels)
        per_frame.append((counts, frame_labels.size))
        all_ids.append(ids)

    def row(frame, counts, n_pixels, distinct):
        has = counts.size > 0
        return {
            "image": image_name,
            "frame": frame,
            "count": int(counts.size),
            "distinct_labels": int(distinct),
            f"mean_{size}_px": float(counts.mean()) if has else None,
            f"median_{size}_px": float(np.median(counts)) if has else None,
            f"min_{size}_px": int(counts.min()) if has else None,
            f"max_{size}_px": int(counts.max()) if has else None,
            "foreground_fraction": float(counts.sum() / n_pixels) if n_pixels else 0.0,
        }

    every = np.concatenate([c for c, _ in per_frame]) if per_frame else np.zeros(0, np.int64)
    distinct_all = np.unique(np.concatenate(all_ids)).size if all_ids else 0
    rows = [row("all", every, labels.size, distinct_all)]
    if "T" in axes:
        for t, ((counts, n_pixels), ids) in enumerate(zip(per_frame, all_ids)):
            rows.append(row(t + 1, counts, n_pixels, ids.size))
    return rows


# ---------------------------------------------------------------------------------


def _check_labels(labels, axes: str) -> tuple[np.ndarray, str]:
    from ..annotation.convert import ensure_integer_labels

    labels = np.asarray(labels)
    axes = axes.upper()
    if len(axes) != labels.ndim:
        raise InputError(f"label map of shape {labels.shape} does not match axes {axes!r}")
    if (
        not axes.endswith("YX")
        or any(a not in LABEL_AXES for a in axes)
        or len(set(axes)) != len(axes)
        or axes != "".join(a for a in LABEL_AXES if a in axes)
    ):
        raise InputError(
            f"label maps must have axes from T, Z, Y, X in that order ending in YX, not {axes!r}; "
            "split channels (Image > Color > Split Channels) first."
        )
    return ensure_integer_labels(labels), axes


def _frames(array: np.ndarray, axes: str) -> np.ndarray:
    """View of ``array`` (axes starting with ``axes``) with T first, size 1 if absent."""
    return array if "T" in axes else array[np.newaxis]


def _image_channels(image, label_shape: tuple, axes: str, image_axes: str | None) -> np.ndarray:
    """The image as ``(T, *label_spatial_shape, C)`` (T of size 1 when labels have none)."""
    image = np.asarray(image)
    if image_axes is None:
        if image.ndim == len(axes):
            image_axes = axes
        elif image.ndim == len(axes) + 1:
            image_axes = axes + "C"
        else:
            raise InputError(
                f"image of shape {image.shape} does not fit label map of shape {label_shape} "
                f"(axes {axes!r}): it needs the same axes, optionally plus a channel axis."
            )
    image_axes = image_axes.upper()
    if len(image_axes) != image.ndim:
        raise InputError(f"image of shape {image.shape} does not match image_axes {image_axes!r}")
    channel_axes = [a for a in image_axes if a in "CS"]
    if len(channel_axes) > 1 or sorted(a for a in image_axes if a not in "CS") != sorted(axes):
        raise InputError(
            f"image axes {image_axes!r} must be the label axes {axes!r} plus at most one of C, S"
        )
    if not channel_axes:
        image = image[..., np.newaxis]
        image_axes += "C"
    order = [image_axes.index(a) for a in axes + ("C" if "C" in image_axes else "S")]
    image = np.transpose(image, order)
    if image.shape[:-1] != tuple(label_shape):
        raise InputError(
            f"image of shape {image.shape[:-1]} (without channels, axes {axes!r}) differs from "
            f"the label map's {tuple(label_shape)}"
        )
    if image.dtype.kind not in "biuf":
        raise InputError(f"image dtype {image.dtype} has no intensities to average")
    return _frames(image, axes)


def _compress_ids(flat: np.ndarray, top: int) -> tuple[np.ndarray, np.ndarray]:
    """Small codes for ``flat`` (0 stays 0) and the label id of each code.

    ``np.bincount`` allocates ``max + 1`` bins; with large ids that can exceed the
    image by far, so ids are mapped onto small codes first: by subtracting the
    smallest id when the ids span a short range (ids offset per frame or per tile),
    else through the sorted distinct ids.
    """
    foreground = flat != 0
    values = flat[foreground]
    low = int(values.min())
    codes = np.zeros(flat.shape, np.intp)
    if top - low < max(flat.size, 1 << 16):
        codes[foreground] = values - (low - 1)
        ids = np.concatenate(([0], np.arange(low, top + 1, dtype=np.int64)))
    else:
        distinct = np.unique(values)
        codes[foreground] = np.searchsorted(distinct, values) + 1
        ids = np.concatenate(([0], distinct.astype(np.int64)))
    return codes, ids


def _prepare(frame_labels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, int]:
    """Flat labels ready for bincount, the id of each bin (None: bin == id), bin count."""
    flat = frame_labels.reshape(-1)
    if flat.size == 0:
        return flat, None, 1
    top = int(flat.max())
    if top >= max(flat.size, 1 << 16):
        codes, ids = _compress_ids(flat, top)
        return codes, ids, ids.size
    return flat, None, top + 1


def _frame_counts(frame_labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ids (sorted, without 0) and pixel counts of the objects in one frame."""
    flat, bin_ids, n_bins = _prepare(frame_labels)
    counts = np.bincount(flat, minlength=n_bins)
    present = np.nonzero(counts)[0]
    ids = present if bin_ids is None else bin_ids[present]
    keep = ids != 0
    return ids[keep].astype(np.int64), counts[present][keep]


def _frame_sums(frame_labels: np.ndarray, channels: np.ndarray | None):
    """Pixel counts and coordinate / intensity sums per object of one frame.

    Returns None for a frame without objects, else ``(ids, counts, sums)`` with
    ``sums`` holding ``x``, ``y``, ``z`` (0-based pixel indices) and ``intensity``
    (objects x channels) arrays aligned with ``ids``.
    """
    flat, bin_ids, n_bins = _prepare(frame_labels)
    if n_bins <= 1:  # only background (or no pixels)
        return None

    shape = frame_labels.shape  # (Z,) Y, X
    width = shape[-1]
    n_rows = flat.size // width if width else 0  # rows of the frame, all planes stacked
    height = shape[-2]
    rows_per_chunk = max(1, _CHUNK_PIXELS // max(width, 1))
    counts = np.zeros(n_bins, np.int64)
    sum_x = np.zeros(n_bins)
    sum_y = np.zeros(n_bins)
    sum_z = np.zeros(n_bins) if len(shape) == 3 else None
    n_channels = 0 if channels is None else channels.shape[-1]
    sum_i = np.zeros((n_bins, n_channels))
    flat_channels = None if channels is None else channels.reshape(-1, n_channels)
    columns = np.arange(width, dtype=np.float64)
    for start in range(0, n_rows, rows_per_chunk):
        stop = min(n_rows, start + rows_per_chunk)
        # bincount casts to intp on every call: cast once per chunk
        chunk = flat[start * width : stop * width].astype(np.intp, copy=False)
        row_index = np.arange(start, stop)
        counts += np.bincount(chunk, minlength=n_bins)
        sum_x += np.bincount(chunk, weights=np.tile(columns, stop - start), minlength=n_bins)
        y = np.repeat((row_index % height).astype(np.float64), width)
        sum_y += np.bincount(chunk, weights=y, minlength=n_bins)
        if sum_z is not None:
            z = np.repeat((row_index // height).astype(np.float64), width)
            sum_z += np.bincount(chunk, weights=z, minlength=n_bins)
        for c in range(n_channels):
            values = flat_channels[start * width : stop * width, c]
            sum_i[:, c] += np.bincount(chunk, weights=values.astype(np.float64, copy=False), minlength=n_bins)

    present = np.nonzero(counts)[0]
    ids = present if bin_ids is None else bin_ids[present]
    present, ids = present[ids != 0], ids[ids != 0]
    if present.size == 0:
        return None
    sums = {"x": sum_x[present], "y": sum_y[present], "intensity": sum_i[present]}
    if sum_z is not None:
        sums["z"] = sum_z[present]
    return ids.astype(np.int64), counts[present], sums


def _probability(probabilities: Mapping | None, frame: int, label: int):
    if probabilities is None:
        return None
    value = probabilities.get((frame, label))
    if value is None:
        value = probabilities.get(label)
    return None if value is None else float(value)
