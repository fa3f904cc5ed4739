"""Label maps -> ImageJ ROIs (pyfiji_dl.annotation.trace), with real ImageJ as the oracle.

Every ROI is serialised with ``roi.tobytes()`` (or written to a zip with
``roifile.roiwrite``), decoded by ImageJ's ``RoiDecoder`` and painted by ImageJ;
the painted pixels must be exactly the label's pixels.
"""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
import roifile

from pyfiji_dl.annotation.trace import label_rois, trace_label_outlines

from imagej_oracle_trace import (  # tests/ is not a package: pytest puts it on sys.path
    coins_label_map,
    decode_roi,
    even_odd_fill,
    imagej_mask,
    imagej_paint,
    label_boxes,
    label_topology,
    nucleus_map,
    random_label_map,
)

SEEDS = [0, 1, 2, 3]


def _signed_area(loop: np.ndarray) -> int:
    x, y = loop[:, 0].astype(np.int64), loop[:, 1].astype(np.int64)
    return int((x * np.roll(y, -1) - np.roll(x, -1) * y).sum()) // 2


def _check_in_imagej(ij, labels, rois, *, name_format="{label:05d}", offset=(0, 0)):
    """Decode every ROI in ImageJ and compare its mask, bounds, type and name.

    Returns the decoded Java ROIs.
    """
    Roi = ij("ij.gui.Roi")
    topo = label_topology(labels)
    boxes = label_boxes(labels)
    assert len(rois) == len(topo)
    decoded = []
    ox, oy = offset
    for roi, label in zip(rois, sorted(topo)):
        assert roi.name == name_format.format(label=label, c=0, z=0, t=0)
        jroi = decode_roi(ij, roi.tobytes(), roi.name + ".roi")
        decoded.append(jroi)
        parts, holes = topo[label]
        expected_type = Roi.TRACED_ROI if parts == 1 and holes == 0 else Roi.COMPOSITE
        assert jroi.getType() == expected_type, (label, parts, holes)
        assert str(jroi.getName()) == roi.name
        assert jroi.getPosition() == 0 and not jroi.hasHyperStackPosition()
        x, y, mask = imagej_mask(jroi)
        bx, by, bw, bh = boxes[label]
        ex, ey = bx + ox, by + oy
        assert (roi.left, roi.top, roi.right, roi.bottom) == (ex, ey, ex + bw, ey + bh)
        if jroi.subPixelResolution() and (ex + bw <= 0 or ey + bh <= 0):
            # ImageJ 1.53t FloatPolygon.getFloatBounds starts max at Float.MIN_VALUE,
            # so bounds of an all-negative float polygon reach 0; the mask stays right
            assert x == ex and y == ey and mask.shape[0] >= bh and mask.shape[1] >= bw
            assert mask[bh:].sum() == 0 and mask[:, bw:].sum() == 0
            mask = mask[:bh, :bw]
        else:
            assert (x, y, mask.shape) == (ex, ey, (bh, bw)), label
        np.testing.assert_array_equal(mask, labels[by : by + bh, bx : bx + bw] == label)
    return decoded


# ----------------------------------------------------------------------------
# outlines (no ImageJ)
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_outlines_are_corner_loops_whose_even_odd_fill_is_the_label(seed):
    labels = random_label_map(seed)
    topo = label_topology(labels)
    outlines = trace_label_outlines(labels)
    assert list(outlines) == sorted(topo)
    for label, loops in outlines.items():
        parts, holes = topo[label]
        assert len(loops) == parts + holes, label
        areas = []
        for loop in loops:
            assert loop.ndim == 2 and loop.shape[1] == 2 and loop.dtype.kind == "i"
            assert len(loop) >= 4 and len(loop) % 2 == 0
            step = np.roll(loop, -1, axis=0) - loop
            horizontal = (step[:, 1] == 0) & (step[:, 0] != 0)
            vertical = (step[:, 0] == 0) & (step[:, 1] != 0)
            assert (horizontal | vertical).all()  # axis-parallel, no repeated point
            # corners only: edges alternate horizontal/vertical (no collinear vertex)
            assert (horizontal != np.roll(horizontal, -1)).all()
            areas.append(_signed_area(loop))
        # outer boundaries clockwise on screen (positive), holes the other way
        assert sum(a > 0 for a in areas) == parts and sum(a < 0 for a in areas) == holes
        assert sum(areas) == int((labels == label).sum())
        np.testing.assert_array_equal(even_odd_fill(loops, labels.shape), labels == label)


def test_diagonal_pinch_is_one_self_touching_outline():
    labels = np.array([[1, 0], [0, 1]], np.uint8)
    (loop,) = trace_label_outlines(labels)[1]
    assert loop.tolist() == [[0, 0], [1, 0], [1, 1], [2, 1], [2, 2], [1, 2], [1, 1], [0, 1]]
    # a hole that touches the outer boundary at a corner
    labels = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 0]], np.int16)
    loops = trace_label_outlines(labels)[1]
    assert len(loops) == 2
    assert [_signed_area(lp) for lp in loops] == [8, -1]


def test_invalid_labels():
    with pytest.raises(ValueError, match="negative"):
        trace_label_outlines(np.array([[0, 1], [2, -3]]))
    with pytest.raises(ValueError, match="negative"):
        label_rois(np.array([[0, 1], [2, -3]], np.int8))
    with pytest.raises(ValueError, match="integer"):
        trace_label_outlines(np.ones((3, 3), np.float32))
    with pytest.raises(ValueError, match="integer"):
        label_rois(np.ones((3, 3), bool))
    with pytest.raises(ValueError, match="2D"):
        label_rois(np.ones((2, 3, 3), np.uint16))
    assert trace_label_outlines(np.zeros((4, 5), np.uint16)) == {}
    assert label_rois(np.zeros((0, 5), np.int32)) == []
    labels = np.ones((2, 2), np.int32)
    with pytest.raises(ValueError, match="position"):
        label_rois(labels, position=2, c=1)
    with pytest.raises(ValueError):
        label_rois(labels, z=-1)
    with pytest.raises(ValueError):
        label_rois(labels, offset=(1.5, 0))
    with pytest.raises(ValueError, match="2\\*\\*24"):
        label_rois(labels, offset=(2**24, 0))
    with pytest.raises(ValueError, match="name_format"):
        label_rois(labels, name_format="{label}-{slice}")


# ----------------------------------------------------------------------------
# ImageJ
# ----------------------------------------------------------------------------

@pytest.mark.imagej
@pytest.mark.parametrize("seed", SEEDS)
def test_random_maps_fill_exactly_in_imagej(ij, seed):
    labels = random_label_map(seed)
    rois = label_rois(labels)
    kinds = {r.roitype for r in rois}
    assert kinds == {roifile.ROI_TYPE.TRACED, roifile.ROI_TYPE.RECT}
    assert all(r.composite == (r.roitype == roifile.ROI_TYPE.RECT) for r in rois)
    assert {65535, 70000} <= {int(r.name) for r in rois}
    decoded = _check_in_imagej(ij, labels, rois)
    painted = imagej_paint(ij, decoded, [int(r.name) for r in rois], labels.shape)
    np.testing.assert_array_equal(painted, labels)


@pytest.mark.imagej
def test_pinch_patterns_fill_exactly_in_imagej(ij):
    cases = [
        np.array([[1, 0], [0, 1]]),
        np.array([[0, 1], [1, 0]]),
        np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]]),  # X: one part, 4 pinches
        np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]]),  # diamond around a hole
        np.array([[1, 1, 1], [1, 0, 1], [1, 1, 0]]),  # hole touching the outside
        np.array([[1, 2], [2, 1]]),  # two labels crossing diagonally
        (np.add.outer(np.arange(9), np.arange(9)) % 2).astype(np.int32) * 7,
    ]
    for labels in cases:
        labels = np.asarray(labels, np.int32)
        rois = label_rois(labels)
        decoded = _check_in_imagej(ij, labels, rois)
        painted = imagej_paint(ij, decoded, [int(r.name) for r in rois], labels.shape)
        np.testing.assert_array_equal(painted, labels)
    # the single-part pinch shapes are TRACED polygons touching themselves
    rois = label_rois(np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]], np.int32))
    assert rois[0].roitype == roifile.ROI_TYPE.TRACED
    coords = rois[0].integer_coordinates.tolist()
    assert len(coords) > len({tuple(p) for p in coords})  # a vertex visited twice


@pytest.mark.imagej
def test_real_looking_maps_fill_exactly_in_imagej(ij):
    for labels in (coins_label_map(), nucleus_map((1024, 1024), 500, seed=5)):
        rois = label_rois(labels)
        decoded = _check_in_imagej(ij, labels, rois)
        painted = imagej_paint(ij, decoded, [int(r.name) for r in rois], labels.shape)
        np.testing.assert_array_equal(painted, labels)


@pytest.mark.imagej
def test_names_and_positions_in_imagej(ij):
    labels = np.zeros((12, 12), np.uint32)
    labels[1:4, 1:4] = 3
    labels[6:10, 6:10] = 70000
    labels[7:9, 7:9] = 0  # composite
    fmt = "cell-{label}-c{c}z{z}t{t}"
    for kwargs in ({"c": 2, "z": 3, "t": 4}, {"z": 9}, {"t": 1}):
        rois = label_rois(labels, name_format=fmt, **kwargs)
        c, z, t = (kwargs.get(k, 0) for k in "czt")
        for roi, label in zip(rois, (3, 70000)):
            jroi = decode_roi(ij, roi.tobytes(), "entry.roi")
            assert str(jroi.getName()) == f"cell-{label}-c{c}z{z}t{t}"
            assert jroi.hasHyperStackPosition()
            assert jroi.getPosition() == 0
            assert (jroi.getCPosition(), jroi.getZPosition(), jroi.getTPosition()) == (c, z, t)
    rois = label_rois(labels, position=5)
    assert [r.name for r in rois] == ["00003", "70000"]
    for roi in rois:
        jroi = decode_roi(ij, roi.tobytes(), "entry.roi")
        assert jroi.getPosition() == 5 and not jroi.hasHyperStackPosition()
        assert (jroi.getCPosition(), jroi.getTPosition()) == (0, 0)
    rois = label_rois(labels)
    jroi = decode_roi(ij, rois[1].tobytes(), "entry.roi")
    assert jroi.getPosition() == 0 and not jroi.hasHyperStackPosition()
    assert (jroi.getCPosition(), jroi.getZPosition(), jroi.getTPosition()) == (0, 0, 0)


@pytest.mark.imagej
def test_zip_round_trip_in_imagej(ij, tmp_path):
    labels = random_label_map(11)
    rois = label_rois(labels, name_format="obj{label}", position=2)
    path = tmp_path / "rois.zip"
    roifile.roiwrite(path, rois, mode="w")
    decoded, values = [], []
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        assert names == [f"obj{r.name[3:]}.roi" for r in rois]
        for entry in names:
            jroi = decode_roi(ij, zf.read(entry), entry)
            assert str(jroi.getName()) == entry[:-4]
            assert jroi.getPosition() == 2
            decoded.append(jroi)
            values.append(int(entry[3:-4]))
    assert values == sorted(values) == sorted(label_topology(labels))
    painted = imagej_paint(ij, decoded, values, labels.shape)
    np.testing.assert_array_equal(painted, labels)


@pytest.mark.imagej
@pytest.mark.parametrize(
    "offset",
    [(40000, 100), (70000, 33000), (32700, 32700), (13, 29), (-30, -7), (-6000, 10)],
)
def test_large_and_shifted_coordinates_in_imagej(ij, offset):
    # a ROI-local window: the ROIs are placed at `offset` in a (virtual) large image
    labels = np.zeros((40, 60), np.int32)
    yy, xx = np.ogrid[:40, :60]
    labels[(yy - 12) ** 2 + (xx - 12) ** 2 <= 64] = 1  # disc: TRACED
    ring = ((yy - 20) ** 2 + (xx - 40) ** 2 <= 144) & ((yy - 20) ** 2 + (xx - 40) ** 2 > 36)
    labels[ring] = 2  # ring: composite
    labels[30, 2] = labels[31, 3] = labels[32, 4] = 3  # staircase: TRACED, pinches
    labels[35:37, 50:52] = labels[38, 55] = 4  # two parts: composite
    rois = label_rois(labels, offset=offset)
    decoded = _check_in_imagej(ij, labels, rois, offset=offset)
    ox, oy = offset
    outlines = trace_label_outlines(labels)
    for roi, jroi, label in zip(rois, decoded, (1, 2, 3, 4)):
        x = [v for loop in outlines[label] for v in loop[:, 0].tolist()]
        y = [v for loop in outlines[label] for v in loop[:, 1].tolist()]
        lo, hi = min(min(x) + ox, min(y) + oy), max(max(x) + ox, max(y) + oy)
        needs_float = lo < -5000 or hi > 32767
        if roi.roitype == roifile.ROI_TYPE.TRACED:
            # sub-pixel (float) coordinates exactly when 16-bit ones would not do
            assert bool(jroi.subPixelResolution()) == needs_float
            fp = jroi.getFloatPolygon()
            got = np.stack([np.asarray(fp.xpoints)[: fp.npoints], np.asarray(fp.ypoints)[: fp.npoints]], 1)
            (loop,) = outlines[label]
            np.testing.assert_array_equal(got, loop + [ox, oy])
        else:
            path = roi.multi_coordinates
            assert path.dtype == np.float32
            loops = roifile.ImagejRoi.path2coords(path)
            assert len(loops) == len(outlines[label])
            for got, loop in zip(loops, outlines[label]):
                np.testing.assert_array_equal(got[:-1], loop + [ox, oy])  # CLOSE repeats the start


@pytest.mark.imagej
def test_outline_over_65535_vertices_is_composite_in_imagej(ij):
    def comb(width):
        labels = np.zeros((3, width), np.int32)
        labels[1] = 9
        labels[0, ::2] = labels[2, ::2] = 9
        return labels

    small, large = comb(16377), comb(16401)
    assert len(trace_label_outlines(small)[9][0]) <= 65535 < len(trace_label_outlines(large)[9][0])
    for labels, kind in ((small, roifile.ROI_TYPE.TRACED), (large, roifile.ROI_TYPE.RECT)):
        (roi,) = label_rois(labels)
        assert roi.roitype == kind
        jroi = decode_roi(ij, roi.tobytes())
        x, y, mask = imagej_mask(jroi)
        assert (x, y) == (0, 0)
        np.testing.assert_array_equal(mask, labels == 9)


@pytest.mark.imagej
def test_nucleus_map_imagej_fill(ij, tmp_path):
    # speed is measured in benchmarks/bench_rois_labels.py, not asserted here
    labels = nucleus_map((2048, 2048), 2000, seed=0)
    rois = label_rois(labels)
    roifile.roiwrite(tmp_path / "n.zip", rois, mode="w")
    assert len(roifile.roiread(tmp_path / "n.zip")) == len(rois)
    decoded = [decode_roi(ij, r.tobytes(), r.name + ".roi") for r in rois]
    painted = imagej_paint(ij, decoded, [int(r.name) for r in rois], labels.shape)
    np.testing.assert_array_equal(painted, labels)
