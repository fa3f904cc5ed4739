"""pyfiji_dl.annotation.objects: the one area filter of bootstrap, autolabel and the U-Net."""

import numpy as np
import pytest
from scipy import ndimage

from pyfiji_dl.annotation.object_cleanup import fill_object_holes
from pyfiji_dl.annotation.objects import filter_by_area, renumber_in_raster_order
from pyfiji_dl.annotation.watershed import split_touching


def _blobs(seed, shape=(64, 72)):
    """Discs and rings (objects with holes) of random sizes, some touching."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    mask = np.zeros(shape, bool)
    for _ in range(14):
        cy, cx, r = rng.integers(0, shape[0]), rng.integers(0, shape[1]), rng.uniform(1.5, 9)
        d2 = (yy - cy) ** 2 + (xx - cx) ** 2
        mask |= (d2 <= r * r) & ((d2 >= (r / 2) ** 2) if rng.random() < 0.4 else True)
    return mask


def test_limits_are_inclusive_counts_and_drop():
    labels = np.zeros((6, 12), int)
    labels[0, 0:2] = 7   # area 2
    labels[2, 0:4] = 3   # area 4
    labels[4, 0:9] = 5   # area 9
    kept = filter_by_area(labels, 2, 4, order="raster")
    assert (kept.n_small, kept.n_large) == (0, 1)
    assert kept.labels.dtype == np.int32
    assert np.array_equal(kept.labels[0, :2], [1, 1]) and np.array_equal(kept.labels[2, :4], [2] * 4)
    assert not kept.labels[4].any()
    by_id = filter_by_area(labels, 3, None, order="id", drop=[5])
    assert (by_id.n_small, by_id.n_large) == (1, 0)
    assert by_id.labels.max() == 1 and np.array_equal(by_id.labels[2, :4], [1] * 4)
    assert not filter_by_area(np.zeros((3, 3), np.uint16), 1, order="raster").labels.any()
    with pytest.raises(ValueError, match="order must be"):
        filter_by_area(labels, order="size")


@pytest.mark.parametrize("seed", range(8))
def test_the_two_orders_agree_on_scan_order_labels_and_differ_only_in_numbering(seed):
    labels, _ = ndimage.label(_blobs(seed), structure=np.ones((3, 3), bool))
    raster = filter_by_area(labels, 10, 200, order="raster").labels
    assert np.array_equal(raster, filter_by_area(labels, 10, 200, order="id").labels)
    pieces = split_touching(_blobs(seed))  # numbered by their seeds
    by_id = filter_by_area(pieces, 10, None, order="id").labels
    by_raster = filter_by_area(pieces, 10, None, order="raster").labels
    assert not np.array_equal(by_id, by_raster)  # a piece's first pixel can precede an earlier seed's piece's
    assert np.array_equal(renumber_in_raster_order(by_id), by_raster)


@pytest.mark.parametrize("seed", range(8))
def test_autolabel_fills_holes_after_renumbering_with_the_same_result(seed):
    """autolabel used to drop objects, fill their holes, then renumber in raster order."""
    labels = split_touching(_blobs(seed))
    before = renumber_in_raster_order(fill_object_holes(filter_by_area(labels, 8, 250, order="id").labels))
    after = fill_object_holes(filter_by_area(labels, 8, 250, order="raster").labels)
    assert np.array_equal(before, after)
    assert np.count_nonzero(after) > np.count_nonzero(filter_by_area(labels, 8, 250, order="raster").labels)
