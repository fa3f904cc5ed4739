"""Automatic nucleus labels from a fluorescence channel (the protocol of Salomon-Sörensen 2023)."""

from __future__ import annotations

import hashlib
import warnings

import numpy as np
import pytest

from pyfiji_dl.annotation.autolabel import (
    adaptive_otsu_threshold,
    autolabel_image,
    select_label_images,
)
from pyfiji_dl.annotation.object_cleanup import filter_diameter
from pyfiji_dl.workflows.autolabel import QC_COLUMNS, autolabel_folder

LOWEST = "lowest 25 % of foreground pixels"
TOO_MUCH = "more foreground than background"
NONE = "no objects"


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def discs(shape, centres, radii, *, value=200, background=20, noise=5.0, seed=0):
    """8-bit image of bright discs on a dark, noisy background."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    image = np.full(shape, float(background))
    for (cy, cx), r in zip(centres, radii):
        image[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = value
    rng = np.random.default_rng(seed)
    return np.clip(image + rng.normal(0, noise, shape), 0, 255).astype(np.uint8)


def cellprofiler_adaptive_reference(image01, window, lower, upper):
    """CellProfiler's adaptive Otsu written out plainly (block loop + skimage Otsu + spline).

    Follows ``cellprofiler_library.functions.image_processing.get_adaptive_threshold``:
    blocks of ``size / (size // window)`` px, zero pixels left out of each block,
    cubic spline from the block centres, clipped to [max(lower, 0.7 G), min(upper, 1.5 G)].
    """
    from scipy.interpolate import RectBivariateSpline
    from skimage.filters import threshold_otsu

    size = np.array(image01.shape)
    n = size // window
    inc = size / n
    blocks = np.zeros(n)
    for i in range(n[0]):
        for j in range(n[1]):
            block = image01[int(i * inc[0]): int((i + 1) * inc[0]), int(j * inc[1]): int((j + 1) * inc[1])]
            block = block[block != 0]
            if block.size == 0:
                blocks[i, j] = 0.0
            elif np.all(block == block[0]):
                blocks[i, j] = block[0]
            else:
                blocks[i, j] = threshold_otsu(block)
    k = min(3, n.min() - 1)
    ys = np.linspace(int(inc[0] / 2), int((n[0] - 0.5) * inc[0]), n[0])
    xs = np.linspace(int(inc[1] / 2), int((n[1] - 0.5) * inc[1]), n[1])
    spline = RectBivariateSpline(ys, xs, blocks, bbox=(0.5, size[0] - 0.5, 0.5, size[1] - 0.5), kx=k, ky=k)
    out = spline(np.linspace(0.5, int(n[0] * inc[0]) - 0.5, size[0]), np.linspace(0.5, int(n[1] * inc[1]) - 0.5, size[1]))
    g = min(max(threshold_otsu(image01), lower), upper)
    return np.clip(out, max(lower, 0.7 * g), min(upper, 1.5 * g)), g


@pytest.fixture(scope="module")
def nuclei():
    from stardist.data import test_image_nuclei_2d

    image, truth = test_image_nuclei_2d(return_mask=True)
    return image, truth


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------
# adaptive Otsu
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("shape,window", [((512, 512), 20), ((300, 457), 20), ((97, 130), 31)])
def test_adaptive_otsu_equals_cellprofiler_block_loop(shape, window):
    rng = np.random.default_rng(3)
    image = rng.gamma(2.0, 1.0, shape)
    image[rng.random(shape) < 0.01] = 0  # some exact zeros, left out of the blocks
    image /= image.max()
    result = adaptive_otsu_threshold(image, window, 0.05, 1.0)
    expected, g = cellprofiler_adaptive_reference(result.image01, window, 0.05, 1.0)
    assert result.global_threshold == g
    np.testing.assert_array_equal(result.threshold, expected)
    assert result.n_blocks == tuple(int(s) // window for s in shape)


def test_adaptive_otsu_on_real_image_equals_cellprofiler_block_loop(nuclei):
    image, _ = nuclei
    result = adaptive_otsu_threshold(image, 20, 0.05, 1.0)
    # uint16 holding 0..235: mapped by its own range, not by 65535
    assert result.intensity_range == (float(image.min()), float(image.max()))
    expected, g = cellprofiler_adaptive_reference(result.image01, 20, 0.05, 1.0)
    np.testing.assert_array_equal(result.threshold, expected)
    assert result.global_threshold == g


def test_adaptive_otsu_bounds_and_scaling():
    rng = np.random.default_rng(0)
    dark = rng.normal(3, 1, (100, 100)).clip(0, 255).astype(np.uint8)  # 8-bit noise near 0
    result = adaptive_otsu_threshold(dark, 20, 0.05, 1.0)
    assert result.intensity_range == (0.0, 255.0)  # 8-bit: divided by 255, as CellProfiler
    assert result.threshold.min() >= 0.05  # the lower bound keeps noise below threshold
    assert result.global_threshold == 0.05
    high = adaptive_otsu_threshold(rng.random((80, 80)), 20, 0.0, 0.2)
    assert high.threshold.max() <= 0.2 and high.global_threshold <= 0.2
    ranged = adaptive_otsu_threshold(np.full((60, 60), 7, np.uint16), 20, intensity_range=(0, 70))
    np.testing.assert_allclose(ranged.image01, 0.1)
    with pytest.raises(ValueError, match="too large"):
        adaptive_otsu_threshold(rng.random((39, 200)), 20)
    with pytest.raises(ValueError, match="2D"):
        adaptive_otsu_threshold(rng.random((2, 50, 50)), 20)


# ---------------------------------------------------------------------------
# one image
# ---------------------------------------------------------------------------


def test_real_nuclei_image_against_ground_truth(nuclei):
    """DSB2018 nuclei with ground truth: object-level precision/recall of the auto labels."""
    from pyfiji_dl.qc.matching import any_overlap_metrics, match_instances, pixel_metrics

    image, truth = nuclei
    original = image.copy()
    results = {}
    settings = {
        # the thesis settings exactly (diameter 5-30 px, no splitting)
        "thesis settings": {},
        # this image's nuclei reach 31 px (GT equivalent diameter) and touch: widen the
        # range and split touching nuclei
        "max_diameter=40, split_touching": {"max_diameter": 40, "split_touching": True},
    }
    for name, options in settings.items():
        labels, info = autolabel_image(image, **options)
        assert labels.dtype == np.int32 and labels.shape == image.shape
        ids = np.unique(labels)
        np.testing.assert_array_equal(ids, np.arange(labels.max() + 1))  # 0..N, no gaps
        assert info["n_objects"] == labels.max()
        assert info["clahe"] == "fiji"
        iou = match_instances(truth, labels, thresholds=0.5)[0]
        anyo = any_overlap_metrics(truth, labels)
        pix = pixel_metrics(truth, labels)
        results[name] = (iou, anyo)
        print(f"\n{name}: {info['n_objects']} objects (GT {iou['n_true']}); "
              f"IoU>=0.5 precision {iou['precision']:.3f} recall {iou['recall']:.3f} f1 {iou['f1']:.3f}; "
              f"any-overlap precision {anyo['any_overlap_precision']:.3f} recall {anyo['any_overlap_recall']:.3f}; "
              f"pixel precision {pix['pixel_precision']:.3f} recall {pix['pixel_recall']:.3f} dice {pix['pixel_dice']:.3f}")
    np.testing.assert_array_equal(image, original)  # input not modified

    # measured (CellProfiler-style pipeline, Fiji CLAHE): thesis settings P 0.906 R 0.464 (IoU 0.5),
    # any-overlap P 0.969 R 0.512 -- clumps and nuclei > 30 px are discarded;
    # widened + split: P 0.873 R 0.824, any-overlap P 0.975 R 0.950. Margin 0.03.
    iou, anyo = results["thesis settings"]
    assert iou["precision"] >= 0.87 and iou["recall"] >= 0.43
    assert anyo["any_overlap_precision"] >= 0.94
    iou, anyo = results["max_diameter=40, split_touching"]
    assert iou["precision"] >= 0.84 and iou["recall"] >= 0.79
    assert anyo["any_overlap_precision"] >= 0.94 and anyo["any_overlap_recall"] >= 0.92


def test_diameter_filter_discards_too_small_and_too_large():
    # radius 1 (diameter ~2), 5 and 10 (kept), 22 (diameter 44 > 30)
    centres = [(50, 50), (50, 150), (150, 50), (150, 150)]
    image = discs((200, 200), centres, [1.0, 5, 10, 22])
    labels, info = autolabel_image(image)
    kept = [labels[c] for c in centres]
    assert kept[0] == 0 and kept[3] == 0
    assert kept[1] > 0 and kept[2] > 0 and kept[1] != kept[2]
    assert info["n_objects"] == 2 and info["n_removed_large"] >= 1 and info["n_removed_small"] >= 1
    # without the upper limit the big disc stays
    labels, _ = autolabel_image(image, max_diameter=50)
    assert labels[150, 150] > 0


def test_diameter_rule_is_equivalent_diameter_inclusive():
    # equivalent diameter sqrt(4 A / pi) in [5, 30] <=> area in [19.63, 706.86]
    sizes = [19, 20, 706, 707]
    labels = np.zeros((10, 2000), np.int32)
    start = 0
    for k, area in enumerate(sizes, start=1):
        labels.ravel()[start: start + area] = k
        start += area + 50
    kept = filter_diameter(labels, 5, 30)
    assert set(np.unique(labels[kept.labels > 0])) == {2, 3}
    assert set(np.unique(kept.labels)) == {0, 1, 2}
    assert (kept.n_small, kept.n_large) == (1, 1)


def test_split_touching_separates_two_touching_discs():
    image = discs((120, 160), [(60, 60), (60, 82)], [12, 12])
    merged, info = autolabel_image(image, max_diameter=60)
    assert info["n_objects"] == 1
    split, info = autolabel_image(image, max_diameter=60, split_touching=True)
    assert info["n_objects"] == 2 and info["n_split"] == 1
    assert split[60, 55] != split[60, 87] and split[60, 55] > 0 and split[60, 87] > 0
    areas = np.bincount(split.ravel())[1:]
    assert abs(int(areas[0]) - int(areas[1])) < 0.1 * areas.mean()
    # the split stays inside the merged object
    np.testing.assert_array_equal(split > 0, merged > 0)


@pytest.mark.parametrize("a,b", [(16, 9), (20, 8), (14, 11)])
def test_split_touching_keeps_a_single_elongated_nucleus(a, b):
    yy, xx = np.mgrid[:120, :160]
    inside = ((yy - 60) / b) ** 2 + ((xx - 80) / a) ** 2 <= 1
    rng = np.random.default_rng(1)
    image = np.clip(np.where(inside, 200, 20) + rng.normal(0, 8, inside.shape), 0, 255).astype(np.uint8)
    _, info = autolabel_image(image, max_diameter=60, split_touching=True)
    assert info["n_objects"] == 1


def test_exclude_border_and_bad_options():
    image = discs((120, 120), [(60, 60), (5, 60)], [8, 8])
    labels, info = autolabel_image(image)
    assert info["n_objects"] == 2 and info["n_removed_border"] == 0
    labels, info = autolabel_image(image, exclude_border=True)
    assert info["n_objects"] == 1 and info["n_removed_border"] == 1 and labels[60, 60] == 1
    with pytest.raises(ValueError, match="diameter"):
        autolabel_image(image, min_diameter=40, max_diameter=30)
    with pytest.raises(ValueError, match="RGB"):
        autolabel_image(np.zeros((50, 50, 3), np.uint8))
    with pytest.raises(ValueError, match="split_touching"):
        autolabel_image(image, split_touching="watershed")


# ---------------------------------------------------------------------------
# dataset QC
# ---------------------------------------------------------------------------


def verdicts(fractions, **kwargs):
    return [r["reason"] or "kept" for r in select_label_images(fractions, **kwargs)]


def test_select_label_images_rules():
    fractions = [0.0, 0.10, 0.20, 0.30, 0.60, 0.12, 0.15, 0.18]  # n = 8 -> 2 lowest
    assert verdicts(fractions) == [NONE, LOWEST, "kept", "kept", TOO_MUCH, "kept", "kept", "kept"]
    # exactly half foreground is not "more foreground than background"
    assert verdicts([0.5, 0.51, 0.2, 0.3]) == ["kept", TOO_MUCH, LOWEST, "kept"]
    # fewer than 4 images: nobody is in the lowest quarter
    assert verdicts([0.1, 0.2, 0.3]) == ["kept"] * 3
    assert verdicts([0.1, 0.2, 0.3], lowest_fraction=0.0) == ["kept"] * 3
    assert verdicts([]) == []
    rows = select_label_images([0.3, 0.1, 0.2, 0.4])
    assert [r["kept"] for r in rows] == [True, False, True, True]
    assert [r["rank"] for r in rows] == [3, 1, 2, 4]
    half = "lowest 50 % of foreground pixels"
    assert verdicts([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.45], lowest_fraction=0.5) == (
        [half] * 4 + ["kept"] + [TOO_MUCH] * 4 + [half])
    for bad in ([0.1, float("nan")], [1.5], [-0.1]):
        with pytest.raises(ValueError):
            select_label_images(bad)


def test_select_label_images_ties_are_deterministic_and_fair():
    # n = 8 -> at most 2 dropped; the 2nd and 3rd smallest tie at the cut-off: both kept
    fractions = [0.1, 0.2, 0.2, 0.3, 0.3, 0.3, 0.4, 0.4]
    assert verdicts(fractions) == [LOWEST] + ["kept"] * 7
    # order does not matter
    rng = np.random.default_rng(0)
    for _ in range(5):
        order = rng.permutation(len(fractions))
        shuffled = [fractions[i] for i in order]
        got = verdicts(shuffled)
        assert [got[list(order).index(i)] for i in range(len(fractions))] == verdicts(fractions)
    # all equal: nobody is lower than anybody
    assert verdicts([0.2] * 8) == ["kept"] * 8
    # empty images count as the lowest and keep their own reason
    assert verdicts([0.0, 0.0, 0.0, 0.2, 0.3, 0.4, 0.5, 0.45]) == [NONE] * 3 + ["kept"] * 5


# ---------------------------------------------------------------------------
# folders
# ---------------------------------------------------------------------------


@pytest.fixture
def fluorescence_folder(tmp_path, nuclei):
    import tifffile

    from pyfiji_dl.io.tiff import Calibration, write_imagej_tiff

    image, _ = nuclei
    folder = tmp_path / "fluorescence"
    folder.mkdir()
    cal = Calibration(pixel_width=0.65, pixel_height=0.65, unit="micron")
    crops = {  # 6 real crops with different amounts of nuclei
        "crop_a.tif": image[:256, :256], "crop_b.tif": image[:256, 256:], "crop_c.tif": image[256:, :256],
        "crop_d.tif": image[256:, 256:], "crop_e.tif": image[128:384, 128:384], "crop_f.tif": image[:256, 128:384],
    }
    for name, crop in crops.items():
        write_imagej_tiff(folder / name, np.ascontiguousarray(crop), "YX", calibration=cal)
    pitch = 24  # 121 discs of diameter 20 covering ~65 % of the image
    centres = [(y, x) for y in range(pitch // 2, 256, pitch) for x in range(pitch // 2, 256, pitch)]
    write_imagej_tiff(folder / "dense.tif", discs((256, 256), centres, [10] * len(centres)), "YX")
    write_imagej_tiff(folder / "blank.tif", np.full((128, 128), 100, np.uint16), "YX")
    (folder / "corrupt.tif").write_bytes(b"II*\x00" + bytes(range(256)) * 4)
    tifffile.imwrite(folder / "rgb.tif", np.zeros((64, 64, 3), np.uint8), photometric="rgb")
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_autolabel_folder(tmp_path, fluorescence_folder):
    from PIL import Image

    from pyfiji_dl.io.tables import read_csv
    from pyfiji_dl.io.tiff import read_image

    before = {p.name: sha256(p) for p in fluorescence_folder.iterdir()}
    masks = tmp_path / "masks"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no stray warnings
        result = autolabel_folder(fluorescence_folder, masks, progress=False)
    print("\n" + "\n".join(result.summary_lines()))

    # inputs untouched, nothing added to the input folder
    assert {p.name: sha256(p) for p in fluorescence_folder.iterdir()} == before

    assert result.status == 1
    failed = {p.name: message for p, message in result.failed}
    assert set(failed) == {"corrupt.tif", "rgb.tif"}
    assert "corrupt.tif" in failed["corrupt.tif"] and "RGB" in failed["rgb.tif"]

    excluded = {p.name: reason for p, reason in result.excluded}
    # 8 labelled images -> 2 in the lowest quarter: the blank one (no objects) and the crop
    # with the least foreground; the dense grid has more foreground than background
    assert excluded["blank.tif"] == NONE
    assert excluded["dense.tif"] == TOO_MUCH
    assert list(excluded.values()).count(LOWEST) == 1
    assert len(excluded) == 3
    kept_names = sorted(p.name for p in result.kept)
    assert len(kept_names) == 5 and all(n.startswith("crop_") for n in kept_names)

    # kept maps: same names in masks/, 16-bit, calibrated; excluded maps only in the report
    assert sorted(p.name for p in masks.iterdir()) == kept_names
    report = tmp_path / "autolabel_report"
    assert result.report_dir == report
    assert sorted(p.name for p in (report / "excluded").iterdir()) == sorted(excluded)
    labels, info = read_image(masks / kept_names[0])
    assert labels.dtype == np.uint16 and info.axes == "YX" and labels.max() > 5
    assert info.calibration.unit == "micron" and abs(info.calibration.pixel_width - 0.65) < 1e-6
    assert not (report / ".staging").exists()

    rows = read_csv(report / "labels_qc.csv")
    assert list(rows[0]) == list(QC_COLUMNS)
    by_file = {row["file"]: row for row in rows}
    assert set(by_file) == set(before) - {"notes.txt"}
    assert by_file["dense.tif"]["kept"] == "no" and float(by_file["dense.tif"]["foreground_fraction"]) > 0.5
    assert by_file["blank.tif"]["n_objects"] == "0"
    assert by_file["corrupt.tif"]["reason"] == "unreadable" and by_file["corrupt.tif"]["error"]
    for name in kept_names:
        assert by_file[name]["kept"] == "yes" and by_file[name]["reason"] == ""
        assert int(by_file[name]["n_objects"]) > 5
        assert 0.05 <= float(by_file[name]["global_threshold"]) <= 1.0

    sheet = Image.open(report / "contact_sheet.png").convert("RGB")
    pixels = np.asarray(sheet).reshape(-1, 3)
    assert ((pixels == (0, 170, 0)).all(axis=1)).sum() > 100  # green frames
    assert ((pixels == (220, 0, 0)).all(axis=1)).sum() > 100  # red frames
    assert ((pixels == (255, 215, 0)).all(axis=1)).sum() > 100  # yellow outlines
    assert result.contact_sheets == [report / "contact_sheet.png"]
    index = (report / "index.html").read_text()
    assert 'href="labels_qc.csv"' in index and 'src="contact_sheet.png"' in index
    assert "corrupt.tif" in index

    # a second run does not silently replace masks ...
    with pytest.raises(FileExistsError):
        autolabel_folder(fluorescence_folder, masks, progress=False)
    # ... unless asked; a map that is now excluded leaves masks/ (stale maps cannot be trained on)
    stricter = autolabel_folder(fluorescence_folder, masks, progress=False, overwrite=True, report=False,
                                lowest_fraction=0.5)
    now_excluded = {p.name for p, _ in stricter.excluded}
    assert len(now_excluded) == 5  # 4 lowest of 8 (blank among them) + the dense grid
    assert sorted(p.name for p in masks.iterdir()) == sorted(p.name for p in stricter.kept)
    assert sorted(p.name for p in (report / "excluded").iterdir()) == sorted(now_excluded)
    assert {p.name: sha256(p) for p in fluorescence_folder.iterdir()} == before


def test_autolabel_folder_channels_and_errors(tmp_path, nuclei):
    from pyfiji_dl.io.tiff import read_image, write_imagej_tiff

    image, _ = nuclei
    folder = tmp_path / "in"
    folder.mkdir()
    two = np.stack([np.zeros_like(image[:200, :200]), image[:200, :200]])  # C = 2, nuclei in channel 2
    write_imagej_tiff(folder / "two.tif", two, "CYX")
    result = autolabel_folder(folder, tmp_path / "masks", progress=False, report=False)
    assert result.status == 1 and "channel" in result.failed[0][1] and "two.tif" in result.failed[0][1]
    assert (tmp_path / "autolabel_report" / "labels_qc.csv").exists()
    assert not (tmp_path / "autolabel_report" / "contact_sheet.png").exists()

    result = autolabel_folder(folder, tmp_path / "masks2", progress=False, channel=2, report=False,
                              overwrite=True, max_diameter=40)
    assert result.status == 0 and [p.name for p in result.kept] == ["two.tif"]
    labels, info = read_image(tmp_path / "masks2" / "two.tif")
    assert info.axes == "YX" and labels.max() > 10

    with pytest.raises(ValueError, match="fluorescence folder"):
        autolabel_folder(folder, folder, progress=False)
    with pytest.raises(ValueError, match="unknown autolabel option"):
        autolabel_folder(folder, tmp_path / "m3", progress=False, windw=20)
    with pytest.raises(ValueError, match="diameter"):
        autolabel_folder(folder, tmp_path / "m3", progress=False, min_diameter=0)
    with pytest.raises(FileNotFoundError):
        autolabel_folder(tmp_path / "missing", tmp_path / "m3", progress=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="no .tif"):
        autolabel_folder(empty, tmp_path / "m3", progress=False)


@pytest.fixture
def odd_folder(tmp_path):
    """One labellable image beside images a user could drop in by mistake."""
    import tifffile

    from pyfiji_dl.io.tiff import write_imagej_tiff

    folder = tmp_path / "odd"
    folder.mkdir()
    centres = [(y, x) for y in range(16, 128, 32) for x in range(16, 128, 32)]
    write_imagej_tiff(folder / "good.tif", discs((128, 128), centres, [8] * len(centres)), "YX")
    tifffile.imwrite(folder / "bilevel.tif", discs((64, 64), [(32, 32)], [8]) > 100)  # 1-bit
    write_imagej_tiff(folder / "tiny.tif", np.zeros((30, 30), np.uint8), "YX")  # smaller than two windows
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*writing zero-size array")  # tifffile writes it all the same
        tifffile.imwrite(folder / "empty.tif", np.zeros((0, 0), np.uint16))
    return folder


def test_autolabel_folder_turns_bad_images_into_rows_naming_them(tmp_path, odd_folder):
    from pyfiji_dl.io.tables import read_csv

    result = autolabel_folder(odd_folder, tmp_path / "masks", progress=False, report=False)
    assert result.status == 1
    assert [p.name for p in result.kept] == ["good.tif"]
    failed = {p.name: message for p, message in result.failed}
    assert set(failed) == {"bilevel.tif", "tiny.tif", "empty.tif"}
    for name, message in failed.items():
        assert message.startswith(f"{name}: "), message
    assert "1-bit" in failed["bilevel.tif"] and "Image > Type" in failed["bilevel.tif"]
    assert "window of at most 15 px" in failed["tiny.tif"]
    assert "no pixels" in failed["empty.tif"]
    rows = {row["file"]: row for row in read_csv(tmp_path / "autolabel_report" / "labels_qc.csv")}
    assert {rows[name]["reason"] for name in failed} == {"unsupported image"}
    assert all(rows[name]["error"] == failed[name] for name in failed)


def test_autolabel_folder_raises_our_bugs_and_reports_memory(tmp_path, odd_folder, monkeypatch):
    import pyfiji_dl.workflows.autolabel as workflow

    for name in ("bilevel.tif", "tiny.tif", "empty.tif"):
        (odd_folder / name).unlink()

    def bug(*args, **kwargs):
        raise TypeError("simulated bug")

    monkeypatch.setattr(workflow, "_autolabel", bug)
    with pytest.raises(TypeError, match="simulated bug"):  # a traceback, not a row of the table
        autolabel_folder(odd_folder, tmp_path / "masks", progress=False, report=False)
    assert not (tmp_path / "autolabel_report" / ".staging").exists()

    def out_of_memory(*args, **kwargs):
        raise MemoryError()

    monkeypatch.setattr(workflow, "_autolabel", out_of_memory)
    result = autolabel_folder(odd_folder, tmp_path / "masks", progress=False, report=False)
    [(path, message)] = result.failed
    assert path.name == "good.tif" and result.rows[0]["reason"] == "out of memory"
    assert message.startswith("good.tif: not enough memory to label this 128 x 128 image")
