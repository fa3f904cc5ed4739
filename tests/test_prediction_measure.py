"""Per-object and per-image tables (pyfiji_dl.prediction.measure).

Hand-computed cases pin the conventions (calibrated sizes, ImageJ pixel-centre
centroids, frames, channels, probabilities); scikit-image's regionprops checks
random maps; real ImageJ measures the same objects through their ROIs.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from skimage.measure import regionprops
from skimage.segmentation import expand_labels

from pyfiji_dl.io.tables import read_csv, write_csv
from pyfiji_dl.io.tiff import Calibration
from pyfiji_dl.prediction.measure import (
    OBJECT_COLUMNS,
    OBJECT_COLUMNS_3D,
    object_columns,
    object_rows,
    summary_rows,
)

MICRON = Calibration(pixel_width=0.5, pixel_height=0.25, voxel_depth=2.0, unit="micron")


def by_key(rows):
    return {(row["frame"], row["label"]): row for row in rows}


def seeds_map(shape, n, seed, radius=6, dtype=np.int32, ids=None):
    """Touching blobs: ``n`` random seeds grown by ``radius`` px."""
    rng = np.random.default_rng(seed)
    lab = np.zeros(shape, dtype)
    coords = tuple(rng.integers(0, s, n) for s in shape)
    lab[coords] = np.arange(1, n + 1) if ids is None else ids
    return expand_labels(lab, radius)


# ---------------------------------------------------------------- hand-computed


def test_2d_calibrated_area_centroid_and_mean():
    labels = np.zeros((6, 8), np.uint16)
    labels[1:3, 2:5] = 1  # rows 1-2, columns 2-4: 6 px
    labels[4, 7] = 3  # one pixel; label 2 does not exist
    image = np.arange(48, dtype=np.float32).reshape(6, 8)
    rows = object_rows(labels, "YX", image=image, calibration=MICRON, image_name="cells.tif")

    assert [row["label"] for row in rows] == [1, 3]
    assert list(rows[0]) == list(OBJECT_COLUMNS)
    first, single = rows
    assert first["image"] == "cells.tif" and first["frame"] == 1
    assert first["area_px"] == 6 and isinstance(first["area_px"], int)
    assert first["area"] == pytest.approx(6 * 0.5 * 0.25)
    # mean column 3, mean row 1.5; pixel centres are half a pixel in
    assert first["centroid_x"] == pytest.approx((3 + 0.5) * 0.5)
    assert first["centroid_y"] == pytest.approx((1.5 + 0.5) * 0.25)
    assert first["unit"] == "micron"
    assert first["mean_intensity"] == pytest.approx(np.mean([10, 11, 12, 18, 19, 20]))
    assert first["probability"] is None
    assert single["area_px"] == 1 and single["area"] == pytest.approx(0.125)
    assert (single["centroid_x"], single["centroid_y"]) == pytest.approx((7.5 * 0.5, 4.5 * 0.25))
    assert single["mean_intensity"] == pytest.approx(39.0)


def test_uncalibrated_defaults_and_no_image():
    labels = np.zeros((4, 4), np.int32)
    labels[0, 0] = 7
    (row,) = object_rows(labels, "YX")
    assert row["unit"] == "pixel" and row["area"] == 1.0 and row["area_px"] == 1
    assert (row["centroid_x"], row["centroid_y"]) == (0.5, 0.5)
    assert row["mean_intensity"] is None and row["probability"] is None and row["image"] == ""


def test_3d_objects_are_volumes():
    labels = np.zeros((3, 4, 5), np.uint8)
    labels[0:2, 1, 1:3] = 4  # 2 slices x 1 row x 2 columns
    labels[2, 3, 4] = 9
    image = np.zeros(labels.shape, np.uint16)
    image[0, 1, 1:3] = 10
    image[1, 1, 1:3] = 30
    rows = object_rows(labels, "ZYX", image=image, calibration=MICRON)
    assert list(rows[0]) == list(OBJECT_COLUMNS_3D)
    four, nine = rows
    assert four["volume_px"] == 4 and four["volume"] == pytest.approx(4 * 0.5 * 0.25 * 2.0)
    assert four["centroid_x"] == pytest.approx((1.5 + 0.5) * 0.5)
    assert four["centroid_y"] == pytest.approx((1 + 0.5) * 0.25)
    assert four["centroid_z"] == pytest.approx((0.5 + 0.5) * 2.0)
    assert four["mean_intensity"] == pytest.approx(20.0)
    assert "area" not in four and four["frame"] == 1
    assert nine["volume_px"] == 1 and nine["centroid_z"] == pytest.approx(2.5 * 2.0)


def test_time_lapse_rows_per_frame_and_probabilities():
    labels = np.zeros((3, 5, 5), np.int32)
    labels[0, 0:2, 0:2] = 5  # label 5 on frames 1 and 2, moving
    labels[1, 3:5, 3:5] = 5
    labels[1, 0, 4] = 6  # only on frame 2
    # frame 3 is empty
    probabilities = {(2, 5): 0.9, 5: 0.25}
    rows = object_rows(labels, "TYX", probabilities=probabilities, image_name="movie")
    assert [(row["frame"], row["label"]) for row in rows] == [(1, 5), (2, 5), (2, 6)]
    rows = by_key(rows)
    assert rows[1, 5]["centroid_x"] == pytest.approx(1.0) and rows[2, 5]["centroid_x"] == pytest.approx(4.0)
    assert rows[1, 5]["probability"] == 0.25  # plain label key applies to every frame
    assert rows[2, 5]["probability"] == 0.9  # (frame, label) wins
    assert rows[2, 6]["probability"] is None


def test_time_lapse_3d():
    labels = np.zeros((2, 2, 3, 3), np.int32)
    labels[0, :, 0, 0] = 1
    labels[1, 1, 2, 2] = 1
    rows = by_key(object_rows(labels, "TZYX"))
    assert rows[1, 1]["volume_px"] == 2 and rows[1, 1]["centroid_z"] == pytest.approx(1.0)
    assert rows[2, 1]["volume_px"] == 1 and rows[2, 1]["centroid_z"] == pytest.approx(1.5)
    assert rows[2, 1]["centroid_x"] == pytest.approx(2.5)


def test_multichannel_means_trailing_channel_axis():
    labels = np.zeros((4, 4), np.int32)
    labels[:2, :2] = 1
    labels[3, 3] = 2
    image = np.stack([np.full((4, 4), 1.0), np.arange(16.0).reshape(4, 4), np.full((4, 4), -3.0)], axis=-1)
    rows = object_rows(labels, "YX", image=image)
    assert list(rows[0]) == object_columns("YX", n_channels=3)
    assert "mean_intensity" not in rows[0]
    assert rows[0]["mean_intensity_c1"] == 1.0
    assert rows[0]["mean_intensity_c2"] == pytest.approx(np.mean([0, 1, 4, 5]))
    assert rows[0]["mean_intensity_c3"] == -3.0
    assert rows[1]["mean_intensity_c2"] == 15.0


def test_multichannel_image_in_imagej_order():
    rng = np.random.default_rng(3)
    labels = seeds_map((2, 20, 24), 12, seed=1)
    labels[:, :, :2] = 0
    image = rng.normal(size=(2, 3, 20, 24))  # T, C, Y, X as ImageJ stores it
    rows = by_key(object_rows(labels, "TYX", image=image, image_axes="TCYX"))
    for (frame, label), row in rows.items():
        mask = labels[frame - 1] == label
        for c in range(3):
            assert row[f"mean_intensity_c{c + 1}"] == pytest.approx(image[frame - 1, c][mask].mean())


def test_single_channel_axis_keeps_plain_column_name():
    labels = np.ones((3, 3), np.int32)
    (row,) = object_rows(labels, "YX", image=np.full((3, 3, 1), 2.5))
    assert row["mean_intensity"] == 2.5 and "mean_intensity_c1" not in row


def test_empty_map_has_no_rows_but_columns_for_the_header(tmp_path):
    labels = np.zeros((5, 5), np.uint16)
    assert object_rows(labels, "YX") == []
    path = write_csv(tmp_path / "objects.csv", [], columns=object_columns("YX"))
    assert path.read_text().strip() == ",".join(OBJECT_COLUMNS)


def test_rows_write_as_csv(tmp_path):
    labels = np.zeros((4, 4), np.int32)
    labels[1, 1] = 2
    rows = object_rows(labels, "YX", calibration=MICRON, image_name="a.tif", probabilities={2: 0.5})
    (back,) = read_csv(write_csv(tmp_path / "t.csv", rows, columns=object_columns("YX")))
    assert back == {
        "image": "a.tif", "frame": "1", "label": "2", "area": "0.125", "area_px": "1",
        "centroid_x": "0.75", "centroid_y": "0.375", "unit": "micron",
        "mean_intensity": "", "probability": "0.5",
    }


@pytest.mark.parametrize(
    "labels, axes, image, message",
    [
        (np.zeros((3, 4)), "XY", None, "ending in YX"),
        (np.zeros((2, 3, 4)), "ZTYX", None, "does not match"),
        (np.zeros((2, 3, 4)), "CYX", None, "ending in YX"),
        (np.zeros((2, 3, 4)), "ZTX", None, "ending in YX"),
        (np.full((3, 4), 0.5), "YX", None, "non-integer"),
        (np.zeros((3, 4), np.int32), "YX", np.zeros((4, 3)), "differs"),
        (np.zeros((3, 4), np.int32), "YX", np.zeros((2, 2, 3, 4)), "does not fit"),
    ],
)
def test_bad_inputs_are_explained(labels, axes, image, message):
    with pytest.raises(ValueError, match=message):
        object_rows(labels, axes, image=image)


# ---------------------------------------------------------------- vs regionprops


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.int64])
def test_agrees_with_regionprops_on_random_2d_maps(dtype):
    n = 200 if dtype != np.uint8 else 120
    labels = seeds_map((157, 211), n, seed=int(np.dtype(dtype).itemsize), dtype=dtype)
    image = np.random.default_rng(0).random(labels.shape).astype(np.float32) * 1000
    rows = object_rows(labels, "YX", image=image, calibration=MICRON)
    props = regionprops(labels.astype(np.int64), intensity_image=image)
    assert [row["label"] for row in rows] == [p.label for p in props]
    for row, p in zip(rows, props):
        assert row["area_px"] == p.area
        assert row["area"] == pytest.approx(p.area * 0.125)
        cy, cx = p.centroid
        assert row["centroid_x"] == pytest.approx((cx + 0.5) * 0.5, rel=1e-12)
        assert row["centroid_y"] == pytest.approx((cy + 0.5) * 0.25, rel=1e-12)
        assert row["mean_intensity"] == pytest.approx(p.intensity_mean, rel=1e-6)


@pytest.mark.parametrize("spread", ["scattered", "offset"])
def test_agrees_with_regionprops_with_huge_ids(spread):
    # ids above 2**30: measured through small codes, not a 2**40-entry table
    small = seeds_map((120, 130), 80, seed=9, dtype=np.int64)
    if spread == "scattered":
        huge_ids = np.sort(np.random.default_rng(5).choice(2**40, 80, replace=False) + 1)
    else:  # e.g. ids offset per tile: a short range far from 0
        huge_ids = 2**40 + np.arange(80) * 3
    labels = np.where(small > 0, huge_ids[small - 1], 0)  # same order as the small ids
    rows = object_rows(labels, "YX")
    props = regionprops(small)  # regionprops itself needs a table as long as the largest id
    assert [row["label"] for row in rows] == [int(huge_ids[p.label - 1]) for p in props]
    assert max(row["label"] for row in rows) > 2**30
    for row, p in zip(rows, props):
        assert row["area_px"] == p.area
        assert (row["centroid_y"], row["centroid_x"]) == pytest.approx(tuple(c + 0.5 for c in p.centroid))


def test_agrees_with_regionprops_in_3d():
    labels = seeds_map((9, 40, 45), 40, seed=2, radius=4)
    image = np.random.default_rng(1).normal(size=labels.shape)
    rows = object_rows(labels, "ZYX", image=image, calibration=MICRON)
    props = regionprops(labels, intensity_image=image)
    assert len(rows) == len(props) > 30
    for row, p in zip(rows, props):
        cz, cy, cx = p.centroid
        assert row["label"] == p.label and row["volume_px"] == p.area
        assert row["volume"] == pytest.approx(p.area * 0.25)
        assert (row["centroid_z"], row["centroid_y"], row["centroid_x"]) == pytest.approx(
            ((cz + 0.5) * 2.0, (cy + 0.5) * 0.25, (cx + 0.5) * 0.5)
        )
        assert row["mean_intensity"] == pytest.approx(p.intensity_mean)


def test_chunked_sums_match_on_maps_wider_than_a_chunk(monkeypatch):
    # several bincount chunks per frame, including a chunk boundary inside objects
    import pyfiji_dl.prediction.measure as measure

    monkeypatch.setattr(measure, "_CHUNK_PIXELS", 1000)
    labels = seeds_map((3, 60, 70), 30, seed=4)
    expected = {}
    for t in range(3):
        for p in regionprops(labels[t]):
            expected[t + 1, p.label] = (p.area, p.centroid)
    rows = by_key(object_rows(labels, "TYX"))
    assert rows.keys() == expected.keys()
    for key, (area, (cy, cx)) in expected.items():
        assert rows[key]["area_px"] == area
        assert (rows[key]["centroid_y"], rows[key]["centroid_x"]) == pytest.approx((cy + 0.5, cx + 0.5))


# ---------------------------------------------------------------- summary


def test_summary_per_image_and_frame():
    labels = np.zeros((3, 6, 6), np.int32)
    labels[0, 0:2, 0:2] = 1  # 4 px
    labels[0, 4:6, 0:3] = 2  # 6 px
    labels[1, 0:3, 0:3] = 1  # 9 px, same id as on frame 1
    rows = summary_rows("movie.tif", labels, "TYX")
    assert [row["frame"] for row in rows] == ["all", 1, 2, 3]
    whole, f1, f2, f3 = rows
    assert whole["image"] == "movie.tif"
    assert (whole["count"], whole["distinct_labels"]) == (3, 2)
    assert whole["mean_area_px"] == pytest.approx(19 / 3)
    assert (whole["median_area_px"], whole["min_area_px"], whole["max_area_px"]) == (6, 4, 9)
    assert whole["foreground_fraction"] == pytest.approx(19 / 108)
    assert (f1["count"], f1["mean_area_px"], f1["foreground_fraction"]) == (2, 5.0, pytest.approx(10 / 36))
    assert (f2["count"], f2["max_area_px"]) == (1, 9)
    assert f3["count"] == 0 and f3["mean_area_px"] is None and f3["foreground_fraction"] == 0.0


def test_summary_single_image_and_volume():
    (row,) = summary_rows("a", np.zeros((4, 4), np.uint16), "YX")
    assert row["frame"] == "all" and row["count"] == 0 and row["mean_area_px"] is None
    labels = np.zeros((2, 3, 3), np.uint8)
    labels[:, 0, 0] = 3
    (row,) = summary_rows("v", labels, "ZYX")
    assert row["count"] == 1 and row["mean_volume_px"] == 2.0 and "mean_area_px" not in row


def test_summary_counts_match_object_rows():
    labels = seeds_map((2, 80, 90), 50, seed=7)
    rows = object_rows(labels, "TYX")
    summary = summary_rows("x", labels, "TYX")
    assert summary[0]["count"] == len(rows)
    for frame_row in summary[1:]:
        areas = [r["area_px"] for r in rows if r["frame"] == frame_row["frame"]]
        assert frame_row["count"] == len(areas)
        assert frame_row["mean_area_px"] == pytest.approx(np.mean(areas))


# ---------------------------------------------------------------- vs ImageJ


def _imagej_image(ij, planes, calibration):
    """A float32 ImagePlus (stack of ``planes``) with ``calibration``."""
    import jpype

    FloatProcessor = ij("ij.process.FloatProcessor")
    ImageStack = ij("ij.ImageStack")
    ImagePlus = ij("ij.ImagePlus")
    n, height, width = planes.shape
    stack = ImageStack(width, height)
    for plane in planes:
        pixels = jpype.JArray(jpype.JFloat)(plane.astype(np.float32).ravel())
        stack.addSlice(FloatProcessor(width, height, pixels))
    imp = ImagePlus("measured", stack)
    cal = imp.getCalibration()
    cal.pixelWidth = calibration.pixel_width
    cal.pixelHeight = calibration.pixel_height
    cal.setUnit(calibration.unit)
    return imp


@pytest.mark.imagej
def test_area_centroid_mean_match_imagej_measure(ij):
    """ImageJ measures each label's exact ROI; the table must say the same."""
    import jpype

    from imagej_oracle_trace import random_label_map  # tests/ is on sys.path

    from pyfiji_dl.annotation.convert import LABEL_NAME_RE, labels_to_rois

    # two frames of awkward labels: holes, several parts, rings, single pixels
    labels = np.stack([random_label_map(0, (90, 120)), random_label_map(1, (90, 120))])
    image = np.random.default_rng(0).normal(100, 20, labels.shape).astype(np.float32)
    cal = Calibration(pixel_width=0.65, pixel_height=0.4, unit="micron")
    rows = by_key(object_rows(labels, "TYX", image=image, calibration=cal))

    Measurements = ij("ij.measure.Measurements")
    RoiDecoder = ij("ij.io.RoiDecoder")
    imp = _imagej_image(ij, image, cal)
    rois = labels_to_rois(labels, "TYX")
    assert len(rois) == len(rows) > 100
    seen = set()
    for roi in rois:
        label = int(LABEL_NAME_RE.match(roi.name).group(1))
        frame = int(re.search(r"-t(\d+)$", roi.name).group(1))
        jroi = RoiDecoder(jpype.JArray(jpype.JByte)(roi.tobytes()), roi.name + ".roi").getRoi()
        imp.setSliceWithoutUpdate(int(jroi.getPosition()))  # the ROI's own plane
        imp.setRoi(jroi)
        stats = imp.getStatistics(Measurements.AREA | Measurements.CENTROID | Measurements.MEAN)
        row = rows[frame, label]
        assert row["area_px"] == stats.pixelCount, roi.name
        assert row["area"] == pytest.approx(stats.area, rel=1e-9), roi.name
        assert row["centroid_x"] == pytest.approx(stats.xCentroid, rel=1e-6), roi.name
        assert row["centroid_y"] == pytest.approx(stats.yCentroid, rel=1e-6), roi.name
        assert row["mean_intensity"] == pytest.approx(stats.mean, rel=1e-6), roi.name
        seen.add((frame, label))
    assert seen == set(rows)
