"""Our outputs opened in real ImageJ: label maps look right, ROIs land on their frames."""

import os

import numpy as np
import pytest
from jpype import JInt

from pyfiji_dl.annotation.files import labels_file_to_rois, rois_file_to_labels
from pyfiji_dl.fiji.imagej1 import imagej_view
from pyfiji_dl.io.tiff import Calibration, write_imagej_tiff, write_label_image

pytestmark = pytest.mark.imagej


@pytest.fixture
def display():
    if not os.environ.get("DISPLAY"):
        if os.environ.get("CI"):
            pytest.fail("CI must run the tests under a virtual display (make test uses xvfb-run)")
        pytest.skip("ImageJ 1.x's ROI Manager needs a display; run under xvfb-run")


def movie_labels(n_frames=4, shape=(60, 70)):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    frames = np.zeros((n_frames,) + shape, np.uint16)
    for t in range(n_frames):
        for k in range(t + 2):  # a different number of objects on every frame
            cy, cx = 10 + 12 * k, 10 + 8 * t
            frames[t][(yy - cy) ** 2 + (xx - cx) ** 2 <= 25] = 10 * t + k + 1
    return frames


def test_label_map_opens_calibrated_16bit_and_coloured(ij, tmp_path):
    cal = Calibration(pixel_width=0.5, pixel_height=0.5, unit="micron", frame_interval=2.0)
    path = write_label_image(tmp_path / "labels.tif", movie_labels(), "TYX", calibration=cal)
    imp = ij("ij.IJ").openImage(str(path))
    try:
        assert imp.getBitDepth() == 16
        assert tuple(imp.getDimensions()) == (70, 60, 1, 1, 4)
        got = imp.getCalibration()
        assert got.pixelWidth == pytest.approx(0.5) and str(got.getUnit()) in ("micron", "\u00b5m")
        assert got.frameInterval == pytest.approx(2.0)
        model = imp.getProcessor().getColorModel()
        rgb = [(model.getRed(JInt(i)), model.getGreen(JInt(i)), model.getBlue(JInt(i))) for i in (0, 1, 2)]
        assert rgb[0] == (0, 0, 0)
        assert max(rgb[1]) > 100 and rgb[1] != rgb[2]  # labels are coloured, neighbours differ
        assert imp.getDisplayRangeMin() == 0 and imp.getDisplayRangeMax() >= 255
    finally:
        imp.close()


@pytest.mark.parametrize("axes", ["TYX", "ZYX", "TZYX"])
def test_rois_land_on_their_planes_in_the_roi_manager(ij, display, tmp_path, axes):
    frames = movie_labels(6 if axes == "TZYX" else 4)
    stack = frames.reshape((3, 2) + frames.shape[1:]) if axes == "TZYX" else frames
    labels_path = write_label_image(tmp_path / "stack.tif", stack, axes)
    n = labels_file_to_rois(labels_path, tmp_path / "stack.zip")
    assert n == sum(len(np.unique(f)) - 1 for f in frames)

    imp = ij("ij.IJ").openImage(str(labels_path))
    manager = ij("ij.plugin.frame.RoiManager")(True)  # hidden: no Swing repaint races
    manager.runCommand("Open", str(tmp_path / "stack.zip"))
    assert manager.getCount() == n
    ShortProcessor = ij("ij.process.ShortProcessor")
    painted = np.zeros_like(frames)
    for index in range(n):
        manager.select(imp, index)  # what clicking the ROI in the ROI Manager does
        roi = manager.getRoi(index)
        name = str(roi.getName())
        label = int(name.split("-")[1])
        shown = {"z": int(imp.getZ()), "t": int(imp.getT())}
        expected = {part[0]: int(part[1:]) for part in name.split("-")[2:]}
        for axis, value in expected.items():
            assert shown[axis] == value, f"{name} shown at {shown}"
        ip = ShortProcessor(imp.getWidth(), imp.getHeight())
        ip.setValue(label)
        ip.fill(roi)
        plane = np.array(ip.getPixels(), dtype=np.int32).astype(np.uint16).reshape(frames.shape[1:])
        painted[imp.getCurrentSlice() - 1][plane > 0] = plane[plane > 0]
    manager.reset()
    imp.close()
    np.testing.assert_array_equal(painted, frames)


def test_imagej_view_of_round_trip(ij, tmp_path):
    frames = movie_labels()
    labels_path = write_label_image(tmp_path / "movie.tif", frames, "TYX")
    write_imagej_tiff(tmp_path / "raw.tif", np.zeros(frames.shape, np.uint8), "TYX")
    labels_file_to_rois(labels_path, tmp_path / "movie.zip")
    result = rois_file_to_labels(tmp_path / "movie.zip", tmp_path / "back.tif", image=tmp_path / "raw.tif")
    view = imagej_view(result.output, tmp_path / "movie.zip")
    assert view.dimensions == (70, 60, 1, 1, 4)
    assert view.max_value == frames.max()
    assert sorted({roi.position for roi in view.rois}) == [1, 2, 3, 4]
    assert all(roi.position == int(roi.name[-3:]) for roi in view.rois)


def test_roi_set_made_in_imagej_converts_as_imagej_paints_it(ij, tmp_path):
    """A ROI Manager set of mixed, overlapping ROIs drawn in ImageJ -> our label map
    equals ImageJ painting label i+1 into ROI i, one after the other (last wins)."""
    import zipfile

    from imagej_oracle import ImageJOracle

    oracle = ImageJOracle(ij)
    Roi, OvalRoi, PolygonRoi = ij("ij.gui.Roi"), ij("ij.gui.OvalRoi"), ij("ij.gui.PolygonRoi")
    EllipseRoi, ShapeRoi, Line = ij("ij.gui.EllipseRoi"), ij("ij.gui.ShapeRoi"), ij("ij.gui.Line")
    FloatPolygon = ij("ij.process.FloatPolygon")
    ring = ShapeRoi(OvalRoi(60, 10, 30, 30)).xor(ShapeRoi(OvalRoi(68, 18, 14, 14)))
    rois = [
        Roi(5, 5, 20, 12),
        OvalRoi(15.3, 8.6, 25.2, 17.7),
        PolygonRoi(FloatPolygon([40.5, 70.2, 55.0], [50.5, 45.1, 75.9]), Roi.POLYGON),
        EllipseRoi(10.0, 60.0, 40.0, 80.0, 0.5),
        Roi(30, 30, 25, 20, 10),  # rounded rectangle
        ring,
        Line(0, 0, 50, 50),  # no area: skipped, does not take a label
    ]
    with zipfile.ZipFile(tmp_path / "drawn.zip", "w") as archive:
        for i, roi in enumerate(rois):
            roi.setName(f"roi{i}")
            archive.writestr(f"roi{i}.roi", oracle.encode(roi))
    width, height = 100, 90
    expected = np.zeros((height, width), np.uint16)
    expected_pairs = set()
    for label, roi in enumerate(rois[:-1], start=1):
        mask = oracle.fill(roi, width, height)
        expected_pairs |= {(f"roi{other - 1}", f"roi{label - 1}") for other in np.unique(expected[mask]) if other}
        expected[mask] = label

    result = rois_file_to_labels(tmp_path / "drawn.zip", tmp_path / "labels.tif", shape=(height, width))
    import tifffile

    np.testing.assert_array_equal(tifffile.imread(tmp_path / "labels.tif"), expected)
    assert result.report.skipped == ["'roi6' (line)"]
    assert ("roi0", "roi1") in expected_pairs
    assert {(o.first, o.second) for o in result.report.overlaps} == expected_pairs


@pytest.mark.display
@pytest.mark.parametrize("content", [b"garbage", "a .roi that is not one"])
def test_a_roi_set_imagej_cannot_open_is_an_error_naming_it_not_a_dialog(ij, display, tmp_path, content):
    """ImageJ's ROI Manager reports a bad file with a modal dialog that nobody would close."""
    import zipfile

    from pyfiji_dl.errors import InputError
    from pyfiji_dl.fiji.imagej1 import read_roi_set

    bad = tmp_path / "bad.zip"
    if isinstance(content, bytes):
        bad.write_bytes(content)
    else:
        with zipfile.ZipFile(bad, "w") as archive:
            archive.writestr("a.roi", content)
    with pytest.raises(InputError, match="could not open .*bad.zip: ROI Manager: .*"):
        read_roi_set(bad, use_roi_manager=True)
