"""StarDist end to end with tiny models: data checks, training, resume, fine-tune,
prediction outputs opened in real ImageJ, and bad input."""

import json
import shutil
import sys

import numpy as np
import pytest
import tifffile

from pyfiji_dl.annotation.convert import labels_to_rois
from pyfiji_dl.cli import main
from pyfiji_dl.io.rois import write_rois
from pyfiji_dl.io.tiff import Calibration, write_imagej_tiff, write_label_image

pytestmark = pytest.mark.slow

TINY = ["--epochs", "2", "--steps", "3", "--patch", "64", "--batch", "2", "--rays", "8",
        "--depth", "1", "--filters", "8"]


def run_cli(*args):
    return main([str(a) for a in args])


@pytest.fixture(scope="module")
def nuclei():
    from stardist.data import test_image_nuclei_2d

    return test_image_nuclei_2d(return_mask=True)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, nuclei):
    """Four 128x128 fields of the real DSB2018 image: two annotated as label maps,
    two as ROI Manager sets (converted on the fly)."""
    image, labels = nuclei
    root = tmp_path_factory.mktemp("data")
    cal = Calibration(pixel_width=0.5, pixel_height=0.5, unit="micron")
    for i, (y, x) in enumerate([(0, 0), (0, 128), (128, 0), (128, 128)]):
        name = f"field{i}"
        write_imagej_tiff(root / "images" / f"{name}.tif", image[y:y + 128, x:x + 128], "YX", calibration=cal)
        crop = labels[y:y + 128, x:x + 128]
        if i % 2:
            write_rois(root / "rois" / f"{name}.zip", labels_to_rois(crop, "YX"))
        else:
            write_label_image(root / "masks" / f"{name}.tif", crop, "YX", calibration=cal)
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir):
    model = tmp_path_factory.mktemp("models") / "tiny"
    assert run_cli("train", "stardist", "--data", data_dir, "--model", model, "--quiet", *TINY) == 0
    return model


def test_training_leaves_model_thresholds_history_qc_and_provenance(trained, data_dir):
    for name in ("config.json", "thresholds.json", "weights_best.h5", "pyfiji_dl.json",
                 "training_history.csv", "provenance.json", "qc/index.html", "qc/matching_pooled.csv"):
        assert (trained / name).exists(), name
    assert not (trained / "checkpoint").exists()  # resume checkpoint removed once finished
    card = json.loads((trained / "pyfiji_dl.json").read_text())
    assert card["family"] == "stardist" and card["ndim"] == 2 and card["n_rays"] == 8
    assert set(card["thresholds"]) == {"prob", "nms"}
    history = (trained / "training_history.csv").read_text().splitlines()
    assert history[0].startswith("epoch,") and len(history) == 3  # header + 2 epochs
    provenance = json.loads((trained / "provenance.json").read_text())
    hashed = {entry["path"] for entry in provenance["data"]}
    assert any(p.endswith("field1.zip") for p in hashed) and any(p.endswith("field0.tif") for p in hashed)
    assert "tensorflow" in provenance["software"] and provenance["thresholds"] == card["thresholds"]
    html = (trained / "qc" / "index.html").read_text()
    assert "IoU" in html and "overlay_" in html


def test_predict_time_lapse_outputs_and_skip_on_rerun(trained, nuclei, tmp_path, ij, capsys):
    image, _ = nuclei
    movie = np.stack([image[:96, :112], image[100:196, 50:162], image[300:396, 300:412]])
    write_imagej_tiff(tmp_path / "in" / "movie.tif", movie, "TYX",
                      calibration=Calibration(pixel_width=0.5, pixel_height=0.5, unit="micron"))
    write_imagej_tiff(tmp_path / "in" / "still.tif", image[:80, :80], "YX")
    before = (tmp_path / "in" / "movie.tif").read_bytes()
    out = tmp_path / "out"
    assert run_cli("predict", trained, tmp_path / "in", "-o", out, "--quiet") == 0
    assert (tmp_path / "in" / "movie.tif").read_bytes() == before  # input untouched

    labels = tifffile.imread(out / "masks" / "movie.tif")
    assert labels.shape == movie.shape and labels.dtype == np.uint16
    with tifffile.TiffFile(out / "masks" / "movie.tif") as tif:
        assert tif.imagej_metadata["frames"] == 3 and tif.imagej_metadata["unit"] == "micron"
    header = (out / "objects" / "movie.csv").read_text().splitlines()[0].split(",")
    for column in ("image", "label", "frame", "area", "centroid_x", "centroid_y", "mean_intensity", "probability"):
        assert column in header, column
    summary = (out / "summary.csv").read_text()
    assert "movie.tif" in summary and "still.tif" in summary

    # ROIs land on their frames in ImageJ: decode each with ImageJ's RoiDecoder
    from pyfiji_dl.fiji.imagej1 import read_roi_set

    rois, _ = read_roi_set(out / "rois" / "movie.zip", use_roi_manager=False)
    counts = [len(np.unique(f)) - 1 for f in labels]
    frames = [int(r.getPosition()) for r in rois]
    assert [frames.count(t) for t in (1, 2, 3)] == counts

    capsys.readouterr()
    assert run_cli("predict", trained, tmp_path / "in", "-o", out, "--quiet") == 0
    assert "skipped 2 finished input(s)" in capsys.readouterr().out


def test_resume_continues_to_the_same_total(data_dir, tmp_path):
    import tensorflow as tf

    from pyfiji_dl.families.stardist import FAMILY, StarDistOptions
    from pyfiji_dl.models.training import TrainingState

    class Interrupt(tf.keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    options = StarDistOptions(epochs=3, steps=2, patch=(64, 64), batch=2, rays=8, depth=1, filters=8)
    model = tmp_path / "m"
    with pytest.raises(KeyboardInterrupt):
        FAMILY.train(data_dir, model, options, progress=False, extra_callbacks=[Interrupt()])
    state = TrainingState.load(model)
    assert (state.epochs_done, state.epochs_total, state.finished) == (2, 3, False)
    assert (model / "checkpoint" / "weights_last.h5").exists()

    assert run_cli("train", "stardist", "--data", data_dir, "--model", model, "--resume", "--quiet",
                   "--epochs", "99") == 0  # the total comes from the interrupted run
    epochs = [line.split(",")[0] for line in (model / "training_history.csv").read_text().splitlines()[1:]]
    assert epochs == ["1", "2", "3"]
    assert TrainingState.load(model).finished and (model / "qc" / "index.html").exists()
    assert run_cli("train", "stardist", "--data", data_dir, "--model", model, "--resume", "--quiet") == 1


def test_fine_tune_starts_from_the_other_models_weights(trained, data_dir, tmp_path):
    import h5py

    tuned = tmp_path / "tuned"
    assert run_cli("train", "stardist", "--data", data_dir, "--model", tuned, "--from", trained, "--quiet",
                   "--epochs", "1", "--steps", "1", "--lr", "1e-9") == 0
    card = json.loads((tuned / "pyfiji_dl.json").read_text())
    assert card["fine_tuned_from"] == str(trained.resolve()) and card["n_rays"] == 8

    def first_kernel(path):
        with h5py.File(path, "r") as f:
            found = []
            f.visititems(lambda name, obj: found.append(obj[()]) if name.endswith("kernel:0") else None)
            return found[0]

    # with a vanishing learning rate the fine-tuned weights stay those of the source model
    np.testing.assert_allclose(first_kernel(tuned / "weights_best.h5"), first_kernel(trained / "weights_best.h5"),
                               atol=1e-5)


def test_3d_tiny_training_and_prediction(tmp_path):
    from stardist.data import test_image_nuclei_3d

    image, labels = test_image_nuclei_3d(return_mask=True)
    image, labels = image[:32, :64, :64], labels[:32, :64, :64]
    cal = Calibration(pixel_width=0.5, pixel_height=0.5, voxel_depth=1.0, unit="micron")
    data = tmp_path / "data3d"
    for i, flip in enumerate([False, True]):
        volume, mask = (image[:, :, ::-1], labels[:, :, ::-1]) if flip else (image, labels)
        write_imagej_tiff(data / "images" / f"v{i}.tif", np.ascontiguousarray(volume), "ZYX", calibration=cal)
        write_label_image(data / "masks" / f"v{i}.tif", np.ascontiguousarray(mask), "ZYX", calibration=cal)
    model = tmp_path / "m3d"
    assert run_cli("train", "stardist", "--data", data, "--model", model, "--quiet", "--epochs", "1",
                   "--steps", "2", "--patch", "16,32,32", "--batch", "1", "--rays", "16",
                   "--depth", "1", "--filters", "4") == 0
    card = json.loads((model / "pyfiji_dl.json").read_text())
    assert card["ndim"] == 3
    config = json.loads((model / "config.json").read_text())
    assert config["anisotropy"] == [2.0, 1.0, 1.0] and config["grid"][0] == 1
    assert run_cli("predict", model, data / "images" / "v0.tif", "-o", tmp_path / "out", "--quiet") == 0
    assert tifffile.imread(tmp_path / "out" / "masks" / "v0.tif").shape == image.shape


# --- bad input: named, nothing trained -------------------------------------------------

def test_unpaired_and_misshaped_files_are_listed_before_training(data_dir, tmp_path, capsys):
    bad = tmp_path / "bad"
    shutil.copytree(data_dir, bad)
    (bad / "masks" / "field0.tif").rename(bad / "masks" / "other.tif")
    write_label_image(bad / "masks" / "field2.tif", np.ones((50, 50), np.uint16), "YX")
    assert run_cli("train", "stardist", "--data", bad, "--model", tmp_path / "m", "--quiet", *TINY) == 1
    err = capsys.readouterr().err
    assert "images/field0.tif: no masks/field0.tif or rois/field0.zip" in err
    assert "masks/other.tif: no images/other.tif" in err
    assert "field2.tif" in err and "does not match image" in err
    assert not (tmp_path / "m").exists()


def test_objects_larger_than_the_patch_stop_training(tmp_path, capsys):
    data = tmp_path / "big"
    for i in range(2):
        write_imagej_tiff(data / "images" / f"b{i}.tif", np.random.default_rng(i).random((96, 96)).astype(np.float32), "YX")
        labels = np.zeros((96, 96), np.uint16)
        labels[5:90, 5:90] = 1
        write_label_image(data / "masks" / f"b{i}.tif", labels, "YX")
    assert run_cli("train", "stardist", "--data", data, "--model", tmp_path / "m", "--quiet",
                   "--patch", "32", "--rays", "8", "--depth", "1", "--filters", "4") == 1
    err = capsys.readouterr().err
    assert "objects larger than the training patch (32, 32)" in err and "b0" in err
    assert not (tmp_path / "m").exists()


def test_existing_model_folder_is_not_overwritten(trained, data_dir, capsys):
    assert run_cli("train", "stardist", "--data", data_dir, "--model", trained, "--quiet", *TINY) == 1
    assert "already holds files" in capsys.readouterr().err


def test_predict_rejects_wrong_inputs(trained, tmp_path, capsys):
    write_imagej_tiff(tmp_path / "two.tif", np.zeros((2, 64, 64), np.uint8), "CYX")
    (tmp_path / "junk.tif").write_bytes(b"not a tiff")
    assert run_cli("predict", trained, tmp_path / "two.tif", tmp_path / "junk.tif", "-o", tmp_path / "o", "--quiet") == 1
    err = capsys.readouterr().err
    assert "two.tif: has 2 channels; choose one with --channel N" in err
    assert "junk.tif" in err and "not a readable TIFF" in err
    assert run_cli("predict", tmp_path, tmp_path / "two.tif", "-o", tmp_path / "o") == 1
    assert "not a pyfiji_dl model" in capsys.readouterr().err


def test_predict_and_evaluate_channel_rule(trained, data_dir, tmp_path, capsys):
    """--channel 0 and N+1 are refused naming the file and its channels; a valid one is used."""
    data = tmp_path / "two"
    for name in ("field0", "field2"):  # the fields annotated as label maps
        field = tifffile.imread(data_dir / "images" / f"{name}.tif")
        write_imagej_tiff(data / "images" / f"{name}.tif", np.stack([np.zeros_like(field), field]), "CYX")
        (data / "masks").mkdir(parents=True, exist_ok=True)
        shutil.copy(data_dir / "masks" / f"{name}.tif", data / "masks" / f"{name}.tif")
    for bad in ("0", "3"):
        assert run_cli("predict", trained, data / "images", "-o", tmp_path / "p", "--channel", bad, "--quiet") == 1
        assert f"field0.tif: has 2 channel(s); channel {bad} does not exist" in capsys.readouterr().err
        assert run_cli("evaluate", trained, "--data", data, "-o", tmp_path / "e", "--channel", bad) == 1
        assert f"images/field0.tif: has 2 channel(s); channel {bad} does not exist" in capsys.readouterr().err
    assert run_cli("predict", trained, data / "images", "-o", tmp_path / "p2", "--channel", "2", "--quiet") == 0
    assert run_cli("predict", trained, data_dir / "images" / "field0.tif", "-o", tmp_path / "p1", "--quiet") == 0
    assert np.array_equal(tifffile.imread(tmp_path / "p2" / "masks" / "field0.tif"),
                          tifffile.imread(tmp_path / "p1" / "masks" / "field0.tif"))
    assert run_cli("evaluate", trained, "--data", data, "-o", tmp_path / "e2", "--channel", "2") == 0
    assert (tmp_path / "e2" / "index.html").exists()


def test_channel_option_and_block_wise_prediction_match_plain_prediction(trained, nuclei, tmp_path, monkeypatch):
    from pyfiji_dl.models import tiling
    from pyfiji_dl.qc.matching import match_instances

    image, _ = nuclei
    big = np.tile(image, (2, 2))[:640, :640]  # blocks need room for context around objects
    two_channels = np.stack([big, big.max() - big])
    write_imagej_tiff(tmp_path / "in" / "two.tif", two_channels, "CYX")
    assert run_cli("predict", trained, tmp_path / "in", "-o", tmp_path / "plain", "--channel", "1", "--quiet") == 0
    plain = tifffile.imread(tmp_path / "plain" / "masks" / "two.tif")
    assert plain.shape == (640, 640)

    # very large images go block by block; force it on a small one and compare
    monkeypatch.setattr(tiling, "needs_block_processing", lambda shape, axes, threshold=0: True)
    assert run_cli("predict", trained, tmp_path / "in", "-o", tmp_path / "blocks", "--channel", "1", "--quiet") == 0
    blocks = tifffile.imread(tmp_path / "blocks" / "masks" / "two.tif")
    stats = {row["thresh"]: row for row in match_instances(plain.astype(np.int64), blocks.astype(np.int64),
                                                           thresholds=(0.9,))}
    assert stats[0.9]["n_true"] == stats[0.9]["n_pred"] == stats[0.9]["tp"] > 0


def test_multichannel_training(tmp_path, nuclei):
    image, labels = nuclei
    data = tmp_path / "mc"
    for i, (y, x) in enumerate([(0, 0), (0, 256)]):
        crop = image[y:y + 96, x:x + 96]
        write_imagej_tiff(data / "images" / f"m{i}.tif", np.stack([crop, crop[::-1]]), "CYX")
        write_label_image(data / "masks" / f"m{i}.tif", labels[y:y + 96, x:x + 96], "YX")
    model = tmp_path / "mcm"
    assert run_cli("train", "stardist", "--data", data, "--model", model, "--quiet", "--epochs", "1",
                   "--steps", "1", "--patch", "64", "--batch", "1", "--rays", "8", "--depth", "1",
                   "--filters", "4") == 0
    assert json.loads((model / "pyfiji_dl.json").read_text())["n_channels"] == 2
    assert run_cli("predict", model, data / "images" / "m0.tif", "-o", tmp_path / "o", "--quiet") == 0
    assert tifffile.imread(tmp_path / "o" / "masks" / "m0.tif").shape == (96, 96)


def test_evaluate_label_maps_from_any_tool(tmp_path, nuclei, capsys):
    _, labels = nuclei
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    write_label_image(gt / "a.tif", labels[:128, :128], "YX")
    shifted = np.roll(labels[:128, :128], 2, axis=1)
    write_label_image(pred / "a.tif", shifted, "YX")
    write_label_image(pred / "extra.tif", shifted, "YX")
    assert run_cli("evaluate", "--pred", pred, "--gt", gt, "-o", tmp_path / "r") == 1
    assert "extra.tif" in capsys.readouterr().err  # unmatched names are listed
    (pred / "extra.tif").unlink()
    assert run_cli("evaluate", "--pred", pred, "--gt", gt, "-o", tmp_path / "r") == 0
    pooled = (tmp_path / "r" / "matching_pooled.csv").read_text().splitlines()
    assert len(pooled) == 10 and pooled[0].startswith("thresh")
    assert (tmp_path / "r" / "any_overlap_per_image.csv").exists() and (tmp_path / "r" / "overlay_a.png").exists()


def test_background_training_checks_data_first_then_logs_to_the_model(data_dir, tmp_path):
    import subprocess
    import time

    from pathlib import Path

    exe = str(Path(sys.executable).with_name("pyfiji-dl"))
    bad = subprocess.run([exe, "--for-imagej", "train", "stardist", "--data", str(tmp_path / "missing"),
                          "--model", str(tmp_path / "never"), "--background"], capture_output=True, text=True,
                         timeout=300)
    assert bad.returncode == 1 and "PYFIJI-DL STATUS error" in bad.stdout and "missing" in bad.stdout
    assert bad.stderr == ""  # everything on standard output for ImageJ's exec()
    assert not (tmp_path / "never").exists()

    model = tmp_path / "bg"
    out = subprocess.run([exe, "--for-imagej", "train", "stardist", "--data", str(data_dir), "--model", str(model),
                          "--background", *TINY], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout
    assert "Training started in the background" in out.stdout and "PYFIJI-DL STATUS ok" in out.stdout
    deadline = time.monotonic() + 300
    while not (model / "provenance.json").exists() and time.monotonic() < deadline:
        time.sleep(1)
    assert (model / "qc" / "index.html").exists(), (model / "training.log").read_text()[-2000:]
    assert "Thresholds" in (model / "training.log").read_text()
