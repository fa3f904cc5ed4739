"""CARE and Noise2Void with tiny models: training, resume, prediction outputs in real
ImageJ (bit depth, calibration, dimensions), QC report, and bad input."""

import json

import numpy as np
import pytest
import tifffile

from pyfiji_dl.cli import main
from pyfiji_dl.io.tiff import Calibration, write_imagej_tiff

pytestmark = pytest.mark.slow

TINY = ["--epochs", "1", "--steps", "2", "--batch", "4", "--depth", "1", "--filters", "8", "--quiet"]
CAL = Calibration(pixel_width=0.25, pixel_height=0.25, voxel_depth=0.5, unit="micron")


def run_cli(*args):
    return main([str(a) for a in args])


def noisy(clean, seed):
    rng = np.random.default_rng(seed)
    return (rng.poisson(clean / 8.0) * 8.0 + rng.normal(0, 20, clean.shape)).astype(np.float32)


@pytest.fixture(scope="module")
def clean_fields():
    from stardist.data import test_image_nuclei_2d

    image = test_image_nuclei_2d().astype(np.float32)
    return [image[y:y + 128, x:x + 128] for y, x in [(0, 0), (0, 256), (256, 0), (256, 256)]]


@pytest.fixture(scope="module")
def care_data(tmp_path_factory, clean_fields):
    root = tmp_path_factory.mktemp("care")
    for i, clean in enumerate(clean_fields[:3]):
        write_imagej_tiff(root / "low" / f"f{i}.tif", noisy(clean, i), "YX", calibration=CAL)
        write_imagej_tiff(root / "GT" / f"f{i}.tif", clean, "YX", calibration=CAL)
    return root


@pytest.fixture(scope="module")
def care_model(tmp_path_factory, care_data):
    model = tmp_path_factory.mktemp("models") / "care2d"
    assert run_cli("train", "care", "--data", care_data, "--model", model, "--patch", "32",
                   "--patches-per-image", "8", *TINY) == 0
    return model


def test_care_training_leaves_model_qc_maps_and_provenance(care_model):
    card = json.loads((care_model / "pyfiji_dl.json").read_text())
    assert card["family"] == "care" and card["ndim"] == 2 and card["patch"] == [32, 32]
    for name in ("config.json", "weights_best.h5", "training_history.csv", "provenance.json", "qc/index.html",
                 "qc/metrics_per_image.csv"):
        assert (care_model / name).exists(), name
    # three pairs: every one trains, validation is 10 % of their 16 blocks of 32 x 32 each
    validation = card["validation"]
    assert validation["holdout"] == "blocks" and validation["block"] == [32, 32]
    corners = [(name, tuple(c)) for name, cs in validation["blocks"].items() for c in cs]
    assert len(corners) == 5 and set(validation["files"]) <= {"f0.tif", "f1.tif", "f2.tif"}
    metrics = (care_model / "qc" / "metrics_per_image.csv").read_text().splitlines()
    assert len(metrics) == 1 + 5  # the QC scores the validation blocks, cut from whole restored images
    assert {line.split(",")[0] for line in metrics[1:]} == {f"{n[:-4]}-Y{y}-X{x}" for n, (y, x) in corners}
    assert "Scored on 5 of the 5 validation block(s) of 32x32 pixels" in (care_model / "qc" / "index.html").read_text()
    header = metrics[0].split(",")
    assert {"psnr_input_vs_gt", "psnr_prediction_vs_gt", "mssim_prediction_vs_gt", "nrmse_input_vs_gt"} <= set(header)
    maps = sorted(p.name for p in (care_model / "qc" / "maps").iterdir())
    assert any("ssim_prediction_vs_gt" in m for m in maps) and any("rse_input_vs_gt" in m for m in maps)
    assert tifffile.imread(care_model / "qc" / "maps" / maps[0]).dtype == np.float32


def test_care_predict_time_lapse_is_32bit_calibrated_and_opens_in_imagej(care_model, clean_fields, tmp_path, ij):
    movie = np.stack([noisy(f, 10 + i) for i, f in enumerate(clean_fields[:3])]).astype(np.uint16)
    write_imagej_tiff(tmp_path / "in" / "movie.tif", movie, "TYX", calibration=CAL)
    assert run_cli("predict", care_model, tmp_path / "in" / "movie.tif", "-o", tmp_path / "out", "--quiet") == 0
    restored = tmp_path / "out" / "restored" / "movie.tif"
    imp = ij("ij.IJ").openImage(str(restored))
    try:
        assert imp.getBitDepth() == 32
        assert tuple(imp.getDimensions()) == (128, 128, 1, 1, 3)
        assert imp.getCalibration().pixelWidth == pytest.approx(0.25)
        assert str(imp.getCalibration().getUnit()) in ("micron", "\u00b5m")
    finally:
        imp.close()
    data = tifffile.imread(restored)
    assert data.shape == movie.shape and np.isfinite(data).all() and data.std() > 0


def test_care_3d_and_resume(tmp_path):
    rng = np.random.default_rng(0)
    zz, yy, xx = np.mgrid[:16, :48, :48]
    data = tmp_path / "care3d"
    for i in range(2):
        clean = 200.0 * (((zz - 8) / 6.0) ** 2 + ((yy - 20 - 4 * i) / 10.0) ** 2 + ((xx - 24) / 10.0) ** 2 < 1)
        write_imagej_tiff(data / "low" / f"v{i}.tif", (clean + rng.normal(0, 40, clean.shape)).astype(np.float32),
                          "ZYX", calibration=CAL)
        write_imagej_tiff(data / "GT" / f"v{i}.tif", clean.astype(np.float32), "ZYX", calibration=CAL)
    model = tmp_path / "m3d"
    options = ["--patch", "8,32,32", "--patches-per-image", "4", "--steps", "1", "--batch", "2",
               "--depth", "1", "--filters", "4", "--quiet"]
    assert run_cli("train", "care", "--data", data, "--model", model, "--epochs", "2", "--max-minutes", "0",
                   *options) == 0  # stops after the first epoch: a time limit of zero
    state = json.loads((model / "training_state.json").read_text())
    assert (state["epochs_done"], state["finished"]) == (1, False)
    assert run_cli("train", "care", "--data", data, "--model", model, "--resume", *options) == 0
    assert json.loads((model / "training_state.json").read_text())["finished"]
    assert [line.split(",")[0] for line in (model / "training_history.csv").read_text().splitlines()[1:]] == ["1", "2"]
    assert run_cli("predict", model, data / "low" / "v0.tif", "-o", tmp_path / "out", "--quiet") == 0
    assert tifffile.imread(tmp_path / "out" / "restored" / "v0.tif").shape == (16, 48, 48)


def test_n2v_2d_single_image_with_gt_for_qc_and_fine_tune(tmp_path, clean_fields, capsys):
    data = tmp_path / "n2v"
    write_imagej_tiff(data / "images" / "noisy.tif", noisy(clean_fields[0], 5), "YX", calibration=CAL)
    write_imagej_tiff(data / "GT" / "noisy.tif", clean_fields[0], "YX", calibration=CAL)
    model = tmp_path / "n2v_model"
    assert run_cli("train", "n2v", "--data", data, "--model", model, "--patch", "32", *TINY) == 0
    card = json.loads((model / "pyfiji_dl.json").read_text())
    assert card["family"] == "n2v" and card["patch"] == [32, 32]
    assert card["validation"]["holdout"] == "blocks"  # one image: it trains, 10 % of its area validates
    # its few validation blocks are masked in 16 copies, so the loss judges more than a few pixels
    n_blocks = sum(len(corners) for corners in card["validation"]["blocks"].values())
    assert card["validation"]["copies"] == 16
    assert card["validation"]["masked_pixels"] == round(n_blocks * 16 * (32 / 22) ** 2)
    # n2v counts the 8 rotated and flipped copies of each training patch against the blocks
    assert "small number of validation images" not in capsys.readouterr().err
    assert (model / "qc" / "metrics_per_image.csv").exists()  # scored against DATA/GT
    tuned = tmp_path / "tuned"
    # within a budget the plateau patience follows the epochs measured (from the second on) to fit it
    assert run_cli("train", "n2v", "--data", data, "--model", tuned, "--from", model, "--patch", "32", *TINY,
                   "--epochs", "3", "--max-minutes", "30") == 0
    card = json.loads((tuned / "pyfiji_dl.json").read_text())
    assert card["fine_tuned_from"] == str(model.resolve())
    measured = card["training_plan"]["measured_in_budget"]
    assert measured["epochs_fitting"] > 3 and measured["reduce_lr_patience"] >= 3
    assert measured["early_stopping_patience"] >= measured["epochs_fitting"] // 2
    assert run_cli("predict", tuned, data / "images", "-o", tmp_path / "out", "--quiet") == 0
    assert tifffile.imread(tmp_path / "out" / "restored" / "noisy.tif").dtype == np.float32


def test_n2v_3d_time_lapse_frames_are_samples(tmp_path):
    rng = np.random.default_rng(1)
    movie = rng.normal(100, 10, (2, 8, 32, 32)).astype(np.float32)  # T, Z, Y, X
    data = tmp_path / "n2v3d"
    write_imagej_tiff(data / "images" / "movie.tif", movie, "TZYX", calibration=CAL)
    model = tmp_path / "m"
    assert run_cli("train", "n2v", "--data", data, "--model", model, "--patch", "8,16,16", "--epochs", "1",
                   "--steps", "1", "--batch", "2", "--depth", "1", "--filters", "4", "--quiet") == 0
    html = (model / "qc" / "index.html").read_text()
    assert "no ground truth" in html
    assert run_cli("predict", model, data / "images" / "movie.tif", "-o", tmp_path / "out", "--quiet") == 0
    out = tifffile.imread(tmp_path / "out" / "restored" / "movie.tif")
    assert out.shape == movie.shape


def test_care_bad_pairs_are_listed(tmp_path, capsys):
    data = tmp_path / "bad"
    write_imagej_tiff(data / "low" / "a.tif", np.zeros((32, 32), np.float32), "YX")
    write_imagej_tiff(data / "GT" / "a.tif", np.zeros((32, 40), np.float32), "YX")
    write_imagej_tiff(data / "low" / "b.tif", np.zeros((32, 32), np.float32), "YX")
    write_imagej_tiff(data / "GT" / "c.tif", np.zeros((32, 32), np.float32), "YX")
    assert run_cli("train", "care", "--data", data, "--model", tmp_path / "m", *TINY) == 1
    err = capsys.readouterr().err
    assert "low/a.tif" in err and "differ in shape" in err
    assert "low/b.tif has no GT/b.tif" in err and "GT/c.tif has no low/c.tif" in err
    assert not (tmp_path / "m").exists()


def test_evaluate_model_and_predictions_from_any_tool(care_model, care_data, tmp_path):
    assert run_cli("evaluate", care_model, "--data", care_data, "-o", tmp_path / "report") == 0
    rows = (tmp_path / "report" / "metrics_per_image.csv").read_text().splitlines()
    assert len(rows) == 1 + 3  # header + every pair of the folder, no split
    # predictions from another tool: the low-SNR images themselves, scored against GT
    assert run_cli("evaluate", "--pred", care_data / "low", "--gt", care_data / "GT", "-o", tmp_path / "r2") == 0
    header = (tmp_path / "r2" / "metrics_per_image.csv").read_text().splitlines()[0]
    assert "psnr_prediction_vs_gt" in header and "psnr_input_vs_gt" not in header


def test_n2v_patches_shorter_than_its_mask_box_still_hold_masked_pixels():
    from pyfiji_dl.models.n2v import masked_percentage

    # published patch sizes keep ZeroCostDL4Mic's 0.198 % (n2v's box of 22 pixels fits them)
    assert masked_percentage((64, 64), 0.198) == 0.198
    assert masked_percentage((32, 64, 64), 0.198) == 0.198
    # 8 slices: the box shrinks to the shortest axis, so n2v places one pixel in every patch
    share = masked_percentage((8, 16, 16), 0.198)
    assert int(np.round(np.sqrt(100.0 / share))) == 8


def test_n2v_validation_copies_mask_about_a_thousand_pixels():
    from n2v.utils.n2v_utils import manipulate_val_data, pm_uniform_withCP

    from pyfiji_dl.models.n2v import MAX_VALIDATION_COPIES, masked_pixels_per_patch, validation_copies

    # the estimate is what n2v masks: one pixel in each 22 x 22 box, partial boxes pro rata
    np.random.seed(0)
    X = np.random.rand(200, 64, 64, 1).astype(np.float32)
    Y = np.concatenate([X, np.zeros_like(X)], axis=-1)
    manipulate_val_data(X, Y, perc_pix=0.198, shape=(64, 64), value_manipulation=pm_uniform_withCP(5))
    assert Y[..., 1].sum() / 200 == pytest.approx(masked_pixels_per_patch((64, 64), 0.198), rel=0.05)
    # five 64 x 64 blocks hold ~42 masked pixels: 24 copies would reach 1000, at most 16 are made
    assert validation_copies(5, (64, 64), 0.198) == MAX_VALIDATION_COPIES
    assert validation_copies(60, (64, 64), 0.198) == 2  # 508 masked pixels once
    assert validation_copies(200, (64, 64), 0.198) == 1  # enough already (the held-out files of a large set)
    assert validation_copies(10, (16, 64, 64), 0.198) == 16  # 3D: n2v's box is a cube, fewer pixels per patch


def test_qc_report_of_a_run_whose_losses_were_all_nan_says_so(tmp_path):
    from pyfiji_dl.qc.restoration_report import write_restoration_report

    image = np.zeros((16, 16), np.float32)
    history = [{"epoch": 1, "seconds": 1.0, "loss": "nan", "val_loss": "nan"}]
    report = write_restoration_report(tmp_path, title="t", names=["a"], sources=[image], predictions=[image],
                                      targets=[None], history=history)
    html = report.read_text()
    assert "not a finite number" in html and not (tmp_path / "loss_curves.png").exists()
