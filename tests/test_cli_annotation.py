"""``pyfiji-dl bootstrap-rois`` and ``pyfiji-dl autolabel`` as a user runs them."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import roifile

from pyfiji_dl.cli import main
from pyfiji_dl.io.tiff import read_image, write_imagej_tiff


@pytest.fixture(scope="module")
def nuclei():
    from stardist.data import test_image_nuclei_2d

    return test_image_nuclei_2d(return_mask=True)


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_bootstrap_rois_folder_gives_roi_sets_imagej_opens(nuclei, tmp_path, capsys, ij):
    image, _ = nuclei
    images = tmp_path / "images"
    write_imagej_tiff(images / "a.tif", image[:256, :256], "YX")
    write_imagej_tiff(images / "b.tif", image[256:, 256:], "YX")
    before = _digest(images)
    code = main(["bootstrap-rois", str(images), "-o", str(tmp_path / "rois"), "--method", "otsu",
                 "--min-area", "30", "--exclude-edges"])
    out = capsys.readouterr().out
    assert code == 0
    assert "a.tif ->" in out and "Otsu threshold" in out
    assert _digest(images) == before
    for name in ("a", "b"):
        rois = roifile.roiread(tmp_path / "rois" / f"{name}.zip")
        assert len(rois) > 10
        # ImageJ decodes every ROI and finds each at least 30 pixels large
        decoder = ij("ij.io.RoiDecoder")
        import jpype

        for roi in rois[:5]:
            jroi = decoder(jpype.JArray(jpype.JByte)(roi.tobytes()), "r").getRoi()
            assert jroi.getContainedPoints().__len__() >= 30
    # a re-run refuses to replace the sets unless asked
    assert main(["bootstrap-rois", str(images), "-o", str(tmp_path / "rois")]) == 1
    assert "overwrite" in capsys.readouterr().err
    assert main(["bootstrap-rois", str(images), "-o", str(tmp_path / "rois"), "--overwrite"]) == 0


def test_bootstrap_rois_names_a_bad_method_and_a_corrupt_file(nuclei, tmp_path, capsys):
    image, _ = nuclei
    write_imagej_tiff(tmp_path / "in" / "good.tif", image[:128, :128], "YX")
    (tmp_path / "in" / "broken.tif").write_bytes(b"II*\x00garbage")
    assert main(["bootstrap-rois", str(tmp_path / "in" / "good.tif"), "-o", str(tmp_path / "o1"),
                 "--method", "bogus"]) == 1
    err = capsys.readouterr().err
    assert "bogus" in err and "Otsu" in err
    assert main(["bootstrap-rois", str(tmp_path / "in"), "-o", str(tmp_path / "o2")]) == 1
    err = capsys.readouterr().err
    assert "broken.tif" in err
    assert (tmp_path / "o2" / "good.zip").exists() and not (tmp_path / "o2" / "broken.zip").exists()


def test_autolabel_folder_writes_kept_masks_and_the_qc_report(nuclei, tmp_path, capsys):
    image, truth = nuclei
    fluo = tmp_path / "fluorescence"
    for i, (y, x) in enumerate([(0, 0), (0, 256), (256, 0), (256, 256)]):
        write_imagej_tiff(fluo / f"field{i}.tif", image[y:y + 256, x:x + 256], "YX")
    write_imagej_tiff(fluo / "empty.tif", np.full((256, 256), 3, np.uint16), "YX")
    before = _digest(fluo)
    masks = tmp_path / "train" / "masks"
    code = main(["autolabel", "--fluorescence", str(fluo), "-o", str(masks), "--report",
                 "--max-diameter", "40", "--split-touching", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert _digest(fluo) == before
    kept = sorted(p.name for p in masks.glob("*.tif"))
    # the empty image has no objects, and it is also the one of five in the lowest 25 %
    assert kept == ["field0.tif", "field1.tif", "field2.tif", "field3.tif"]
    assert "1 excluded (1 no objects)" in out
    assert "kept" in out and "QC report" in out
    report = tmp_path / "train" / "autolabel_report"
    assert (report / "labels_qc.csv").exists() and (report / "contact_sheet.png").exists()
    labels, info = read_image(masks / kept[0])
    assert labels.dtype == np.uint16 and labels.max() > 10 and info.axes == "YX"
    # a second run does not silently replace the label maps
    assert main(["autolabel", "--fluorescence", str(fluo), "-o", str(masks), "--quiet"]) == 1
    assert "overwrite" in capsys.readouterr().err
