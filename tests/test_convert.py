"""ROI sets -> label maps: ids, overlaps, stacks, bad ROIs (array level)."""

import numpy as np
import pytest
import roifile

from pyfiji_dl.annotation.convert import (
    OverlapError,
    RoiPlacementError,
    labels_to_rois,
    rois_to_labels,
)
from pyfiji_dl.io.rois import RoiEntry


def rect(left, top, width, height, name, **fields):
    roi = roifile.ImagejRoi(roitype=roifile.ROI_TYPE.RECT, left=left, top=top,
                            right=left + width, bottom=top + height, name=name)
    for key, value in fields.items():
        setattr(roi, key, value)
    return roi


def entries(*rois):
    return [RoiEntry(roi, roi.name, f"set.zip:{roi.name}.roi", i) for i, roi in enumerate(rois)]


def test_rectangles_fill_their_pixels_and_ids_follow_order():
    labels, axes, report = rois_to_labels(entries(rect(1, 2, 3, 2, "a"), rect(6, 0, 2, 5, "b")), (6, 10), "YX")
    expected = np.zeros((6, 10), np.int32)
    expected[2:4, 1:4] = 1
    expected[0:5, 6:8] = 2
    assert axes == "YX"
    np.testing.assert_array_equal(labels, expected)
    assert report.n_labels == 2 and report.ids == {1: "a", 2: "b"}
    assert not report.overlaps and not report.skipped


@pytest.mark.parametrize("rule, shared_value", [("last-wins", 2), ("first-wins", 1), ("drop", 0)])
def test_overlap_rules(rule, shared_value):
    rois = entries(rect(0, 0, 4, 4, "a"), rect(2, 2, 4, 4, "b"))
    labels, _, report = rois_to_labels(rois, (8, 8), "YX", overlap=rule)
    assert labels[3, 3] == shared_value  # in both squares
    assert labels[0, 0] == 1 and labels[5, 5] == 2  # in one only
    assert len(report.overlaps) == 1
    overlap = report.overlaps[0]
    assert (overlap.first, overlap.second, overlap.pixels) == ("a", "b", 4)
    assert "a & b (4 px)" in report.messages()[0]


def test_overlap_error_names_both_rois():
    with pytest.raises(OverlapError, match="'a' and 'b' share 4 px"):
        rois_to_labels(entries(rect(0, 0, 4, 4, "a"), rect(2, 2, 4, 4, "b")), (8, 8), "YX", overlap="error")


def test_drop_keeps_pixels_of_same_label_rois():
    # two ROIs carrying the same label id (names from labels-to-rois) are one object
    rois = entries(rect(0, 0, 4, 4, "label-00007"), rect(2, 2, 4, 4, "label-00007"))
    labels, _, report = rois_to_labels(rois, (8, 8), "YX", overlap="drop")
    assert labels[3, 3] == 7 and not report.overlaps


def test_rois_without_area_are_skipped_and_named():
    line = roifile.ImagejRoi(roitype=roifile.ROI_TYPE.LINE, x1=0, y1=0, x2=5, y2=5, name="my line")
    points = roifile.ImagejRoi.frompoints(np.array([[1.0, 1.0], [2.0, 3.0]]))
    points.roitype = roifile.ROI_TYPE.POINT
    points.name = "spots"
    labels, _, report = rois_to_labels(entries(line, rect(1, 1, 2, 2, "cell"), points), (6, 6), "YX")
    assert report.skipped == ["'my line' (line)", "'spots' (point)"]
    assert labels.max() == 1 and report.n_labels == 1
    assert "skipped 2 ROI(s) without area" in report.messages()[0]


def test_roi_outside_image_is_an_error_naming_it():
    with pytest.raises(RoiPlacementError, match=r"set.zip:far.roi: ROI 'far'.*covers no pixel"):
        rois_to_labels(entries(rect(100, 100, 5, 5, "far")), (50, 50), "YX")


def test_roi_partly_outside_is_clipped_and_reported():
    labels, _, report = rois_to_labels(entries(rect(-2, -2, 4, 4, "corner")), (5, 5), "YX")
    assert labels[:2, :2].all() and labels.sum() == 4
    assert report.clipped == ["'corner'"]


def test_stack_positions_put_rois_on_their_planes():
    rois = entries(rect(0, 0, 2, 2, "on-2", position=2), rect(3, 3, 2, 2, "all"))
    labels, axes, _ = rois_to_labels(rois, (3, 6, 6), "ZYX")
    assert axes == "ZYX"
    assert labels[1, 0, 0] == 1 and labels[0, 0, 0] == 0 and labels[2, 0, 0] == 0
    assert all(labels[z, 3, 3] == 2 for z in range(3))


def test_hyperstack_positions_and_channels_dropped():
    # image T=2, Z=3, C=2: stack index 8 = (c=2, z=1, t=2) in ImageJ's czt order
    rois = entries(rect(0, 0, 2, 2, "by-index", position=8),
                   rect(3, 3, 2, 2, "by-header2", c_position=1, z_position=3, t_position=1),
                   rect(0, 4, 2, 2, "all-z-of-t2", t_position=2))
    labels, axes, _ = rois_to_labels(rois, (2, 3, 2, 6, 6), "TZCYX")
    assert axes == "TZYX" and labels.shape == (2, 3, 6, 6)
    assert np.argwhere(labels == 1)[:, :2].tolist() == [[1, 0]] * 4
    assert np.argwhere(labels == 2)[:, :2].tolist() == [[0, 2]] * 4
    assert sorted({tuple(p) for p in np.argwhere(labels == 3)[:, :2].tolist()}) == [(1, 0), (1, 1), (1, 2)]


def test_position_beyond_the_stack_is_an_error():
    with pytest.raises(RoiPlacementError, match="stack position 5 but the image has 3"):
        rois_to_labels(entries(rect(0, 0, 2, 2, "x", position=5)), (3, 6, 6), "ZYX")
    with pytest.raises(RoiPlacementError, match="t=4 but the image has 2"):
        rois_to_labels(entries(rect(0, 0, 2, 2, "x", t_position=4)), (2, 6, 6), "TYX")


def test_ids_from_names_survive_round_trip_and_order_rule_ignores_them():
    truth = np.zeros((12, 12), np.int32)
    truth[1:4, 1:4] = 17
    truth[6:10, 5:11] = 3
    rois = labels_to_rois(truth, "YX")
    assert [r.name for r in rois] == ["label-00003", "label-00017"]
    back, _, _ = rois_to_labels(entries(*rois), truth.shape, "YX")
    np.testing.assert_array_equal(back, truth)
    by_order, _, _ = rois_to_labels(entries(*rois), truth.shape, "YX", ids="order")
    assert set(np.unique(by_order)) == {0, 1, 2}


def test_labels_to_rois_rejects_bad_label_maps():
    with pytest.raises(ValueError, match="negative"):
        labels_to_rois(np.array([[0, -1], [2, 2]]), "YX")
    with pytest.raises(ValueError, match="non-integer"):
        labels_to_rois(np.array([[0, 1.5], [2, 2]], np.float32), "YX")
    with pytest.raises(ValueError, match="split channels"):
        labels_to_rois(np.zeros((2, 4, 4), np.uint16), "CYX")


def test_stack_round_trip_keeps_planes_and_ids():
    rng = np.random.default_rng(3)
    stack = np.zeros((2, 3, 20, 20), np.int32)
    for t in range(2):
        for z in range(3):
            for label in rng.choice(np.arange(1, 50), 4, replace=False):
                y, x = rng.integers(0, 16, 2)
                stack[t, z, y:y + 4, x:x + 3] = label
    rois = labels_to_rois(stack, "TZYX")
    assert all(r.t_position >= 1 and r.z_position >= 1 for r in rois)
    assert rois[0].name.startswith("label-") and "-z001-t001" in rois[0].name
    back, axes, _ = rois_to_labels(entries(*rois), stack.shape, "TZYX")
    assert axes == "TZYX"
    np.testing.assert_array_equal(back, stack)
