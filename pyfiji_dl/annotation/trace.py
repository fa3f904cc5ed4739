"""Label maps to ImageJ ROIs whose filled masks are exactly the labels' pixels.

Outlines run along pixel edges: pixel ``(row i, column j)`` covers the square
``[j, j+1) x [i, i+1)`` and outline vertices sit on pixel corners (integer ``x, y``).
Only corner vertices are kept (no collinear intermediate points).

All labels of a map are traced in one raster pass (numba). Each label's
boundary edges are linked into closed loops with the label kept on the
right-hand side (in image coordinates, y pointing down), turning left whenever
possible -- the rule of ImageJ's 8-connected Wand (``Wand.traceEdge``). So:

* each 8-connected part of a label gets one outer loop (clockwise on screen;
  positive shoelace area in ``(x, y)``), which may touch itself at a corner
  where two pixels of the part only touch diagonally;
* each hole (a 4-connected region of other pixels enclosed by the label, other
  labels included) gets one loop of its own (counter-clockwise on screen).

Every boundary edge of a label belongs to exactly one of its loops, and no two
vertical edges of a label share a row and an x position. ImageJ fills
polygons and composite shapes with ``ij.process.PolygonFiller``: per pixel row
it sorts the crossings of the non-horizontal edges and fills between pairs
(even-odd). With only vertical edges on pixel boundaries the crossings of a row
are exactly the places where the label starts and stops, so the fill is
exactly the label's pixels -- for any set of loops of one label, pinch points
and touching loops included. ``label_rois`` therefore writes:

* a label with exactly one loop (one 8-connected part, no hole): a TRACED
  polygon ROI (``Roi.TRACED_ROI``) with integer coordinates;
* a label with several loops (holes, or several disconnected parts), or with a
  single outline of more than 65,535 vertices: one composite ROI (ImageJ's
  ``ShapeRoi``; roifile ``roitype=RECT`` with ``shape_roi_size > 0``) whose
  path is ``MOVETO x y, LINETO x y ..., CLOSE`` per loop in float coordinates,
  with the even-odd rule.

Large coordinates: integer ``.roi`` coordinates are 16-bit offsets from a
16-bit bounding box, and ``RoiDecoder.getShort`` reads the box as signed shorts,
taking values below -5000 as unsigned (so -5000..60535 decode). A TRACED ROI
reaching beyond 32,767 px or below -5,000 px (negative ``offset``) is therefore
written with sub-pixel (float32) coordinates, which ImageJ then uses instead of
the 16-bit coordinates and the header box (roifile still writes the header box
wrapped to 16 bits; ImageJ ignores it). Composite ROIs always store float32
coordinates and ImageJ takes their box from the path. Float32 is exact for
integers up to 2**24, the largest coordinate accepted. (ImageJ 1.53t quirk: a
float polygon lying entirely at negative x or y gets its ``getBounds()``
stretched to 0 because ``FloatPolygon`` starts its maximum at
``Float.MIN_VALUE``; its mask is larger but still fills exactly the label.)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import roifile
from numba import njit

from ..errors import InputError, OptionError

__all__ = ["label_rois", "trace_label_outlines"]

_MAX_INT_COORD = 32767  # beyond this, TRACED ROIs use float coordinates
_MIN_INT_COORD = -5000  # RoiDecoder.getShort reads lower values as unsigned
_MAX_FLOAT_COORD = 2**24  # float32 holds every integer up to here
_MAX_POLYGON_POINTS = 65535  # as ImageJ's RoiEncoder: more -> composite ROI

# PathIterator segment types as ShapeRoi stores them
_SEG_MOVETO = 0.0
_SEG_LINETO = 1.0
_SEG_CLOSE = 4.0


# ----------------------------------------------------------------------------
# numba kernels
# ----------------------------------------------------------------------------


@njit(cache=True, inline="always")
def _is_label(labels, r, c, v, height, width):
    return r >= 0 and r < height and c >= 0 and c < width and labels[r, c] == v


@njit(cache=True)
def _count_runs(labels):
    """Count maximal horizontal boundary runs (pixel top edges, pixel bottom edges).

    Each maximal horizontal segment of an outline is one such run and every
    corner vertex ends exactly one of them, so a label map's loops have
    ``2 * (top + bottom)`` corners in total, and at most ``top`` loops.
    Returns ``(top, bottom, negative_seen)``.
    """
    height, width = labels.shape
    zero_row = np.zeros(width, labels.dtype)
    top = 0
    bottom = 0
    negative = 0
    for i in range(height):
        row = labels[i]
        up = labels[i - 1] if i > 0 else zero_row
        down = labels[i + 1] if i < height - 1 else zero_row
        for j in range(width):
            v = row[j]
            inside = np.int64(v != 0)
            negative += np.int64(v < 0)
            top_edge = inside * np.int64(up[j] != v)
            bottom_edge = inside * np.int64(down[j] != v)
            if j > 0:
                # a run goes on from the left pixel if it has the same label and
                # the same kind of boundary
                left = np.int64(row[j - 1] == v)
                top_edge *= 1 - left * np.int64(up[j - 1] != v)
                bottom_edge *= 1 - left * np.int64(down[j - 1] != v)
            top += top_edge
            bottom += bottom_edge
    return top, bottom, negative > 0


@njit(cache=True)
def _trace_loops(labels, n_corners, max_loops):
    """Trace all closed boundary loops of all nonzero labels in one raster pass.

    ``n_corners`` and ``max_loops`` come from :func:`_count_runs`. Returns
    ``(verts, starts, loop_labels, boxes)``: corner vertices ``(x, y)`` of all
    loops back to back, loop ``k`` being ``verts[starts[k]:starts[k+1]]``; the
    label of each loop; and each loop's box ``(xmin, ymin, xmax, ymax)``.

    A loop starts at the first (raster order) pixel whose top edge is a boundary
    edge not yet traced; its top-left corner is then always a corner vertex
    (the edge before it cannot be the earlier top edge of the pixel to the
    left). Only east-going edges (pixel top edges) need marking as traced.
    """
    height, width = labels.shape
    top_done = np.zeros((height, width), np.uint8)
    verts = np.empty((n_corners + 1, 2), np.int32)  # +1: branch-free writes
    starts = np.empty(max_loops + 1, np.int64)
    loop_labels = np.empty(max_loops, np.int64)
    boxes = np.empty((max_loops, 4), np.int64)
    nv = 0
    nl = 0
    starts[0] = 0
    for i in range(height):
        for j in range(width):
            v = labels[i, j]
            if v <= 0:
                continue
            if (i > 0 and labels[i - 1, j] == v) or top_done[i, j] != 0:
                continue
            # new loop from corner (j, i) heading east (0=E, 1=S, 2=W, 3=N),
            # the label on the right-hand side (image coordinates, y down)
            x = j
            y = i
            d = 0
            verts[nv, 0] = x
            verts[nv, 1] = y
            nv += 1
            while True:
                if d == 0:
                    top_done[y, x] = 1
                    x += 1
                    ahead_left = _is_label(labels, y - 1, x, v, height, width)
                    ahead_right = _is_label(labels, y, x, v, height, width)
                elif d == 1:
                    y += 1
                    ahead_left = _is_label(labels, y, x, v, height, width)
                    ahead_right = _is_label(labels, y, x - 1, v, height, width)
                elif d == 2:
                    x -= 1
                    ahead_left = _is_label(labels, y, x - 1, v, height, width)
                    ahead_right = _is_label(labels, y - 1, x - 1, v, height, width)
                else:
                    y -= 1
                    ahead_left = _is_label(labels, y - 1, x - 1, v, height, width)
                    ahead_right = _is_label(labels, y - 1, x, v, height, width)
                # turn left if the label continues there (8-connected, as
                # ImageJ's Wand), else go straight on if it can, else turn right
                if ahead_left:
                    nd = (d + 3) & 3
                elif ahead_right:
                    nd = d
                else:
                    nd = (d + 1) & 3
                if nd == 0 and x == j and y == i:
                    break
                # write unconditionally, keep only corners (branch-free)
                verts[nv, 0] = x
                verts[nv, 1] = y
                nv += np.int64(nd != d)
                d = nd
            s0 = starts[nl]
            xmin = verts[s0, 0]
            xmax = xmin
            ymin = verts[s0, 1]
            ymax = ymin
            for m in range(s0 + 1, nv):
                xmin = min(xmin, verts[m, 0])
                xmax = max(xmax, verts[m, 0])
                ymin = min(ymin, verts[m, 1])
                ymax = max(ymax, verts[m, 1])
            loop_labels[nl] = v
            boxes[nl, 0] = xmin
            boxes[nl, 1] = ymin
            boxes[nl, 2] = xmax
            boxes[nl, 3] = ymax
            nl += 1
            starts[nl] = nv
    return verts[:nv], starts[: nl + 1], loop_labels[:nl], boxes[:nl]


@njit(cache=True)
def _composite_path(verts, starts, loop_ids, ox, oy):
    """ShapeRoi path (MOVETO, LINETO..., CLOSE per loop) of the given loops."""
    size = 0
    for k in loop_ids:
        size += 3 * (starts[k + 1] - starts[k]) + 1
    path = np.empty(size, np.float32)
    p = 0
    for k in loop_ids:
        op = _SEG_MOVETO
        for m in range(starts[k], starts[k + 1]):
            path[p] = op
            path[p + 1] = verts[m, 0] + ox
            path[p + 2] = verts[m, 1] + oy
            p += 3
            op = _SEG_LINETO
        path[p] = _SEG_CLOSE
        p += 1
    return path


# ----------------------------------------------------------------------------
# Python API
# ----------------------------------------------------------------------------


class _Loops(NamedTuple):
    verts: np.ndarray  # (n, 2) int32 corner vertices (x, y), all loops back to back
    starts: np.ndarray  # (nloops + 1,) int64
    labels: np.ndarray  # (nloops,) int64
    boxes: np.ndarray  # (nloops, 4) int64: xmin, ymin, xmax, ymax


def _check_labels(labels) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.ndim != 2:
        raise InputError(f"labels must be a 2D array, got shape {arr.shape}")
    if arr.dtype.kind not in "iu":
        raise InputError(
            f"labels must have an integer dtype, got {arr.dtype}; "
            "convert with .astype(np.int32) if the values are whole numbers"
        )
    if arr.dtype == np.uint64 and arr.size and arr.max() > np.iinfo(np.int64).max:
        raise InputError("labels above 2**63 - 1 are not supported")
    return np.ascontiguousarray(arr)


def _trace(labels) -> _Loops:
    arr = _check_labels(labels)
    if arr.size == 0:
        return _Loops(
            np.empty((0, 2), np.int32),
            np.zeros(1, np.int64),
            np.empty(0, np.int64),
            np.empty((0, 4), np.int64),
        )
    top_runs, bottom_runs, negative = _count_runs(arr)
    if negative:
        raise InputError("labels must not be negative (0 is background, ids are > 0)")
    n_corners = 2 * (top_runs + bottom_runs)
    verts, starts, loop_labels, boxes = _trace_loops(arr, n_corners, top_runs)
    if verts.shape[0] != n_corners:  # pragma: no cover - would be a bug
        raise AssertionError("outline tracing lost vertices")
    return _Loops(verts, starts, loop_labels, boxes)


def trace_label_outlines(labels: np.ndarray) -> dict[int, list[np.ndarray]]:
    """Trace the pixel-edge outlines of every label of a 2D label map.

    Parameters
    ----------
    labels : (height, width) array of int
        Label map; 0 is background and skipped, every other value is one label
        (its pixels need not be connected).

    Returns
    -------
    dict of int to list of ndarray
        Label id -> its closed loops, each an ``(N, 2)`` int32 array of
        ``(x, y)`` corner vertices (pixel ``(i, j)`` covers
        ``[j, j+1) x [i, i+1)``), the closing edge from the last vertex back to
        the first being implied; only corners are kept. There is one loop per
        8-connected part of the label (its outer boundary, clockwise on screen,
        i.e. positive shoelace area in ``(x, y)``; it touches itself at corners
        where pixels only touch diagonally) and one per hole (a 4-connected
        region of other pixels enclosed by the label, counter-clockwise).
        Loops are in raster order of their topmost-leftmost edge, so a part's
        outer boundary precedes its holes. Keys are in increasing order. The
        even-odd fill of all loops of a label is exactly its pixels.

    Raises
    ------
    ValueError
        If ``labels`` is not 2D, not of an integer dtype, or has negative values.
    """
    loops = _trace(labels)
    order = np.argsort(loops.labels, kind="stable")
    result: dict[int, list[np.ndarray]] = {}
    starts = loops.starts
    verts = loops.verts
    for k in order.tolist():
        result.setdefault(int(loops.labels[k]), []).append(
            verts[starts[k] : starts[k + 1]].copy()
        )
    return result


def _check_position(name: str, value) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise OptionError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if value < 0 or value > 2**31 - 1:
        raise OptionError(f"{name} must be between 0 (unset) and 2**31 - 1, got {value}")
    return value


def label_rois(
    labels: np.ndarray,
    *,
    name_format: str = "{label:05d}",
    position: int = 0,
    c: int = 0,
    z: int = 0,
    t: int = 0,
    offset: tuple[int, int] = (0, 0),
) -> list[roifile.ImagejRoi]:
    """One ImageJ ROI per label whose ImageJ fill is exactly that label's pixels.

    Parameters
    ----------
    labels : (height, width) array of int
        Label map; 0 is background. Negative values raise ``ValueError``.
    name_format : str
        ``str.format`` template of each ROI's name; may use ``{label}``,
        ``{c}``, ``{z}`` and ``{t}``. Names double as zip entry names when
        written with ``roifile.roiwrite``, so keep ``{label}`` in it.
    position : int
        1-based stack position (slice) of every ROI; 0 = all slices.
    c, z, t : int
        1-based hyperstack channel, slice and frame of every ROI; 0 = unset.
        When any is given, they are written to the ROI's second header and
        ``position`` must be 0 (ImageJ clears the stack position of a ROI with
        a hyperstack position).
    offset : (int, int)
        ``(x, y)`` added to all coordinates, e.g. the origin of a tile in a
        larger image.

    Returns
    -------
    list of roifile.ImagejRoi
        In increasing label order. A label made of one 8-connected part
        without holes gives a TRACED polygon (``ROI_TYPE.TRACED``) of its outer
        boundary; a label with holes or several parts (or an outline of more
        than 65,535 vertices) gives one composite ROI (ImageJ ``ShapeRoi``:
        ``roitype=RECT``, ``multi_coordinates`` = MOVETO/LINETO.../CLOSE per
        loop, even-odd). TRACED ROIs reaching beyond 32,767 px or below -5,000 px
        use sub-pixel float coordinates. ``roi.getMask()`` at ``roi.getBounds()`` in
        ImageJ (what ``ImageProcessor.fill(roi)`` paints) is exactly
        ``labels == label`` shifted by ``offset``.

    Raises
    ------
    ValueError
        Invalid labels (see :func:`trace_label_outlines`), negative or
        non-integer positions or offsets, ``position`` together with ``c``,
        ``z`` or ``t``, or coordinates beyond 2**24 in magnitude.
    """
    position = _check_position("position", position)
    c = _check_position("c", c)
    z = _check_position("z", z)
    t = _check_position("t", t)
    if position and (c or z or t):
        raise OptionError(
            "give either a stack position or hyperstack c/z/t positions, not both: "
            "ImageJ sets a ROI's stack position to 0 when it has c/z/t positions"
        )
    try:
        ox, oy = offset
    except (TypeError, ValueError):
        raise OptionError(f"offset must be a pair (x, y), got {offset!r}") from None
    for v in (ox, oy):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            raise OptionError(f"offset must be a pair of integers, got {offset!r}")
    ox = int(ox)
    oy = int(oy)
    try:
        name_format.format(label=1, c=c, z=z, t=t)
    except (KeyError, IndexError, ValueError) as exc:
        raise OptionError(
            f"name_format {name_format!r} must only use {{label}}, {{c}}, {{z}}, {{t}}: {exc}"
        ) from None

    loops = _trace(labels)
    nloops = loops.labels.shape[0]
    if nloops == 0:
        return []

    order = np.argsort(loops.labels, kind="stable")
    sorted_labels = loops.labels[order]
    first = np.flatnonzero(np.r_[True, sorted_labels[1:] != sorted_labels[:-1]])
    counts = np.diff(np.r_[first, nloops])
    boxes = loops.boxes[order]
    label_boxes = np.empty((first.size, 4), np.int64)
    label_boxes[:, 0] = np.minimum.reduceat(boxes[:, 0], first) + ox
    label_boxes[:, 1] = np.minimum.reduceat(boxes[:, 1], first) + oy
    label_boxes[:, 2] = np.maximum.reduceat(boxes[:, 2], first) + ox
    label_boxes[:, 3] = np.maximum.reduceat(boxes[:, 3], first) + oy
    if label_boxes.size and (
        label_boxes.min() < -_MAX_FLOAT_COORD or label_boxes.max() > _MAX_FLOAT_COORD
    ):
        raise InputError(
            "coordinates beyond 2**24 px cannot be stored exactly in ImageJ ROIs"
        )
    needs_float = (label_boxes[:, :2].min(axis=1) < _MIN_INT_COORD) | (
        label_boxes[:, 2:].max(axis=1) > _MAX_INT_COORD
    )

    # vertices relative to their loop's box: a single-loop label's ROI coordinates
    starts = loops.starts
    lengths = np.diff(starts)
    verts = loops.verts
    rel = verts - np.repeat(loops.boxes[:, :2].astype(np.int32), lengths, axis=0)

    traced = roifile.ROI_TYPE.TRACED
    rect = roifile.ROI_TYPE.RECT
    no_options = roifile.ROI_OPTIONS.NONE
    subpixel = roifile.ROI_OPTIONS.SUB_PIXEL_RESOLUTION
    ImagejRoi = roifile.ImagejRoi

    rois: list[roifile.ImagejRoi] = []
    label_list = sorted_labels[first].tolist()
    box_list = label_boxes.tolist()
    count_list = counts.tolist()
    first_list = first.tolist()
    float_list = needs_float.tolist()
    order_list = order.tolist()
    for idx, label in enumerate(label_list):
        left, top, right, bottom = box_list[idx]
        name = name_format.format(label=label, c=c, z=z, t=t)
        k = order_list[first_list[idx]]
        s = int(starts[k])
        e = int(starts[k + 1])
        if count_list[idx] == 1 and e - s <= _MAX_POLYGON_POINTS:
            roi = ImagejRoi(
                roitype=traced,
                options=no_options,
                name=name,
                top=top,
                left=left,
                bottom=bottom,
                right=right,
                n_coordinates=e - s,
                integer_coordinates=rel[s:e].copy(),
                position=position,
                c_position=c,
                z_position=z,
                t_position=t,
            )
            if float_list[idx]:
                pts = verts[s:e].astype(np.float32)
                pts[:, 0] += ox
                pts[:, 1] += oy
                roi.subpixel_coordinates = pts
                roi.options = subpixel
        else:
            ids = order[first_list[idx] : first_list[idx] + count_list[idx]]
            path = _composite_path(verts, starts, ids, float(ox), float(oy))
            roi = ImagejRoi(
                roitype=rect,
                options=no_options,
                name=name,
                top=top,
                left=left,
                bottom=bottom,
                right=right,
                shape_roi_size=path.size,
                multi_coordinates=path,
                position=position,
                c_position=c,
                z_position=z,
                t_position=t,
            )
        rois.append(roi)
    return rois
