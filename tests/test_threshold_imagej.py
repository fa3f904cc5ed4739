"""Auto-threshold and bootstrap ROIs against real ImageJ (1.54p or 1.53t) as the oracle.

Every threshold method must give the limits ImageJ's
``ip.setAutoThreshold(method [+ " dark"])`` gives (``getMinThreshold`` /
``getMaxThreshold``), on real microscopy images, 16-bit images with odd ranges,
32-bit images and degenerate ones. Particle labels must give the same particles
(start pixel, order and area) as ImageJ's ``ParticleAnalyzer``.
"""

from __future__ import annotations

import hashlib
import zipfile

import numpy as np
import pytest
import tifffile
from scipy import ndimage

from pyfiji_dl.annotation import bootstrap
from pyfiji_dl.annotation.bootstrap import BootstrapError
from pyfiji_dl.annotation.threshold import (
    THRESHOLD_METHODS,
    auto_threshold,
    imagej_histogram,
    threshold_histogram,
    threshold_mask,
)

pytestmark = pytest.mark.imagej

GENERATION = "1.54"
"""Whose rules our side follows: set by the ``imagej`` fixture to the running ImageJ's
(``ImageJVersion.threshold_rules()``), so every comparison is like with like."""


def bootstrap_labels(*args, **kwargs):
    return bootstrap.bootstrap_labels(*args, imagej=GENERATION, **kwargs)


def bootstrap_rois_file(*args, **kwargs):
    return bootstrap.bootstrap_rois_file(*args, imagej=GENERATION, **kwargs)


# --------------------------------------------------------------------------
# test images (real ones from the installed packages, plus edge cases)
# --------------------------------------------------------------------------


def _nuclei_2d():
    from stardist.data import test_image_nuclei_2d

    return test_image_nuclei_2d()  # real DSB2018 nuclei, 16-bit, values 0..235


def _nuclei_3d():
    from stardist.data import test_image_nuclei_3d

    return test_image_nuclei_3d()  # real nuclei stack, 16-bit, (31, 61, 57)


def _skimage(name):
    import skimage.data

    return getattr(skimage.data, name)()


def _pattern(shape, low, high, dtype):
    """Two values only, in a regular pattern."""
    cells = np.arange(np.prod(shape)).reshape(shape)
    return np.where(cells % 3 == 0, low, high).astype(dtype)


def _images():
    nuclei = _nuclei_2d()
    stack = _nuclei_3d()
    rng = np.random.default_rng(7)
    with_nan = nuclei.astype(np.float32) * 0.01
    with_nan[::7, ::5] = np.nan
    return {
        # real images
        "nuclei-16bit": nuclei,
        "nuclei3d-z10-16bit": stack[10],
        "nuclei3d-z25-16bit": stack[25],
        "coins-8bit": _skimage("coins"),
        "camera-8bit": _skimage("camera"),
        "cell-8bit": _skimage("cell"),
        "moon-8bit": _skimage("moon"),
        # 16-bit with odd ranges
        "nuclei-16bit-offset": (nuclei.astype(np.int64) * 97 + 1234).astype(np.uint16),
        "nuclei-16bit-full-range": (nuclei.astype(np.int64) * 65535 // 235).astype(np.uint16),
        "16bit-narrow-range": (3000 + rng.integers(0, 4, (64, 80))).astype(np.uint16),
        "coins-16bit-high": (_skimage("coins").astype(np.int64) * 13 + 40000).astype(np.uint16),
        # 32-bit
        "nuclei-float": nuclei.astype(np.float32) / 235 * 3.7 - 0.2,
        "cell-float": _skimage("cell").astype(np.float32) * 0.013 + 5,
        "nuclei3d-z15-float-negative": stack[15].astype(np.float32) * -0.5,
        "nuclei-float-with-nan": with_nan,
        # degenerate
        "constant-8bit": np.full((20, 30), 9, np.uint8),
        "constant-16bit": np.full((20, 30), 1000, np.uint16),
        "constant-float": np.full((20, 30), 2.5, np.float32),
        "two-values-8bit": _pattern((20, 30), 10, 200, np.uint8),
        "two-values-16bit": _pattern((20, 30), 100, 4000, np.uint16),
        "two-values-float": _pattern((20, 30), -1.5, 7.25, np.float32),
    }


IMAGES = _images()


# --------------------------------------------------------------------------
# ImageJ side
# --------------------------------------------------------------------------


class ImageJ:
    """The ImageJ calls the tests compare against."""

    def __init__(self, jimport):
        import jpype

        self.jpype = jpype
        self.IJ = jimport("ij.IJ")
        self.ImagePlus = jimport("ij.ImagePlus")
        self.ImageStack = jimport("ij.ImageStack")
        self.ByteProcessor = jimport("ij.process.ByteProcessor")
        self.ShortProcessor = jimport("ij.process.ShortProcessor")
        self.FloatProcessor = jimport("ij.process.FloatProcessor")
        self.AutoThresholder = jimport("ij.process.AutoThresholder")
        self.ParticleAnalyzer = jimport("ij.plugin.filter.ParticleAnalyzer")
        self.ResultsTable = jimport("ij.measure.ResultsTable")
        self.Measurements = jimport("ij.measure.Measurements")
        self.RoiDecoder = jimport("ij.io.RoiDecoder")
        self.EDM = jimport("ij.plugin.filter.EDM")
        self.Prefs = jimport("ij.Prefs")

    def processor(self, image):
        height, width = image.shape
        jp = self.jpype
        if image.dtype == np.uint8:
            return self.ByteProcessor(width, height, jp.JArray(jp.JByte)(image.view(np.int8).ravel()))
        if image.dtype == np.uint16:
            return self.ShortProcessor(width, height, jp.JArray(jp.JShort)(image.view(np.int16).ravel()), None)
        if image.dtype == np.float32:
            return self.FloatProcessor(width, height, jp.JArray(jp.JFloat)(image.ravel()))
        raise TypeError(image.dtype)

    def histogram_threshold(self, histogram, method):
        data = self.jpype.JArray(self.jpype.JInt)(np.asarray(histogram, np.int32))
        return int(self.AutoThresholder().getThreshold(method, data))

    def auto_threshold(self, image, method, dark):
        ip = self.processor(image)
        ip.setAutoThreshold(method + (" dark" if dark else ""))
        return float(ip.getMinThreshold()), float(ip.getMaxThreshold()), ip

    def mask(self, ip):
        mask = ip.createMask()
        pixels = np.frombuffer(memoryview(mask.getPixels()), np.uint8)
        return pixels.reshape(ip.getHeight(), ip.getWidth()) != 0

    def stack(self, planes):
        height, width = planes.shape[-2:]
        stack = self.ImageStack(width, height)
        for plane in planes:
            stack.addSlice("", self.processor(np.ascontiguousarray(plane)))
        return self.ImagePlus("stack", stack)

    def stack_threshold(self, planes, method, dark):
        imp = self.stack(planes)
        self.IJ.setAutoThreshold(imp, method + (" dark" if dark else "") + " stack")
        ip = imp.getProcessor()
        return float(ip.getMinThreshold()), float(ip.getMaxThreshold())

    def particles(self, image, method, dark, *, include_holes, exclude_edges, min_size=0.0, max_size=np.inf):
        """(x start, y start, area) of each particle, in ImageJ's order."""
        imp = self.ImagePlus("particles", self.processor(image))
        imp.getProcessor().setAutoThreshold(method + (" dark" if dark else ""))
        pa_class = self.ParticleAnalyzer
        options = pa_class.RECORD_STARTS
        if include_holes:
            options |= pa_class.INCLUDE_HOLES
        if exclude_edges:
            options |= pa_class.EXCLUDE_EDGE_PARTICLES
        table = self.ResultsTable()
        analyzer = pa_class(options, self.Measurements.AREA, table, float(min_size), float(max_size))
        analyzer.setHideOutputImage(True)
        assert analyzer.analyze(imp)
        if table.size() == 0:
            return []
        columns = [np.asarray(table.getColumnAsDoubles(table.getColumnIndex(c))) for c in ("XStart", "YStart", "Area")]
        return [(int(x), int(y), int(round(a))) for x, y, a in zip(*columns)]

    def watershed_count(self, mask):
        """Particles after Process > Binary > Watershed on a binary mask."""
        height, width = mask.shape
        jp = self.jpype
        ip = self.ByteProcessor(width, height, jp.JArray(jp.JByte)((mask * 255).astype(np.uint8).view(np.int8).ravel()))
        self.Prefs.blackBackground = True
        edm = self.EDM()
        edm.setup("watershed", None)
        edm.toWatershed(ip)
        split = np.frombuffer(memoryview(ip.getPixels()), np.uint8).reshape(height, width) != 0
        return ndimage.label(split, np.ones((3, 3)))[1]

    def decode_zip(self, path):
        """ImageJ's ROIs from a ROI Manager zip, in order."""
        rois = []
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                data = archive.read(name)
                roi = self.RoiDecoder(self.jpype.JArray(self.jpype.JByte)(data), name).getRoi()
                assert roi is not None, name
                rois.append(roi)
        return rois

    @staticmethod
    def roi_area(roi):
        mask = roi.getMask()
        if mask is None:
            bounds = roi.getBounds()
            return int(bounds.width * bounds.height)
        return int(np.count_nonzero(np.frombuffer(memoryview(mask.getPixels()), np.uint8)))


@pytest.fixture(scope="module")
def imagej(ij, imagej_version):
    global GENERATION
    GENERATION = imagej_version.threshold_rules()
    return ImageJ(ij)


def particles_of(labels):
    """(x start, y start, area) per label 1..N, like ImageJ's particle table."""
    flat = labels.ravel()
    n = int(labels.max())
    areas = np.bincount(flat, minlength=n + 1)
    first = np.full(n + 1, flat.size)
    np.minimum.at(first, flat, np.arange(flat.size))
    width = labels.shape[-1]
    return [(int(first[i] % width), int(first[i] // width), int(areas[i])) for i in range(1, n + 1)]


# --------------------------------------------------------------------------
# threshold methods
# --------------------------------------------------------------------------


def _histograms():
    rng = np.random.default_rng(3)
    out = {name: imagej_histogram(image)[0] for name, image in IMAGES.items()}
    for i in range(12):
        width = int(rng.integers(2, 256))
        start = int(rng.integers(0, 257 - width))
        histogram = np.zeros(256, np.int64)
        histogram[start : start + width] = rng.integers(0, 1000, width) * (rng.random(width) < 0.7)
        histogram[start] += 1
        out[f"random-{i}"] = histogram
    mixture = np.concatenate([rng.normal(60, 10, 5000), rng.normal(170, 20, 3000)])
    out["bimodal"] = np.bincount(np.clip(mixture, 0, 255).astype(int), minlength=256)
    # counts large enough to overflow the int products in IsoData and MinError
    out["camera-x5000"] = imagej_histogram(IMAGES["camera-8bit"])[0] * 5000
    out["saturated-x4000"] = imagej_histogram(IMAGES["coins-8bit"])[0] * 4000
    single = np.zeros(256, np.int64)
    single[255] = 10
    out["only-bin-255"] = single
    return out


HISTOGRAMS = _histograms()


@pytest.mark.parametrize("method", THRESHOLD_METHODS)
def test_histogram_threshold_equals_autothresholder(imagej, method):
    mismatches = {}
    for name, histogram in HISTOGRAMS.items():
        ours = threshold_histogram(histogram, method, GENERATION)
        theirs = imagej.histogram_threshold(histogram, method)
        if ours != theirs:
            mismatches[name] = (ours, theirs)
    assert not mismatches, f"{method}: ours vs ImageJ {mismatches}"


def test_the_other_imagej_generation_would_not_be_exact_here(imagej):
    """The rules really switch with the ImageJ version: 1.53t's Otsu and bilevel rule
    disagree with 1.54p's on some of these histograms, and the reverse."""
    other = {"1.54": "1.53", "1.53": "1.54"}[GENERATION]
    for method in ("Otsu", "Intermodes", "Default"):
        assert any(threshold_histogram(histogram, method, other) != imagej.histogram_threshold(histogram, method)
                   for histogram in HISTOGRAMS.values()), method


@pytest.mark.parametrize("name", list(IMAGES))
def test_auto_threshold_equals_set_auto_threshold(imagej, name):
    image = IMAGES[name]
    mismatches = []
    for method in THRESHOLD_METHODS:
        for dark in (True, False):
            lower, upper, ip = imagej.auto_threshold(image, method, dark)
            ours = auto_threshold(image, method, dark, imagej=GENERATION)
            if ours != (lower, upper):
                mismatches.append(f"{method} dark={dark}: ours {ours} ImageJ {(lower, upper)}")
            elif method in ("Default", "Otsu", "Huang", "Triangle") and not np.array_equal(
                threshold_mask(image, method, dark, imagej=GENERATION), imagej.mask(ip)
            ):
                mismatches.append(f"{method} dark={dark}: mask differs from ip.createMask()")
    assert not mismatches, "\n".join(mismatches)


@pytest.mark.parametrize("kind", ["8bit", "16bit", "float"])
def test_stack_histogram_equals_imagej_stack_option(imagej, kind):
    stack = _nuclei_3d()[::3]
    if kind == "8bit":
        stack = (stack.astype(np.float64) - stack.min()) / np.ptp(stack) * 255
        stack = stack.astype(np.uint8)
    elif kind == "float":
        stack = stack.astype(np.float32) * 0.25 - 30
    mismatches = []
    for method in THRESHOLD_METHODS:
        for dark in (True, False):
            ours = auto_threshold(stack, method, dark, stack_histogram=True, imagej=GENERATION)
            theirs = imagej.stack_threshold(stack, method, dark)
            if ours != theirs:
                mismatches.append(f"{method} dark={dark}: ours {ours} ImageJ {theirs}")
    assert not mismatches, "\n".join(mismatches)


def test_stacks_are_thresholded_plane_by_plane_by_default(imagej):
    stack = _nuclei_3d()[5:25:4]
    lower, upper = auto_threshold(stack, "Otsu", True, imagej=GENERATION)
    assert lower.shape == upper.shape == (stack.shape[0],)
    for index, plane in enumerate(stack):
        expected = imagej.auto_threshold(plane, "Otsu", True)[:2]
        assert (lower[index], upper[index]) == expected
    masks = threshold_mask(stack, "Otsu", imagej=GENERATION)
    for index, plane in enumerate(stack):
        np.testing.assert_array_equal(masks[index], threshold_mask(plane, "Otsu", imagej=GENERATION))


def test_method_names_are_case_insensitive_and_checked():
    image = IMAGES["coins-8bit"]
    assert auto_threshold(image, "otsu") == auto_threshold(image, "OTSU") == auto_threshold(image, "Otsu")
    assert auto_threshold(image, "ij_isodata") == auto_threshold(image, "IJ_IsoData")
    with pytest.raises(ValueError, match="Huang, Intermodes"):
        auto_threshold(image, "Huang2")
    with pytest.raises(ValueError, match="dark background is a separate option"):
        auto_threshold(image, "Otsu dark")
    with pytest.raises(ValueError, match="256-bin"):
        threshold_histogram(np.ones(100, int), "Otsu")


def test_signed_16bit_is_thresholded_like_imagej_opens_it():
    raw = IMAGES["nuclei-16bit-offset"]
    signed = (raw.astype(np.int32) - 32768).astype(np.int16)
    for dark in (True, False):
        lower, upper = auto_threshold(raw, "Li", dark, imagej=GENERATION)
        assert auto_threshold(signed, "Li", dark, imagej=GENERATION) == (lower - 32768, upper - 32768)
        np.testing.assert_array_equal(threshold_mask(signed, "Li", dark, imagej=GENERATION), threshold_mask(raw, "Li", dark, imagej=GENERATION))


# --------------------------------------------------------------------------
# particles
# --------------------------------------------------------------------------

PARTICLE_CASES = [
    ("nuclei-16bit", "Default", True),
    ("nuclei-16bit", "Huang", True),
    ("coins-8bit", "Otsu", False),
    ("moon-8bit", "Li", False),
    ("camera-8bit", "MaxEntropy", False),
    ("nuclei3d-z10-16bit", "Otsu", True),
    ("nuclei-float", "Triangle", True),
]


def _noise_image(seed, shape, fraction):
    rng = np.random.default_rng(seed)
    return ((rng.random(shape) < fraction) * 200).astype(np.uint8)


@pytest.mark.parametrize("name, method, dark", PARTICLE_CASES)
def test_particles_equal_imagej_particle_analyzer(imagej, name, method, dark):
    image = IMAGES[name]
    mismatches = []
    for include_holes in (True, False):
        for exclude_edges in (False, True):
            for min_size, max_size in ((0, np.inf), (20, 400)):
                theirs = imagej.particles(
                    image, method, dark, include_holes=include_holes, exclude_edges=exclude_edges,
                    min_size=min_size, max_size=max_size,
                )
                labels = bootstrap_labels(
                    image, method, dark_background=dark, fill_holes=include_holes, exclude_edges=exclude_edges,
                    min_area=min_size, max_area=None if np.isinf(max_size) else max_size,
                )
                assert labels.dtype == np.int32
                ours = particles_of(labels)
                if ours != theirs:
                    mismatches.append(
                        f"holes={include_holes} edges={exclude_edges} size={min_size}-{max_size}: "
                        f"{len(ours)} vs ImageJ {len(theirs)} particles"
                    )
                elif min_size == 0 and not exclude_edges:
                    assert len(theirs) > 5  # a real test, not an empty image
    assert not mismatches, "\n".join(mismatches)


@pytest.mark.parametrize("seed, fraction", [(1, 0.45), (2, 0.55), (3, 0.6)])
def test_particles_of_noise_equal_imagej(imagej, seed, fraction):
    # random pixels: nested holes, diagonal contacts and particles inside holes
    image = _noise_image(seed, (90, 110), fraction)
    for include_holes in (True, False):
        for exclude_edges in (False, True):
            theirs = imagej.particles(image, "Default", True, include_holes=include_holes, exclude_edges=exclude_edges)
            labels = bootstrap_labels(image, "Default", fill_holes=include_holes, exclude_edges=exclude_edges)
            assert particles_of(labels) == theirs, (include_holes, exclude_edges)


def _two_touching_discs():
    yy, xx = np.mgrid[:60, :100]
    discs = ((yy - 30) ** 2 + (xx - 30) ** 2 <= 20**2) | ((yy - 30) ** 2 + (xx - 62) ** 2 <= 18**2)
    return np.where(discs, 200, 10).astype(np.uint8)


def test_split_touching_separates_two_discs():
    image = _two_touching_discs()
    assert bootstrap_labels(image, "Otsu").max() == 1
    labels = bootstrap_labels(image, "Otsu", split_touching=True)
    assert labels.max() == 2
    areas = np.bincount(labels.ravel())[1:]
    assert areas.sum() == np.count_nonzero(image == 200)  # the pieces keep every pixel
    assert abs(areas[0] - np.pi * 20**2) < 0.15 * np.pi * 20**2
    assert labels[30, 30] == 1 and labels[30, 62] == 2


@pytest.mark.parametrize("name, method, dark", [("nuclei-16bit", "Otsu", True), ("coins-8bit", "Otsu", False)])
def test_split_touching_counts_close_to_imagej_watershed(imagej, name, method, dark):
    image = IMAGES[name]
    mask = ndimage.binary_fill_holes(threshold_mask(image, method, dark, imagej=GENERATION))
    expected = imagej.watershed_count(mask)
    got = bootstrap_labels(image, method, dark_background=dark, split_touching=True).max()
    assert abs(got - expected) <= max(2, 0.03 * expected), (got, expected)
    assert got > bootstrap_labels(image, method, dark_background=dark).max()


def test_stack_labels_are_per_plane_and_numbered_plane_after_plane():
    stack = _nuclei_3d()[8:14]
    labels = bootstrap_labels(stack, "Otsu", min_area=3)
    assert labels.shape == stack.shape and labels.dtype == np.int32
    offset = 0
    for index, plane in enumerate(stack):
        expected = bootstrap_labels(plane, "Otsu", min_area=3)
        np.testing.assert_array_equal(labels[index], np.where(expected > 0, expected + offset, 0))
        offset += int(expected.max())
    assert offset == labels.max() > 0


def test_bad_arguments():
    image = IMAGES["coins-8bit"]
    with pytest.raises(ValueError, match="smaller than min_area"):
        bootstrap_labels(image, "Otsu", min_area=50, max_area=10)
    with pytest.raises(ValueError, match="unknown threshold method"):
        bootstrap_labels(image, "Otsuu")


# --------------------------------------------------------------------------
# ROI sets on disk
# --------------------------------------------------------------------------


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_rois_file_opens_in_imagej_with_particle_analyzer_areas(imagej, tmp_path):
    image = IMAGES["nuclei-16bit"]
    source = tmp_path / "nuclei.tif"
    tifffile.imwrite(source, image, imagej=True)
    before = _digest(source)
    result = bootstrap_rois_file(source, tmp_path / "rois", method="otsu", min_area=10, exclude_edges=True)
    assert _digest(source) == before
    assert result["output"] == tmp_path / "rois" / "nuclei.zip"
    assert result["method"] == "Otsu"
    assert result["thresholds"] == [auto_threshold(image, "Otsu", imagej=GENERATION)]
    rois = imagej.decode_zip(result["output"])
    theirs = imagej.particles(image, "Otsu", True, include_holes=True, exclude_edges=True, min_size=10)
    assert len(rois) == result["n_rois"] == len(theirs) > 50
    assert sorted(imagej.roi_area(roi) for roi in rois) == sorted(area for _, _, area in theirs)


def test_rois_file_of_a_zstack_puts_each_roi_on_its_slice(imagej, tmp_path):
    stack = _nuclei_3d()[10:16]
    source = tmp_path / "stack.tif"
    tifffile.imwrite(source, stack, imagej=True, metadata={"axes": "ZYX"})
    result = bootstrap_rois_file(source, tmp_path, method="Huang", min_area=5)
    rois = imagej.decode_zip(result["output"])
    positions = np.bincount([int(roi.getPosition()) for roi in rois], minlength=stack.shape[0] + 1)
    assert positions[0] == 0
    assert positions[1:].tolist() == result["objects_per_plane"]
    assert len(result["thresholds"]) == stack.shape[0]
    assert result["thresholds"][2] == auto_threshold(stack[2], "Huang", imagej=GENERATION)


def test_rois_file_of_a_multichannel_image_needs_a_channel(imagej, tmp_path):
    stack = _nuclei_3d()
    image = np.stack([stack[:4], stack[4:8]], axis=1)  # ZCYX
    source = tmp_path / "two-channels.tif"
    tifffile.imwrite(source, image, imagej=True, metadata={"axes": "ZCYX"})
    out = tmp_path / "out"
    with pytest.raises(BootstrapError, match=r"two-channels.tif: has 2 channels; choose one with --channel N.*1..2"):
        bootstrap_rois_file(source, out)
    with pytest.raises(BootstrapError, match="channel 3 does not exist"):
        bootstrap_rois_file(source, out, channel=3)
    assert not out.exists()
    result = bootstrap_rois_file(source, out, channel=2)
    rois = imagej.decode_zip(result["output"])
    assert len(rois) == result["n_rois"] > 0
    assert {int(roi.getCPosition()) for roi in rois} == {2}
    assert sorted({int(roi.getZPosition()) for roi in rois}) == [1, 2, 3, 4]
    expected = bootstrap_labels(image[:, 1], "Default")
    assert result["n_rois"] == sum(len(np.unique(p[p > 0])) for p in expected)


def test_rois_file_errors_name_the_file_and_write_nothing(tmp_path):
    out = tmp_path / "out"
    rgb = tmp_path / "colour.tif"
    tifffile.imwrite(rgb, np.zeros((20, 30, 3), np.uint8), photometric="rgb")
    with pytest.raises(BootstrapError, match=r"colour.tif: is an RGB image.*Fiji"):
        bootstrap_rois_file(rgb, out)
    corrupt = tmp_path / "broken.tif"
    corrupt.write_bytes(b"II*\x00" + b"\x00" * 40)
    with pytest.raises(BootstrapError, match=r"broken.tif: not a readable TIFF"):
        bootstrap_rois_file(corrupt, out)
    truncated = tmp_path / "truncated.tif"
    tifffile.imwrite(truncated, IMAGES["coins-8bit"])
    truncated.write_bytes(truncated.read_bytes()[:5000])
    with pytest.raises(BootstrapError, match=r"truncated.tif"):
        bootstrap_rois_file(truncated, out)
    with pytest.raises(BootstrapError, match=r"missing.tif: no such file"):
        bootstrap_rois_file(tmp_path / "missing.tif", out)
    assert not out.exists()


def test_rois_file_keeps_an_existing_set_unless_told(tmp_path):
    source = tmp_path / "coins.tif"
    tifffile.imwrite(source, IMAGES["coins-8bit"])
    first = bootstrap_rois_file(source, tmp_path, method="Otsu", dark_background=False)
    before = _digest(first["output"])
    with pytest.raises(BootstrapError, match="overwrite=True"):
        bootstrap_rois_file(source, tmp_path, method="Huang", dark_background=False)
    assert _digest(first["output"]) == before
    again = bootstrap_rois_file(source, tmp_path, method="Huang", dark_background=False, overwrite=True)
    assert again["output"] == first["output"] and again["method"] == "Huang"


def test_rois_file_without_particles_writes_nothing(tmp_path):
    source = tmp_path / "flat.tif"
    tifffile.imwrite(source, IMAGES["two-values-8bit"])
    result = bootstrap_rois_file(source, tmp_path / "out", method="Otsu", exclude_edges=True)
    assert result["n_rois"] == 0 and result["output"] is None
    assert not (tmp_path / "out").exists()
