"""Object housekeeping shared by every object maker: filter by area, renumber.

``bootstrap-rois`` (ImageJ's particle analysis), ``autolabel`` (adaptive Otsu labels) and
the U-Net's instances (:mod:`pyfiji_dl.models.unet.objects`) all drop objects outside an
area range and number the rest 1..n; :func:`filter_by_area` is that step for all three.

How the survivors are numbered is a choice each caller makes explicitly, because the
two orders in use differ:

* ``"raster"``: by each object's first pixel in raster order (row by row), the order in
  which ImageJ's particle analyser finds its particles;
* ``"id"``: by the objects' old ids, kept in their relative order.

They agree on a label map numbered in raster order already (``scipy.ndimage.label``'s),
but not on a watershed's: :func:`pyfiji_dl.annotation.watershed.split_touching` numbers
its pieces by their seeds (the distance maxima, in raster order), and a piece's first
pixel can come before that of a piece whose seed comes first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["AreaFiltered", "filter_by_area", "renumber_in_raster_order"]

ORDERS = ("raster", "id")


@dataclass(frozen=True)
class AreaFiltered:
    """What :func:`filter_by_area` gives back.

    Attributes
    ----------
    labels : ndarray of int32
        The kept objects, numbered 1..n.
    n_small, n_large : int
        Objects below ``min_area`` and above ``max_area`` (among all objects, dropped
        ones included).
    """

    labels: np.ndarray
    n_small: int = 0
    n_large: int = 0


def filter_by_area(labels: np.ndarray, min_area: float | None = None, max_area: float | None = None, *,
                   order: str, drop=()) -> AreaFiltered:
    """Keep the objects with ``min_area <= pixels <= max_area``, numbered 1..n in ``order``.

    Parameters
    ----------
    labels : ndarray of int
        Label map (0 = background), any number of dimensions.
    min_area, max_area : float, optional
        Area limits in pixels, both inclusive; None: no limit.
    order : {"raster", "id"}
        How the kept objects are numbered (see the module's notes).
    drop : iterable of int
        Further object ids to remove whatever their area (e.g. objects touching the edge).

    Returns
    -------
    AreaFiltered
    """
    if order not in ORDERS:
        raise ValueError(f"order must be one of {', '.join(ORDERS)}, not {order!r}")
    labels = np.asarray(labels)
    if not labels.any():
        return AreaFiltered(labels.astype(np.int32))
    areas = np.bincount(labels.ravel())
    present = areas > 0
    present[0] = False
    small = present & (areas < min_area) if min_area is not None else np.zeros_like(present)
    large = present & (areas > max_area) if max_area is not None else np.zeros_like(present)
    keep = present & ~small & ~large
    drop = np.asarray(list(drop), dtype=np.int64)
    keep[drop[(drop > 0) & (drop < keep.size)]] = False
    renumbered = (renumber_in_raster_order(labels, keep) if order == "raster" else _renumber_by_id(labels, keep))
    return AreaFiltered(renumbered, int(small.sum()), int(large.sum()))


def renumber_in_raster_order(labels: np.ndarray, keep: np.ndarray | None = None) -> np.ndarray:
    """Objects (those with ``keep[id]``, default all) numbered 1..n by their first pixel in raster order; int32."""
    labels = np.asarray(labels)
    flat = labels.ravel()
    ids, first = np.unique(flat, return_index=True)
    chosen = ids > 0
    if keep is not None:
        chosen &= np.asarray(keep)[ids]
    ids, first = ids[chosen], first[chosen]
    new_ids = np.zeros(int(flat.max()) + 1 if flat.size else 1, np.int32)
    new_ids[ids[np.argsort(first, kind="stable")]] = np.arange(1, ids.size + 1, dtype=np.int32)
    return new_ids[labels]


def _renumber_by_id(labels: np.ndarray, keep: np.ndarray) -> np.ndarray:
    new_ids = np.zeros(keep.size, np.int32)
    new_ids[keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    return new_ids[labels]
