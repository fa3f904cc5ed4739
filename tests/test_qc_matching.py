"""pyfiji_dl.qc.matching against StarDist's own implementation and hand-computed cases."""

import numpy as np
import pytest
from scipy import ndimage as ndi

import pyfiji_dl.qc.matching as qm
from pyfiji_dl.qc.matching import (
    IOU_THRESHOLDS,
    MATCH_COLUMNS,
    any_overlap_metrics,
    match_dataset,
    match_instances,
    matched_pairs,
    pixel_metrics,
)

stardist_matching = pytest.importorskip("stardist.matching")

# Below and above 0.5, plus values where float32 rounding of the IoU matters.
THRESHOLDS = IOU_THRESHOLDS + (0.05, 0.25, 0.33, 0.55, 0.75, 0.95, 1.0)


# ---------------------------------------------------------------------------
# random label maps
# ---------------------------------------------------------------------------


def _discs(rng, shape, n, rmin=3, rmax=12):
    """Overlapping discs/balls painted in order: later ones cut into earlier ones."""
    y = np.zeros(shape, np.int32)
    grids = np.indices(shape)
    for label in range(1, n + 1):
        centre = [rng.integers(0, s) for s in shape]
        radius = rng.uniform(rmin, rmax)
        y[sum((g - c) ** 2 for g, c in zip(grids, centre)) <= radius**2] = label
    return y


def _touching(rng, shape, n, reach=10):
    """Voronoi cells cut off at ``reach`` from their seed: objects that touch."""
    seeds = np.zeros(shape, np.int32)
    for label in range(1, n + 1):
        seeds[tuple(rng.integers(0, s) for s in shape)] = label
    if n == 0:
        return seeds
    distance, nearest = ndi.distance_transform_edt(seeds == 0, return_indices=True)
    y = seeds[tuple(nearest)]
    y[distance > reach] = 0
    return y


def _shifted(rng, y, max_shift=3, drop=0.1):
    z = np.roll(y, tuple(rng.integers(-max_shift, max_shift + 1, size=y.ndim)), axis=tuple(range(y.ndim)))
    ids = np.unique(z)[1:]
    return np.where(np.isin(z, ids[rng.random(ids.size) < drop]), 0, z)


def _scrambled_ids(rng, y, max_id=60000):
    """Same objects, non-consecutive ids in random order."""
    ids = np.unique(y)[1:]
    lut = np.zeros(int(y.max()) + 1, np.int64)
    lut[ids] = rng.choice(max_id, size=ids.size, replace=False) + 1
    return lut[y]


def _random_pair(rng, case):
    shape = (20, 48, 48) if case % 6 == 5 else (96, 96)
    n_true = int(rng.integers(1, 40))
    y_true = _touching(rng, shape, n_true) if case % 2 else _discs(rng, shape, n_true)
    kind = case % 4
    if kind == 0:
        y_pred = _shifted(rng, y_true)
    elif kind == 1:  # unrelated objects, touching: many conflicts at low thresholds
        y_pred = _touching(rng, shape, int(rng.integers(1, 60)), reach=12)
    elif kind == 2:  # over-segmentation: smaller touching cells over the same area
        y_pred = np.where(y_true > 0, _touching(rng, shape, 3 * n_true, reach=30), 0)
    else:
        y_pred = _shifted(rng, _discs(rng, shape, n_true, rmin=5, rmax=14), max_shift=6, drop=0.3)
    if case % 5 == 0:
        y_pred = _scrambled_ids(rng, y_pred)
    if case % 7 == 0:
        y_true, y_pred = y_pred, y_true
    dtypes = (np.uint16, np.int32, np.uint32, np.int64)
    return y_true.astype(dtypes[case % 4]), y_pred.astype(dtypes[(case // 4) % 4])


def _stardist_rows(y_true, y_pred, thresholds):
    # StarDist's numba kernel compiles once per dtype pair (~0.5 s each); its
    # results do not depend on the dtype, ours are checked on the original ones.
    y_true, y_pred = y_true.astype(np.int64), y_pred.astype(np.int64)
    return [
        {key: float(getattr(stats, key)) for key in MATCH_COLUMNS}
        for stats in stardist_matching.matching(y_true, y_pred, thresh=thresholds)
    ]


def _as_float_rows(rows):
    return [{key: float(row[key]) for key in MATCH_COLUMNS} for row in rows]


# ---------------------------------------------------------------------------
# identical to StarDist
# ---------------------------------------------------------------------------


def test_identical_to_stardist_on_random_label_maps(monkeypatch):
    conflicts = []
    original = qm._resolve_conflicts
    monkeypatch.setattr(qm, "_resolve_conflicts", lambda *a: conflicts.append(1) or original(*a))
    rng = np.random.default_rng(2024)
    for case in range(120):
        y_true, y_pred = _random_pair(rng, case)
        expected = _stardist_rows(y_true, y_pred, THRESHOLDS)
        got = _as_float_rows(match_instances(y_true, y_pred, thresholds=THRESHOLDS))
        assert got == expected, f"case {case}"
    # The optimal-assignment path (objects competing for partners) was exercised.
    assert len(conflicts) > 50


@pytest.mark.parametrize(
    "make_true, make_pred",
    [
        (lambda: np.zeros((32, 32), np.uint16), lambda: np.zeros((32, 32), np.uint16)),  # empty maps
        (lambda: _touching(np.random.default_rng(1), (64, 64), 12), lambda: np.zeros((64, 64), np.int32)),
        (lambda: np.zeros((64, 64), np.int32), lambda: _touching(np.random.default_rng(2), (64, 64), 12)),
        (lambda: np.ones((16, 16), np.uint8), lambda: np.ones((16, 16), np.uint8)),  # one object everywhere
        (lambda: _touching(np.random.default_rng(3), (64, 64), 30), lambda: _touching(np.random.default_rng(3), (64, 64), 30)),
    ],
    ids=["both-empty", "no-predictions", "no-ground-truth", "single-full", "identical"],
)
def test_identical_to_stardist_on_edge_cases(make_true, make_pred):
    y_true, y_pred = make_true(), make_pred()
    expected = _stardist_rows(y_true, y_pred, THRESHOLDS)
    assert _as_float_rows(match_instances(y_true, y_pred, thresholds=THRESHOLDS)) == expected


def test_match_dataset_identical_to_stardist_matching_dataset():
    rng = np.random.default_rng(7)
    pairs = [_random_pair(rng, case) for case in range(24)]
    pairs.append((np.zeros((96, 96), np.int32), np.zeros((96, 96), np.int32)))
    pairs.append((_touching(rng, (96, 96), 20), np.zeros((96, 96), np.int32)))
    y_true = [a for a, _ in pairs]
    y_pred = [b for _, b in pairs]
    names = [f"img{i:02d}.tif" for i in range(len(pairs))]
    per_image, pooled = match_dataset(y_true, y_pred, thresholds=THRESHOLDS, names=names)

    expected = stardist_matching.matching_dataset(
        [y.astype(np.int64) for y in y_true],
        [y.astype(np.int64) for y in y_pred],
        thresh=THRESHOLDS,
        by_image=False,
        show_progress=False,
    )
    assert _as_float_rows(pooled) == [{k: float(getattr(s, k)) for k in MATCH_COLUMNS} for s in expected]

    assert len(per_image) == len(pairs) * len(THRESHOLDS)
    for i, (a, b) in enumerate(pairs):
        rows = [row for row in per_image if row["image"] == names[i]]
        assert _as_float_rows(rows) == _stardist_rows(a, b, THRESHOLDS)


def test_matched_pairs_identical_to_stardist_report_matches():
    rng = np.random.default_rng(11)
    for case in range(30):
        y_true, y_pred = _random_pair(rng, case)
        for thresh in (0.2, 0.5, 0.7):
            stats = stardist_matching.matching(
                y_true.astype(np.int64), y_pred.astype(np.int64), thresh=thresh, report_matches=True
            )
            expected = sorted(
                (stats.matched_pairs[i], stats.matched_scores[i]) for i in stats.matched_tps
            )
            true_ids, pred_ids, ious = matched_pairs(y_true, y_pred, thresh)
            got = sorted(zip(zip(true_ids.tolist(), pred_ids.tolist()), ious.tolist()))
            assert [p for p, _ in got] == [p for p, _ in expected]
            assert [s for _, s in got] == [float(s) for _, s in expected]
            assert np.all(np.diff(true_ids) > 0)


def test_large_sparse_label_ids_are_supported():
    # ids near 2**40 would make StarDist allocate a 8 TB lookup table; compare with small ids.
    rng = np.random.default_rng(5)
    y_true, y_pred = _random_pair(rng, 3)
    big_true = np.where(y_true > 0, y_true.astype(np.int64) * 2**34 + 17, 0)
    expected = _as_float_rows(match_instances(y_true, y_pred))
    assert _as_float_rows(match_instances(big_true, y_pred)) == expected
    true_ids, _, _ = matched_pairs(big_true, y_pred, 0.5)
    assert set(true_ids.tolist()) <= set(np.unique(big_true).tolist()) - {0}


# ---------------------------------------------------------------------------
# hand-computed cases
# ---------------------------------------------------------------------------


def _line(*segments, length=24):
    """A 1-pixel-high label map with ``(label, start, stop)`` segments."""
    y = np.zeros((1, length), np.uint16)
    for label, start, stop in segments:
        y[0, start:stop] = label
    return y


def _row(rows, thresh):
    (row,) = [r for r in rows if r["thresh"] == thresh]
    return row


def test_shifted_square_by_hand():
    y_true = np.zeros((40, 40), np.uint16)
    y_true[10:20, 10:20] = 3
    y_pred = np.roll(y_true, 2, axis=0) * 2  # 80 shared pixels, union 120
    rows = match_instances(y_true, y_pred, thresholds=(0.5, 0.7))
    at_05, at_07 = _row(rows, 0.5), _row(rows, 0.7)
    assert (at_05["tp"], at_05["fp"], at_05["fn"]) == (1, 0, 0)
    assert at_05["precision"] == at_05["recall"] == at_05["f1"] == at_05["accuracy"] == 1.0
    assert at_05["mean_matched_score"] == pytest.approx(80 / 120, abs=1e-7)
    assert at_05["panoptic_quality"] == pytest.approx(80 / 120, abs=1e-7)
    assert (at_07["tp"], at_07["fp"], at_07["fn"]) == (0, 1, 1)
    assert at_07["f1"] == at_07["mean_matched_score"] == at_07["panoptic_quality"] == 0.0


def test_split_object_only_one_half_matches():
    y_true = _line((1, 0, 10))
    y_pred = _line((1, 0, 6), (2, 6, 10))  # IoU 0.6 and 0.4 with the true object
    row = _row(match_instances(y_true, y_pred, thresholds=(0.3,)), 0.3)
    assert (row["tp"], row["fp"], row["fn"]) == (1, 1, 0)
    assert row["mean_matched_score"] == pytest.approx(0.6, abs=1e-7)
    assert row["mean_true_score"] == pytest.approx(0.6, abs=1e-7)
    assert row["precision"] == 0.5 and row["recall"] == 1.0
    assert row["f1"] == pytest.approx(2 / 3) and row["accuracy"] == 0.5
    assert row["panoptic_quality"] == pytest.approx(0.6 / 1.5, abs=1e-7)


def test_optimal_assignment_not_greedy_and_stardist_tie_breaker():
    # T1=[0,10) T2=[10,20); P1=[4,14), P2=[0,4).
    # IoU(T1,P1)=6/14, IoU(T2,P1)=4/16=0.25, IoU(T1,P2)=4/10=0.4.
    y_true = _line((1, 0, 10), (2, 10, 20))
    y_pred = _line((1, 4, 14), (2, 0, 4))
    rows = match_instances(y_true, y_pred, thresholds=(0.2, 0.3, 0.5))
    # t=0.2: best-IoU-first would pair T1-P1 and leave T2 alone; the optimum pairs both.
    at_02 = _row(rows, 0.2)
    assert at_02["tp"] == 2
    assert at_02["mean_matched_score"] == pytest.approx((0.4 + 0.25) / 2, abs=1e-7)
    # t=0.3: one match either way; StarDist's tie-breaker maximises the IoU sum of *all*
    # assigned pairs (T1-P2 0.4 + T2-P1 0.25 > T1-P1 0.43 + 0), so the match is T1-P2.
    at_03 = _row(rows, 0.3)
    assert at_03["tp"] == 1
    assert at_03["mean_matched_score"] == pytest.approx(0.4, abs=1e-7)
    assert matched_pairs(y_true, y_pred, 0.3)[1].tolist() == [2]
    assert _row(rows, 0.5)["tp"] == 0


@pytest.mark.parametrize("n_pred_pixels, thresh", [(5, 0.5), (7, 0.7), (3, 0.3), (9, 0.9)])
def test_iou_exactly_at_threshold_counts(n_pred_pixels, thresh):
    # IoU = n/10 exactly; in float32 7/10 is just below 0.7, yet it is compared in
    # float32 (as StarDist does) and counts.
    y_true = _line((1, 0, 10))
    y_pred = _line((1, 0, n_pred_pixels))
    assert _row(match_instances(y_true, y_pred, thresholds=(thresh,)), thresh)["tp"] == 1
    above = thresh + 0.01
    assert _row(match_instances(y_true, y_pred, thresholds=(above,)), above)["tp"] == 0


def test_empty_maps_by_hand():
    empty = np.zeros((8, 8), np.uint16)
    full = np.ones((8, 8), np.uint16)
    (both,) = match_instances(empty, empty, thresholds=0.5)
    assert both == {**{k: 0.0 for k in MATCH_COLUMNS}, "thresh": 0.5}
    (no_pred,) = match_instances(full, empty, thresholds=0.5)
    assert (no_pred["tp"], no_pred["fp"], no_pred["fn"], no_pred["n_true"]) == (0, 0, 1, 1)
    assert no_pred["recall"] == no_pred["precision"] == 0.0
    (no_true,) = match_instances(empty, full, thresholds=0.5)
    assert (no_true["tp"], no_true["fp"], no_true["fn"], no_true["n_pred"]) == (0, 1, 0, 1)
    # A map without pixels (StarDist itself fails on it) has no objects.
    no_pixels = np.zeros((0, 5), np.int32)
    assert match_instances(no_pixels, no_pixels, thresholds=0.5) == [both]


def test_match_dataset_pools_objects_not_images():
    # Image A: 1 of 1 object found; image B: 0 of 3. Pooled recall 1/4, not (1 + 0) / 2.
    a_true = _line((1, 0, 5))
    b_true = _line((1, 0, 5), (2, 6, 10), (3, 12, 20))
    per_image, pooled = match_dataset([a_true, b_true], [a_true, np.zeros_like(b_true)], thresholds=(0.5,))
    assert [row["image"] for row in per_image] == [0, 1]
    assert [row["recall"] for row in per_image] == [1.0, 0.0]
    (row,) = pooled
    assert (row["tp"], row["fn"], row["n_true"]) == (1, 3, 4)
    assert row["recall"] == 0.25


def test_rows_are_plain_python_numbers_ready_for_csv():
    y = _line((1, 0, 10))
    per_image, pooled = match_dataset([y], [y], thresholds=(0.5,), names=["a.tif"])
    for row in per_image + pooled:
        for key, value in row.items():
            assert type(value) in (int, float, str), (key, type(value))
    assert list(per_image[0]) == ["image", *MATCH_COLUMNS]


# ---------------------------------------------------------------------------
# the any-overlap rule of Salomon-Sörensen 2023 and pixel metrics
# ---------------------------------------------------------------------------


def test_any_overlap_rule_by_hand():
    # True A=[0,4) B=[5,9) C=[12,16); predicted X=[2,7) spans A and B, Y=[18,20) touches
    # nothing, Z=[15,17) touches C by one pixel.
    y_true = _line((1, 0, 4), (2, 5, 9), (3, 12, 16))
    y_pred = _line((7, 2, 7), (8, 18, 20), (9, 15, 17))
    got = any_overlap_metrics(y_true, y_pred)
    assert (got["any_overlap_tp"], got["any_overlap_fp"], got["any_overlap_fn"]) == (2, 1, 0)
    assert got["any_overlap_precision"] == pytest.approx(2 / 3)
    assert got["any_overlap_recall"] == 1.0
    assert got["any_overlap_f1"] == pytest.approx(4 / 5)
    assert got["any_overlap_iou"] == pytest.approx(2 / 3)
    assert (got["n_true"], got["n_pred"]) == (3, 3)
    # The same masks as booleans are split into connected components first.
    assert any_overlap_metrics(y_true > 0, y_pred > 0) == got
    # One-to-one matching at IoU 0.5 is much stricter here.
    assert _row(match_instances(y_true, y_pred, thresholds=(0.5,)), 0.5)["tp"] == 0


def test_any_overlap_missed_object_is_false_negative():
    y_true = _line((1, 0, 4), (2, 10, 14))
    y_pred = _line((1, 1, 3))
    got = any_overlap_metrics(y_true, y_pred)
    assert (got["any_overlap_tp"], got["any_overlap_fp"], got["any_overlap_fn"]) == (1, 0, 1)
    assert got["any_overlap_recall"] == 0.5


def test_pixel_metrics_by_hand():
    y_true = _line((1, 0, 10), length=20)  # 10 foreground pixels
    y_pred = _line((4, 5, 15), length=20)  # 10 foreground pixels, 5 shared
    got = pixel_metrics(y_true, y_pred)
    assert (got["pixel_tp"], got["pixel_fp"], got["pixel_fn"], got["pixel_tn"]) == (5, 5, 5, 5)
    assert got["pixel_precision"] == got["pixel_recall"] == got["pixel_dice"] == 0.5
    assert got["pixel_iou"] == pytest.approx(1 / 3)
    assert got["pixel_accuracy"] == pytest.approx(10 / 20)
    nothing = pixel_metrics(np.zeros((4, 4)), np.zeros((4, 4)))
    assert nothing["pixel_accuracy"] == 1.0 and nothing["pixel_dice"] == 0.0


# ---------------------------------------------------------------------------
# input checks
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "y_true, y_pred, thresholds, message",
    [
        (np.zeros((4, 4), float), np.zeros((4, 4), int), 0.5, "integer"),
        (np.zeros((4, 4), bool), np.zeros((4, 4), int), 0.5, "skimage.measure.label"),
        (-np.ones((4, 4), int), np.zeros((4, 4), int), 0.5, "negative"),
        (np.zeros((4, 4), int), np.zeros((4, 5), int), 0.5, "shape"),
        (np.zeros((4, 4), int), np.zeros((4, 4), int), 0.0, "> 0"),
    ],
)
def test_invalid_inputs_are_explained(y_true, y_pred, thresholds, message):
    with pytest.raises(ValueError, match=message):
        match_instances(y_true, y_pred, thresholds=thresholds)


def test_match_dataset_rejects_unpaired_lists():
    y = np.zeros((4, 4), int)
    with pytest.raises(ValueError, match="paired"):
        match_dataset([y, y], [y])
