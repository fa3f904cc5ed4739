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
    with pytest.raises(ValueError, match="not an ImageJ 1.x version"):
        parse_imagej_version("2.14.0")


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
