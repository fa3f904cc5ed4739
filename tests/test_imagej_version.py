"""ImageJ versions and the rules pyfiji_dl picks by them (no Java needed)."""

import pytest

from pyfiji_dl.annotation.rasterize import RasterRules
from pyfiji_dl.fiji.imagej_version import DEBIAN_IMAGEJ, FIJI_IMAGEJ, parse_imagej_version


def test_versions_parse_and_order_as_imagej_releases_them():
    assert str(parse_imagej_version("1.53t99")) == "1.53t" == str(DEBIAN_IMAGEJ)
    assert parse_imagej_version("1.54k8") < parse_imagej_version("1.54k")  # daily build before release
    assert parse_imagej_version("1.54k") < parse_imagej_version("1.54m9") < FIJI_IMAGEJ
    assert parse_imagej_version("1.53t") < parse_imagej_version("1.53u45") < parse_imagej_version("1.54a")
    assert parse_imagej_version("1.54p") == "1.54p99"
    assert parse_imagej_version("2.16.0/1.54p") == FIJI_IMAGEJ  # Fiji's legacy layer prefixes ImageJ2's
    for wrong in ("2.14.0", "2.0", "1.54p/", "latest"):
        with pytest.raises(ValueError, match="not an ImageJ 1.x version"):
            parse_imagej_version(wrong)


@pytest.mark.parametrize(
    "version, keeps, positions, polygon, hornbeck, thresholds, stderr",
    [
        ("1.53t", False, False, False, False, "1.53", False),
        ("1.53u45", False, False, True, False, "1.53", False),
        ("1.54c28", False, False, True, True, "1.53", False),
        ("1.54k7", False, False, True, True, "1.54", False),
        ("1.54k8", True, True, True, True, "1.54", False),
        ("1.54n6", True, True, True, True, "1.54", True),
        ("1.54p", True, True, True, True, "1.54", True),
    ],
)
def test_rules_switch_at_the_build_that_changed_them(version, keeps, positions, polygon, hornbeck,
                                                     thresholds, stderr):
    v = parse_imagej_version(version)
    assert v.roi_manager_keeps_own_position is keeps
    assert v.roi_manager_positions_unpositioned is positions
    assert v.raster_rules() == RasterRules(rotated_rect_polygon=polygon, hornbeck_spline=hornbeck)
    assert v.threshold_rules() == thresholds
    assert v.exec_discards_stderr is stderr
    assert ("keeps" in v.roi_manager_rule()) is keeps


def test_default_rules_are_current_fijis():
    assert FIJI_IMAGEJ.raster_rules() == RasterRules() == RasterRules.IMAGEJ_1_54P
    assert DEBIAN_IMAGEJ.raster_rules() == RasterRules.IMAGEJ_1_53T


def test_rois_to_labels_command_fills_as_the_imagej_it_is_told(tmp_path):
    """A spline-fit rotated rectangle fills differently in ImageJ 1.53t and 1.54p;
    ``--imagej`` (which the Fiji commands set to the running ImageJ's version) picks."""
    import numpy as np
    import struct
    import tifffile
    from roifile import ROI_OPTIONS, ROI_SUBTYPE, ROI_TYPE, ImagejRoi

    from pyfiji_dl.annotation.rasterize import roi_mask
    from pyfiji_dl.cli import main

    roi = ImagejRoi(roitype=ROI_TYPE.FREEHAND, subtype=ROI_SUBTYPE.ROTATED_RECT, version=228,
                    options=ROI_OPTIONS.SPLINE_FIT, name="rotated")
    roi.x1, roi.y1, roi.x2, roi.y2 = 6.5, 8.25, 52.75, 37.5
    roi.arrow_style_or_aspect_ratio, roi.arrow_head_size, roi.rounded_rect_arc_size = struct.unpack(
        ">BBh", struct.pack(">f", 17.5))  # the width, stored at header offset 52
    roi.integer_coordinates = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.int32)
    roi.n_coordinates, roi.left, roi.top, roi.right, roi.bottom = 4, 0, 0, 60, 50
    path = tmp_path / "rotated.roi"
    path.write_bytes(roi.tobytes())
    masks = {}
    for version in ("1.53t", "2.16.0/1.54p"):
        out = tmp_path / f"{version.replace('/', '_')}.tif"
        assert main(["rois-to-labels", str(path), "--shape", "50,60", "-o", str(out), "--imagej", version]) == 0
        masks[version] = tifffile.imread(out) == 1
        expected = np.zeros((50, 60), bool)
        left, top, mask = roi_mask(ImagejRoi.frombytes(path.read_bytes()),
                                   parse_imagej_version(version).raster_rules())
        expected[top:top + mask.shape[0], left:left + mask.shape[1]] = mask[: 50 - top, : 60 - left]
        np.testing.assert_array_equal(masks[version], expected)
    assert not np.array_equal(masks["1.53t"], masks["2.16.0/1.54p"])
