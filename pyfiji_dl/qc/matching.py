"""Instance-segmentation metrics: one-to-one object matching at IoU thresholds.

The numbers are those of ``stardist.matching.matching`` and
``stardist.matching.matching_dataset`` (StarDist 0.8.5, criterion ``'iou'``),
value for value, so a QC table made here can be compared with any StarDist or
ZeroCostDL4Mic report. StarDist is not imported: its implementation builds a dense
``(n_true + 1) x (n_pred + 1)`` overlap matrix and solves a dense assignment
problem for every threshold, which is what makes it slow on large images.

How the same numbers are obtained faster
----------------------------------------
StarDist assigns true to predicted objects with ``linear_sum_assignment`` on the
costs ``-(iou >= t) - iou / (2 * min(n_true, n_pred))``: first as many pairs with
IoU >= t as possible, then (tie-breaker) the largest IoU sum. Pairs that do not
overlap cost 0, so this optimisation splits into independent problems, one per
connected component of the "objects overlap" graph. Here:

* overlaps are counted sparsely (only pairs that touch), in one pass;
* for each threshold, a component whose pairs with IoU >= t already form a
  one-to-one matching needs no optimisation: every optimal assignment contains
  exactly those pairs. This is always the case for t > 0.5 (an object can share
  more than half its union with only one other object) and nearly always at 0.5;
* only the remaining components are solved with ``linear_sum_assignment`` on
  their own small block, with StarDist's cost formula.

The IoUs are computed in float32 and compared with the threshold exactly as
StarDist does (an IoU of exactly 7/10 passes t = 0.7), and sums are taken in the
same order and precision, so the results are bitwise equal. The one theoretical
difference: when two assignments are exactly equally good for StarDist's
objective but give different IoU sums, either implementation may pick either; this
needs hand-made, perfectly symmetric ties and did not occur in the tests.

Two further rules are kept alongside, clearly named, because published work on
automatically labelled nuclei uses them: :func:`any_overlap_metrics` (Salomon-Sörensen,
"Cell Identification from Microscopy Images using Deep Learning on Automatically Labeled
Data", Lund University MSc thesis, 2023: a predicted object is a true positive if it
touches any true object) and :func:`pixel_metrics` (foreground
pixels).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from ..errors import InputError, OptionError

__all__ = [
    "IOU_THRESHOLDS",
    "MATCH_COLUMNS",
    "match_instances",
    "matched_pairs",
    "match_dataset",
    "any_overlap_metrics",
    "pixel_metrics",
]

IOU_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
"""IoU thresholds of the standard QC sweep (0.5 is the usual single number)."""

MATCH_COLUMNS = (
    "thresh",
    "tp",
    "fp",
    "fn",
    "precision",
    "recall",
    "accuracy",
    "f1",
    "mean_true_score",
    "mean_matched_score",
    "panoptic_quality",
    "n_true",
    "n_pred",
)
"""Keys of the rows returned by :func:`match_instances` and :func:`match_dataset`."""

# Above this many distinct label ids per pixel, a bincount over the id range would
# waste memory: fall back to sorting.
_BINCOUNT_MAX_LABEL_PER_PIXEL = 4
_BINCOUNT_MIN_BUDGET = 1 << 20


# ---------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------


def match_instances(y_true, y_pred, thresholds=IOU_THRESHOLDS):
    """Match true and predicted objects one-to-one and score them at each threshold.

    Parameters
    ----------
    y_true, y_pred : ndarray of int
        Label maps of the same shape (2D or 3D), 0 = background. Label ids need
        not be consecutive.
    thresholds : float or sequence of float
        IoU thresholds, each > 0. A pair of objects is a true positive at
        threshold ``t`` if it is in the optimal one-to-one assignment and its
        IoU >= ``t``.

    Returns
    -------
    list of dict
        One row per threshold with the keys of :data:`MATCH_COLUMNS`:
        ``tp``, ``fp``, ``fn`` (object counts), ``precision = tp / n_pred``,
        ``recall = tp / n_true``, ``accuracy = tp / (tp + fp + fn)``,
        ``f1 = 2 tp / (2 tp + fp + fn)``, ``mean_matched_score`` (mean IoU of the
        true positives), ``mean_true_score`` (sum of the true positives' IoU
        divided by ``n_true``), ``panoptic_quality`` (sum of their IoU divided by
        ``tp + fp / 2 + fn / 2``, Kirillov et al. 2019), ``n_true``, ``n_pred``.
        As in StarDist, ratios are 0 when there is no true positive.

    Examples
    --------
    >>> y_true = np.zeros((100, 100), np.uint16)
    >>> y_true[10:20, 10:20] = 1
    >>> y_pred = np.roll(y_true, 2, axis=0)
    >>> row = match_instances(y_true, y_pred, thresholds=0.5)[0]
    >>> row["tp"], round(row["mean_matched_score"], 4)
    (1, 0.6667)
    """
    thresholds = _as_thresholds(thresholds)
    overlaps = _overlaps(y_true, y_pred)
    return [_stats_row(_match_at(overlaps, thresh)) for thresh in thresholds]


def matched_pairs(y_true, y_pred, thresh=0.5):
    """The true-positive pairs of the one-to-one matching at one IoU threshold.

    Parameters
    ----------
    y_true, y_pred : ndarray of int
        Label maps of the same shape.
    thresh : float
        IoU threshold (> 0).

    Returns
    -------
    true_ids, pred_ids : ndarray of int64
        Original label ids of each matched pair, sorted by true id.
    ious : ndarray of float32
        IoU of each pair (>= ``thresh``), the values StarDist uses.

    Notes
    -----
    True objects not in ``true_ids`` are false negatives and predicted objects not
    in ``pred_ids`` are false positives at this threshold.
    """
    (thresh,) = _as_thresholds(thresh)
    overlaps = _overlaps(y_true, y_pred)
    match = _match_at(overlaps, thresh)
    return (
        overlaps.true_labels[match.true_index],
        overlaps.pred_labels[match.pred_index],
        overlaps.iou[match.pair_index],
    )


def match_dataset(y_true_list, y_pred_list, thresholds=IOU_THRESHOLDS, names=None):
    """Score a set of images: per-image rows and rows pooled over all objects.

    Parameters
    ----------
    y_true_list, y_pred_list : sequence of ndarray of int
        Label maps, paired by position; each pair must have the same shape.
    thresholds : float or sequence of float
        IoU thresholds (> 0).
    names : sequence of str, optional
        One name per image for the ``image`` column; default: the image index.

    Returns
    -------
    per_image_rows : list of dict
        One row per image and threshold: ``image`` plus :data:`MATCH_COLUMNS`.
    pooled_rows : list of dict
        One row per threshold: object counts summed over all images and the
        ratios computed from the sums (every object weighs the same, large images
        count more). Equal to ``stardist.matching.matching_dataset(...,
        by_image=False)``.
    """
    y_true_list = list(y_true_list)
    y_pred_list = list(y_pred_list)
    if len(y_true_list) != len(y_pred_list):
        raise ValueError(
            f"{len(y_true_list)} ground-truth label maps but {len(y_pred_list)} predictions; "
            "they are paired by position and must be equally many."
        )
    if names is None:
        names = list(range(len(y_true_list)))
    else:
        names = list(names)
        if len(names) != len(y_true_list):
            raise ValueError(f"{len(names)} names for {len(y_true_list)} images.")
    thresholds = _as_thresholds(thresholds)

    per_image_rows = []
    matches_per_threshold = [[] for _ in thresholds]
    for name, y_true, y_pred in zip(names, y_true_list, y_pred_list):
        try:
            overlaps = _overlaps(y_true, y_pred)
        except ValueError as exc:
            raise InputError(f"image {name!r}: {exc}") from None
        for k, thresh in enumerate(thresholds):
            match = _match_at(overlaps, thresh)
            matches_per_threshold[k].append(match)
            per_image_rows.append({"image": name, **_stats_row(match)})
    pooled_rows = [
        _pooled_row(thresh, matches) for thresh, matches in zip(thresholds, matches_per_threshold)
    ]
    return per_image_rows, pooled_rows


def any_overlap_metrics(y_true, y_pred):
    """Object counts by Salomon-Sörensen's (2023) rule: any overlap at all makes a match.

    A predicted object is a true positive if it shares at least one pixel with any
    true object; otherwise it is a false positive. A true object that no
    predicted object touches is a false negative. Several touching true objects
    covered by one predicted blob therefore count as one true positive, and no
    IoU is involved: this measures *detection* (were the cells found?), not
    segmentation quality. Use :func:`match_instances` for the latter.

    Parameters
    ----------
    y_true, y_pred : ndarray of int or bool
        Label maps, or binary masks (split into connected components with full
        connectivity first, as Salomon-Sörensen 2023 does).

    Returns
    -------
    dict
        ``any_overlap_tp`` (predicted objects touching a true object, i.e.
        ``n_pred - any_overlap_fp``), ``any_overlap_fp``, ``any_overlap_fn``,
        ``any_overlap_precision = tp / (tp + fp)``,
        ``any_overlap_recall = tp / (tp + fn)``,
        ``any_overlap_f1 = 2 tp / (2 tp + fp + fn)`` (Salomon-Sörensen 2023's "Dice"),
        ``any_overlap_iou = tp / (tp + fp + fn)``, ``n_true``, ``n_pred``.
        Ratios are 0 when there is no true positive (as for :func:`match_instances`).
    """
    y_true = _labels_from_mask_or_labels(y_true, "y_true")
    y_pred = _labels_from_mask_or_labels(y_pred, "y_pred")
    overlaps = _overlaps(y_true, y_pred)
    n_true, n_pred = len(overlaps.true_labels), len(overlaps.pred_labels)
    touched_true = np.unique(overlaps.pair_true).size
    touched_pred = np.unique(overlaps.pair_pred).size
    fp = n_pred - touched_pred
    fn = n_true - touched_true
    tp = n_pred - fp
    return {
        "any_overlap_tp": int(tp),
        "any_overlap_fp": int(fp),
        "any_overlap_fn": int(fn),
        "any_overlap_precision": _ratio(tp, tp + fp, tp),
        "any_overlap_recall": _ratio(tp, tp + fn, tp),
        "any_overlap_f1": _ratio(2 * tp, 2 * tp + fp + fn, tp),
        "any_overlap_iou": _ratio(tp, tp + fp + fn, tp),
        "n_true": int(n_true),
        "n_pred": int(n_pred),
    }


def pixel_metrics(y_true, y_pred):
    """Foreground/background agreement pixel by pixel (semantic segmentation).

    Parameters
    ----------
    y_true, y_pred : ndarray
        Label maps or masks of the same shape; any non-zero pixel is foreground.

    Returns
    -------
    dict
        ``pixel_tp``, ``pixel_fp``, ``pixel_fn``, ``pixel_tn`` (pixel counts),
        ``pixel_precision = tp / (tp + fp)``, ``pixel_recall = tp / (tp + fn)``,
        ``pixel_dice = 2 tp / (2 tp + fp + fn)``, ``pixel_iou = tp / (tp + fp + fn)``
        and ``pixel_accuracy = (tp + tn) / n_pixels``. Ratios other than accuracy
        are 0 when there is no true-positive pixel. Accuracy is dominated by easy
        background pixels when objects are sparse (12 % nuclei in the brightfield images of a University of Tartu thesis).
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise InputError(f"y_true {y_true.shape} and y_pred {y_pred.shape} have different shapes.")
    fg_true = y_true != 0
    fg_pred = y_pred != 0
    tp = int(np.count_nonzero(fg_true & fg_pred))
    n_true_fg = int(np.count_nonzero(fg_true))
    n_pred_fg = int(np.count_nonzero(fg_pred))
    fp = n_pred_fg - tp
    fn = n_true_fg - tp
    tn = y_true.size - tp - fp - fn
    return {
        "pixel_tp": tp,
        "pixel_fp": fp,
        "pixel_fn": fn,
        "pixel_tn": tn,
        "pixel_precision": _ratio(tp, tp + fp, tp),
        "pixel_recall": _ratio(tp, tp + fn, tp),
        "pixel_dice": _ratio(2 * tp, 2 * tp + fp + fn, tp),
        "pixel_iou": _ratio(tp, tp + fp + fn, tp),
        "pixel_accuracy": (tp + tn) / y_true.size if y_true.size else 0.0,
    }


# ---------------------------------------------------------------------------
# overlaps
# ---------------------------------------------------------------------------


class _Overlaps(NamedTuple):
    true_labels: np.ndarray  # original ids of the true objects, ascending
    pred_labels: np.ndarray
    pair_true: np.ndarray  # index into true_labels of each overlapping pair
    pair_pred: np.ndarray  # index into pred_labels
    iou: np.ndarray  # float32, sorted by (pair_true, pair_pred)


class _Match(NamedTuple):
    n_true: int
    n_pred: int
    thresh: float
    pair_index: np.ndarray  # indices into _Overlaps arrays of the true positives, by true index
    true_index: np.ndarray
    pred_index: np.ndarray
    tp: int
    sum_matched_score: object  # np.float32, or 0.0 when nothing can match (as StarDist)


def _check_label_map(y, name):
    if not (isinstance(y, np.ndarray) and np.issubdtype(y.dtype, np.integer)):
        kind = type(y).__name__ if not isinstance(y, np.ndarray) else f"{y.dtype} array"
        raise InputError(
            f"{name} must be a NumPy array of non-negative integer labels, got {kind}. "
            "For a binary mask use skimage.measure.label(mask) first."
        )
    if y.size and y.min() < 0:
        raise InputError(f"{name} has negative labels; labels must be >= 0 (0 = background).")


def _sequential(y):
    """Relabel ``y`` to 1..n in order of label id; return (ids, sizes, labels) of it."""
    flat = y.ravel()
    if flat.size == 0:
        return np.zeros(0, np.int32), np.zeros(0, np.uint64), np.zeros(0, np.int64)
    max_label = int(flat.max())
    budget = max(_BINCOUNT_MIN_BUDGET, _BINCOUNT_MAX_LABEL_PER_PIXEL * flat.size)
    if max_label <= budget:
        # Sizes of all ids in one O(n) pass instead of np.unique's sort.
        counts = np.bincount(flat.astype(np.intp, copy=False), minlength=max_label + 1)
        labels = np.flatnonzero(counts)
        labels = labels[labels != 0]
        sizes = counts[labels].astype(np.uint64)
        forward = np.zeros(max_label + 1, np.int32)
        forward[labels] = np.arange(1, labels.size + 1, dtype=np.int32)
        sequential = forward[flat]
    else:
        ids, inverse, counts = np.unique(flat, return_inverse=True, return_counts=True)
        if ids[0] == 0:
            labels, sizes, sequential = ids[1:], counts[1:], inverse
        else:
            labels, sizes, sequential = ids, counts, inverse + 1
        sequential = sequential.astype(np.int32)
        sizes = sizes.astype(np.uint64)
    return sequential, sizes, labels.astype(np.int64)


@njit(cache=True, nogil=True)
def _pair_runs(sequential_true, sequential_pred):
    # Neighbouring pixels mostly belong to the same pair of objects, so runs of
    # equal pairs are far fewer than pixels; the runs are then summed per pair.
    n = sequential_true.size
    run_true = np.empty(n, np.int32)
    run_pred = np.empty(n, np.int32)
    run_length = np.empty(n, np.int64)
    m = 0
    previous_true = -1
    previous_pred = -1
    for i in range(n):
        t = sequential_true[i]
        p = sequential_pred[i]
        if t == 0 or p == 0:
            previous_true = -1
            continue
        if t == previous_true and p == previous_pred:
            run_length[m - 1] += 1
        else:
            run_true[m] = t
            run_pred[m] = p
            run_length[m] = 1
            m += 1
            previous_true = t
            previous_pred = p
    return run_true[:m], run_pred[:m], run_length[:m]


def _overlaps(y_true, y_pred):
    _check_label_map(y_true, "y_true")
    _check_label_map(y_pred, "y_pred")
    if y_true.shape != y_pred.shape:
        raise InputError(f"y_true {y_true.shape} and y_pred {y_pred.shape} have different shapes.")
    sequential_true, sizes_true, true_labels = _sequential(y_true)
    sequential_pred, sizes_pred, pred_labels = _sequential(y_pred)
    n_pred = pred_labels.size
    run_true, run_pred, run_length = _pair_runs(sequential_true, sequential_pred)
    keys = (run_true.astype(np.int64) - 1) * n_pred + (run_pred.astype(np.int64) - 1)
    pair_keys, run_to_pair = np.unique(keys, return_inverse=True)
    intersection = np.bincount(run_to_pair, weights=run_length, minlength=pair_keys.size)
    intersection = intersection.astype(np.uint64)
    pair_true = pair_keys // max(n_pred, 1)
    pair_pred = pair_keys % max(n_pred, 1)
    union = sizes_true[pair_true] + sizes_pred[pair_pred] - intersection
    # Same operation and dtypes as StarDist's _safe_divide, so the float32 IoUs
    # are bitwise identical (uint64 / uint64 in float64, stored as float32).
    iou = np.zeros(pair_keys.size, np.float32)
    np.divide(intersection, union, out=iou, where=np.abs(union) > 1e-10)
    return _Overlaps(true_labels, pred_labels, pair_true, pair_pred, iou)


# ---------------------------------------------------------------------------
# matching
# ---------------------------------------------------------------------------


def _as_thresholds(thresholds):
    if np.isscalar(thresholds):
        thresholds = (thresholds,)
    thresholds = tuple(float(t) for t in thresholds)
    if not thresholds:
        raise OptionError("at least one IoU threshold is needed.")
    for t in thresholds:
        # StarDist accepts 0, where pairs that do not overlap at all count as
        # true positives; that is never a meaningful QC number.
        if not t > 0:
            raise OptionError(f"IoU thresholds must be > 0, got {t}.")
    return thresholds


def _match_at(overlaps, thresh):
    n_true, n_pred = len(overlaps.true_labels), len(overlaps.pred_labels)
    empty = np.zeros(0, np.int64)
    if min(n_true, n_pred) == 0:
        return _Match(n_true, n_pred, thresh, empty, empty, empty, 0, 0.0)

    # float32 array >= Python float compares in float32, exactly as StarDist.
    candidates = np.flatnonzero(overlaps.iou >= thresh)
    degree_true = np.bincount(overlaps.pair_true[candidates], minlength=n_true)
    degree_pred = np.bincount(overlaps.pair_pred[candidates], minlength=n_pred)
    if degree_true.max() <= 1 and degree_pred.max() <= 1:
        pair_index = candidates  # already in true-index order
    else:
        pair_index = _resolve_conflicts(overlaps, thresh, candidates, degree_true, degree_pred)

    true_index = overlaps.pair_true[pair_index]
    pred_index = overlaps.pair_pred[pair_index]
    # StarDist sums the float32 IoUs in true-index order; same order, same bits.
    sum_matched_score = np.sum(overlaps.iou[pair_index])
    return _Match(
        n_true, n_pred, thresh, pair_index, true_index, pred_index, int(pair_index.size), sum_matched_score
    )


def _resolve_conflicts(overlaps, thresh, candidates, degree_true, degree_pred):
    """Optimal assignment where objects compete for several candidate partners."""
    from scipy.optimize import linear_sum_assignment
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n_true, n_pred = len(overlaps.true_labels), len(overlaps.pred_labels)
    n_matched = min(n_true, n_pred)
    n_nodes = n_true + n_pred
    graph = coo_matrix(
        (np.ones(overlaps.pair_true.size, np.int8), (overlaps.pair_true, n_true + overlaps.pair_pred)),
        shape=(n_nodes, n_nodes),
    )
    _, component = connected_components(graph, directed=False)
    pair_component = component[overlaps.pair_true]

    conflicted = np.zeros(n_nodes, bool)
    conflicted[:n_true] = degree_true > 1
    conflicted[n_true:] = degree_pred > 1
    hard_components = np.unique(component[conflicted])

    # Components without competition keep their candidate pairs as they are.
    keep = candidates[~np.isin(pair_component[candidates], hard_components)]
    chosen = [keep]
    order = np.argsort(pair_component, kind="stable")
    bounds = np.searchsorted(pair_component[order], np.stack([hard_components, hard_components + 1]))
    for start, stop in zip(*bounds):
        pairs = order[start:stop]
        rows, row_of_pair = np.unique(overlaps.pair_true[pairs], return_inverse=True)
        cols, col_of_pair = np.unique(overlaps.pair_pred[pairs], return_inverse=True)
        scores = np.zeros((rows.size, cols.size), np.float32)
        scores[row_of_pair, col_of_pair] = overlaps.iou[pairs]
        # StarDist's cost, with its global min(n_true, n_pred) and float32 arithmetic.
        costs = -(scores >= thresh).astype(float) - scores / (2 * n_matched)
        row_ind, col_ind = linear_sum_assignment(costs)
        pair_at = np.full((rows.size, cols.size), -1, np.int64)
        pair_at[row_of_pair, col_of_pair] = pairs
        ok = scores[row_ind, col_ind] >= thresh
        chosen.append(pair_at[row_ind[ok], col_ind[ok]])
    pair_index = np.concatenate(chosen)
    return pair_index[np.argsort(overlaps.pair_true[pair_index], kind="stable")]


# ---------------------------------------------------------------------------
# statistics (StarDist's formulas and number types, so the floats agree bitwise)
# ---------------------------------------------------------------------------


def _safe_divide(x, y, eps=1e-10):
    return x / y if np.abs(y) > eps else 0.0


def _stardist_ratios(tp, fp, fn, sum_matched_score, n_true):
    return dict(
        precision=tp / (tp + fp) if tp > 0 else 0,
        recall=tp / (tp + fn) if tp > 0 else 0,
        accuracy=tp / (tp + fp + fn) if tp > 0 else 0,
        f1=(2 * tp) / (2 * tp + fp + fn) if tp > 0 else 0,
        mean_true_score=_safe_divide(sum_matched_score, n_true),
        mean_matched_score=_safe_divide(sum_matched_score, tp),
        panoptic_quality=_safe_divide(sum_matched_score, tp + fp / 2 + fn / 2),
    )


def _raw_stats(match):
    tp = match.tp
    fp = match.n_pred - tp
    fn = match.n_true - tp
    stats = dict(thresh=match.thresh, tp=tp, fp=fp, fn=fn, n_true=match.n_true, n_pred=match.n_pred)
    stats.update(_stardist_ratios(tp, fp, fn, match.sum_matched_score, match.n_true))
    return stats


def _stats_row(match):
    return _row(_raw_stats(match))


def _pooled_row(thresh, matches):
    # As matching_dataset(by_image=False): sums of counts and of
    # mean_true_score * n_true (StarDist's "sum_matched_score"), in its order.
    tp = fp = fn = n_true = n_pred = 0
    sum_matched_score = 0
    for match in matches:
        stats = _raw_stats(match)
        tp = tp + stats["tp"]
        fp = fp + stats["fp"]
        fn = fn + stats["fn"]
        n_true = n_true + stats["n_true"]
        n_pred = n_pred + stats["n_pred"]
        sum_matched_score = sum_matched_score + stats["mean_true_score"] * stats["n_true"]
    stats = dict(thresh=thresh, tp=tp, fp=fp, fn=fn, n_true=n_true, n_pred=n_pred)
    stats.update(_stardist_ratios(tp, fp, fn, sum_matched_score, n_true))
    return _row(stats)


def _row(stats):
    row = {}
    for key in MATCH_COLUMNS:
        value = stats[key]
        row[key] = int(value) if key in ("tp", "fp", "fn", "n_true", "n_pred") else float(value)
    return row


def _ratio(numerator, denominator, tp):
    return float(numerator / denominator) if tp > 0 else 0.0


def _labels_from_mask_or_labels(y, name):
    y = np.asarray(y)
    if y.dtype == bool:
        from skimage.measure import label

        return label(y, connectivity=y.ndim)
    _check_label_map(y, name)
    return y
