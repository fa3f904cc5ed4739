"""U-Net end to end with tiny networks on a synthetic transmitted-light rendering of the
DSB2018 nuclei: training leaves the model folder with its evidence, prediction writes
Fiji-readable outputs, resume and fine-tuning, the border weight map, the losses, tiling
and post-processing, and clear errors for bad input."""

import csv
import json
import math
import sys

import numpy as np
import pytest
import tifffile
from scipy import ndimage

from pyfiji_dl.cli import main
from pyfiji_dl.io.tiff import Calibration, write_imagej_tiff, write_label_image

pytestmark = pytest.mark.slow

TINY = ["--epochs", "2", "--steps", "3", "--patch", "64", "--batch", "2", "--filters", "8", "--depth", "2"]
CAL = Calibration(pixel_width=0.5, pixel_height=0.5, unit="micron")


def run_cli(*args):
    return main([str(a) for a in args])


def transmitted_light(nuclei: np.ndarray, seed: int = 0) -> np.ndarray:
    """A brightfield-like rendering of a fluorescence image: nuclei darker than the
    background with a bright halo, low contrast on a slope of illumination, noisy, 16-bit."""
    rng = np.random.default_rng(seed)
    signal = ndimage.gaussian_filter(nuclei.astype(np.float32) / nuclei.max(), 1.5)
    yy, xx = np.mgrid[: nuclei.shape[0], : nuclei.shape[1]]
    image = 900 + 0.2 * xx + 250 * (1 - signal) - 80 * ndimage.gaussian_laplace(signal, 2)
    return np.clip(image + rng.normal(0, 15, image.shape), 0, 65535).astype(np.uint16)


@pytest.fixture(scope="module")
def nuclei():
    from stardist.data import test_image_nuclei_2d

    image, labels = test_image_nuclei_2d(return_mask=True)
    return transmitted_light(image), labels


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, nuclei):
    """Four 256x256 fields; annotations as a label map, a 0/255 mask, a 0/1 mask and a label map."""
    image, labels = nuclei
    root = tmp_path_factory.mktemp("unet_data")
    for i, (y, x) in enumerate([(0, 0), (0, 256), (256, 0), (256, 256)]):
        name = f"field{i}"
        write_imagej_tiff(root / "images" / f"{name}.tif", image[y:y + 256, x:x + 256], "YX", calibration=CAL)
        crop = labels[y:y + 256, x:x + 256]
        mask = {1: np.where(crop > 0, 255, 0).astype(np.uint8), 2: (crop > 0).astype(np.uint8)}.get(i, crop)
        if mask.dtype == np.uint8:
            write_imagej_tiff(root / "masks" / f"{name}.tif", mask, "YX", calibration=CAL)
        else:
            write_label_image(root / "masks" / f"{name}.tif", mask, "YX", calibration=CAL)
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir):
    model = tmp_path_factory.mktemp("unet_models") / "tiny"
    assert run_cli("train", "unet", "--data", data_dir, "--model", model, "--quiet", *TINY) == 0
    return model


# --- the model folder -------------------------------------------------------------------

def test_training_leaves_card_config_weights_history_qc_and_provenance(trained):
    for name in ("config.json", "weights_best.h5", "weights_last.h5", "pyfiji_dl.json", "training_history.csv",
                 "provenance.json", "qc/index.html", "qc/matching_pooled.csv", "qc/any_overlap_per_image.csv",
                 "qc/pixel_metrics_per_image.csv", "qc/scores_side_by_side.csv", "qc/loss_curves.png"):
        assert (trained / name).exists(), name
    assert not (trained / "checkpoint").exists()  # the resume checkpoint goes once training finished
    card = json.loads((trained / "pyfiji_dl.json").read_text())
    assert card["family"] == "unet" and card["ndim"] == 2 and card["n_channels"] == 1 and card["axes"] == "YX"
    assert card["patch"] == [64, 64]
    assert card["normalization"] == {"method": "percentile", "low": 1.0, "high": 99.8, "per_channel": True,
                                     "clip": False}
    assert card["contrast"] == {"method": "percentile"}
    assert 0 < card["threshold"] < 1 and card["threshold_optimisation"]["criterion"].startswith("pooled pixel IoU")
    assert card["min_area"] >= 1 and card["max_area"] is None and card["split_touching"] is False
    assert card["input"]["divisible_by"] == 4 and card["network"]["filters"] == 8
    assert card["loss"] == {"name": "binary focal", "gamma": 2.0, "alpha": 0.5}
    check = card["data_check"]
    assert 0 < check["training foreground fraction"] < 1
    assert check["median annotated object area (px)"] == card["median_object_area"] > 0
    w_background, w_foreground = check["balanced class weights (background, foreground)"]
    assert w_foreground > 1 > w_background  # nuclei are the rarer class
    config = json.loads((trained / "config.json").read_text())
    assert config["depth"] == 2 and config["train_learning_rate"] == pytest.approx(2e-4)
    history = (trained / "training_history.csv").read_text().splitlines()
    assert history[0].startswith("epoch,") and "val_loss" in history[0] and len(history) == 3
    provenance = json.loads((trained / "provenance.json").read_text())
    assert provenance["thresholds"] == {"prob": card["threshold"]}
    assert any(entry["path"].endswith("field1.tif") for entry in provenance["data"])
    assert provenance["config"]["training_options"]["loss"] == "focal"

    html = (trained / "qc" / "index.html").read_text()
    assert "(U-Net)" in html and "Pixels and objects side by side" in html and "overlay_" in html
    with open(trained / "qc" / "scores_side_by_side.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["rule"] for row in rows] == ["pixels (foreground vs background)", "objects, any overlap",
                                             "objects, IoU >= 0.5 one to one"]
    assert {"precision", "recall", "f1_or_dice", "jaccard", "tp", "fp", "fn"} <= set(rows[0])


def test_saved_network_is_a_plain_keras_model_for_export(trained):
    from pyfiji_dl.models.unet import load_model

    model = load_model(trained)
    keras_model = model.keras_model
    assert len(keras_model.inputs) == 1 and len(keras_model.outputs) == 1
    assert tuple(keras_model.inputs[0].shape) == (None, None, None, 1)
    assert tuple(keras_model.outputs[0].shape) == (None, None, None, 1)
    assert keras_model.layers[-1].activation.__name__ == "sigmoid"
    assert model.weights_loaded == "weights_best.h5" and model._axes_div_by("YXC") == [4, 4, 1]


# --- prediction ---------------------------------------------------------------------------

def test_predict_writes_probability_binary_objects_that_open_in_imagej(trained, nuclei, tmp_path, ij, capsys):
    from pyfiji_dl.models.unet import load_model, predict

    image, _ = nuclei
    movie = np.stack([image[:96, :110], image[100:196, 50:160], image[300:396, 300:410]])
    write_imagej_tiff(tmp_path / "in" / "movie.tif", movie, "TYX", calibration=CAL)
    write_imagej_tiff(tmp_path / "in" / "still.tif", image[:80, :90], "YX")
    before = (tmp_path / "in" / "movie.tif").read_bytes()
    # a threshold that surely leaves foreground, whatever two epochs taught the network
    threshold = float(np.percentile(predict(load_model(trained), movie[0]), 70))
    out = tmp_path / "out"
    assert run_cli("predict", trained, tmp_path / "in", "-o", out, "--quiet", "--threshold", threshold,
                   "--min-area", 1) == 0
    assert (tmp_path / "in" / "movie.tif").read_bytes() == before  # input untouched

    probability = tifffile.imread(out / "probability" / "movie.tif")
    assert probability.dtype == np.float32 and probability.shape == movie.shape
    assert 0 <= probability.min() and probability.max() <= 1
    binary = tifffile.imread(out / "binary" / "movie.tif")
    assert binary.dtype == np.uint8 and set(np.unique(binary)) <= {0, 255}
    np.testing.assert_array_equal(binary == 255, probability > threshold)
    labels = tifffile.imread(out / "masks" / "movie.tif")
    assert labels.dtype == np.uint16 and labels.shape == movie.shape and labels.any()
    assert np.all(binary[labels > 0] == 255)
    for folder in ("probability", "binary", "masks"):
        with tifffile.TiffFile(out / folder / "movie.tif") as tif:
            assert tif.imagej_metadata["frames"] == 3 and tif.imagej_metadata["unit"] == "micron", folder
    header = (out / "objects" / "movie.csv").read_text().splitlines()[0].split(",")
    assert {"image", "frame", "label", "area", "centroid_x", "mean_intensity", "probability"} <= set(header)
    summary = (out / "summary.csv").read_text()
    assert "movie.tif" in summary and "still.tif" in summary

    IJ = ij("ij.IJ")
    for folder, depth in (("probability", 32), ("binary", 8), ("masks", 16)):
        imp = IJ.openImage(str(out / folder / "movie.tif"))
        try:
            assert imp.getBitDepth() == depth and tuple(imp.getDimensions()) == (110, 96, 1, 1, 3), folder
            assert imp.getCalibration().pixelWidth == pytest.approx(0.5)
            if folder == "binary":
                assert imp.getProcessor().isBinary()
        finally:
            imp.close()
    from pyfiji_dl.fiji.imagej1 import read_roi_set

    rois, _ = read_roi_set(out / "rois" / "movie.zip", use_roi_manager=False)
    frames = [int(r.getPosition()) for r in rois]
    assert [frames.count(t) for t in (1, 2, 3)] == [len(np.unique(f)) - 1 for f in labels]

    capsys.readouterr()
    assert run_cli("predict", trained, tmp_path / "in", "-o", out, "--quiet") == 0
    assert "skipped 2 finished input(s)" in capsys.readouterr().out


def test_tiled_prediction_equals_whole_image_prediction(trained, nuclei):
    from pyfiji_dl.models.unet import load_model, predict, predict_normalized

    image, _ = nuclei
    model = load_model(trained)
    odd = image[:203, :261]  # not a multiple of 2**depth: padded, then cropped back
    whole = predict(model, odd, n_tiles=(1, 1))
    assert whole.shape == odd.shape and whole.dtype == np.float32
    np.testing.assert_allclose(predict(model, odd, n_tiles=(3, 2)), whole, atol=1e-4)
    with pytest.raises(ValueError, match="1 channel"):
        predict_normalized(model, np.zeros((32, 32, 2), np.float32))


def test_instances_from_probability_split_touching_and_area_filter():
    from pyfiji_dl.models.card import ModelCard
    from pyfiji_dl.models.unet import annotation_instances, instances, mean_probabilities, postprocess

    yy, xx = np.mgrid[:60, :80]
    probability = np.zeros((60, 80), np.float32)
    probability[(yy - 30) ** 2 + (xx - 25) ** 2 <= 12**2] = 0.9
    probability[(yy - 30) ** 2 + (xx - 47) ** 2 <= 12**2] = 0.8  # overlaps the first disc: one blob
    probability[2:4, 70:72] = 0.95  # a 4-pixel speck
    merged = instances(probability, threshold=0.5)
    assert merged.max() == 2
    assert instances(probability, threshold=0.5, min_area=10).max() == 1
    split = instances(probability, threshold=0.5, min_area=10, split_touching=True)
    assert split.max() == 2 and split[30, 25] != split[30, 47] and split[30, 25] and split[30, 47]
    assert instances(probability, threshold=0.5, max_area=10).max() == 1
    mask, labels, probs = postprocess(probability, ModelCard.new("unet", threshold=0.85, min_area=5))
    assert labels.max() == 1 and probs == {1: pytest.approx(0.9)} and mask.sum() > labels.astype(bool).sum()
    assert mean_probabilities(np.zeros((3, 3), int), probability[:3, :3]) == {}

    binary = np.where(merged > 0, 255, 0).astype(np.uint8)
    assert annotation_instances(binary).max() == 2  # 0/255 masks become connected components
    two_labels = np.zeros((10, 10), np.uint16)
    two_labels[1:4, 1:4], two_labels[4:7, 4:7] = 3, 9  # touching labels stay apart
    np.testing.assert_array_equal(annotation_instances(two_labels), two_labels)


# --- resume, early stopping, fine-tuning -----------------------------------------------

def test_resume_continues_to_the_same_total(data_dir, tmp_path):
    import tensorflow as tf

    from pyfiji_dl.families.unet import FAMILY, UnetOptions
    from pyfiji_dl.models.training import TrainingState

    class Interrupt(tf.keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    options = UnetOptions(epochs=3, steps=2, patch=(64, 64), batch=2, filters=8, depth=2)
    model = tmp_path / "m"
    with pytest.raises(KeyboardInterrupt):
        FAMILY.train(data_dir, model, options, progress=False, extra_callbacks=[Interrupt()])
    state = TrainingState.load(model)
    assert (state.epochs_done, state.epochs_total, state.finished) == (2, 3, False)
    assert (model / "checkpoint" / "weights_last.h5").exists() and (model / "weights_best.h5").exists()

    assert run_cli("train", "unet", "--data", data_dir, "--model", model, "--resume", "--quiet",
                   "--epochs", "99") == 0  # the total comes from the interrupted run
    epochs = [line.split(",")[0] for line in (model / "training_history.csv").read_text().splitlines()[1:]]
    assert epochs == ["1", "2", "3"]
    assert TrainingState.load(model).finished and (model / "qc" / "index.html").exists()
    assert run_cli("train", "unet", "--data", data_dir, "--model", model, "--resume", "--quiet") == 1


def test_early_stopping_keeps_best_weights_and_counts_resumed_epochs(tmp_path):
    from pyfiji_dl.io.tables import write_csv
    from pyfiji_dl.models.training import HISTORY_FILE, TrainingState
    from pyfiji_dl.models.unet import WEIGHTS_BEST, WEIGHTS_LAST, UNetConfig, UNetModel

    folder = tmp_path / "es"
    model = UNetModel(UNetConfig(depth=2, filters=4, train_patience=2), name="es", basedir=tmp_path)
    # a resumed run: epoch 1 was the best so far, epoch 2 was not better
    TrainingState(2, 10).save(folder)
    write_csv(folder / HISTORY_FILE, [{"epoch": 1, "loss": 1.0, "val_loss": 0.5},
                                      {"epoch": 2, "loss": 0.9, "val_loss": 0.7}])
    model.prepare_for_training()
    callback = model.callbacks[0]
    callback.set_model(model.keras_model)
    callback.on_train_begin()
    assert (callback.best, callback.best_epoch) == (0.5, 1)
    callback.on_epoch_end(0, {"val_loss": 0.6})  # epoch 3: two epochs without improvement
    assert model.keras_model.stop_training and model.early_stopped_at == 3
    assert not (folder / WEIGHTS_BEST).exists()
    callback.on_train_end()
    assert TrainingState.load(folder).finished and (folder / WEIGHTS_LAST).exists()

    model.keras_model.stop_training = False
    TrainingState(0, 10).save(folder)
    callback.on_train_begin()
    callback.on_epoch_end(0, {"val_loss": 0.4})
    assert (folder / WEIGHTS_BEST).exists() and not model.keras_model.stop_training


# config.json as the U-Net's own model class wrote it before it became a CSBDeep BaseModel
FORMER_CONFIG = {
    "n_channel_in": 1, "depth": 2, "filters": 4, "kernel_size": 3, "dropout": 0.05, "batch_norm": True,
    "upsampling": "transpose-2x2", "contrast": "percentile", "normalization_low": 1.0, "normalization_high": 99.8,
    "loss": "focal", "focal_gamma": 2.0, "focal_alpha": 0.5, "w0": 10.0, "sigma": 5.0,
    "class_weights": [0.63, 2.42], "train_patch_size": [64, 64], "train_batch_size": 2,
    "train_learning_rate": 0.0002, "train_epochs": 2, "train_steps_per_epoch": 3, "train_patience": 20,
    "train_reduce_lr": {"factor": 0.5, "patience": 3, "min_delta": 0}, "seed": 42,
}


def test_model_folders_of_the_former_model_class_load_and_new_ones_are_written_alike(tmp_path):
    import tensorflow as tf
    from csbdeep.models import BaseModel

    from pyfiji_dl.models.unet import WEIGHTS_LAST, UNetConfig, UNetModel, build_unet

    folder = tmp_path / "former"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(FORMER_CONFIG, indent=2))
    tf.random.set_seed(3)
    network = build_unet(1, filters=4, depth=2)
    network.save_weights(str(folder / WEIGHTS_LAST))  # a run stopped before any validation improvement

    model = UNetModel(None, name="former", basedir=tmp_path)
    assert isinstance(model, BaseModel) and model.weights_loaded == WEIGHTS_LAST
    assert model.config == UNetConfig(**{**FORMER_CONFIG, "train_patch_size": (64, 64)})
    for ours, saved in zip(model.keras_model.get_weights(), network.get_weights()):
        np.testing.assert_array_equal(ours, saved)
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", WEIGHTS_LAST]  # nothing rewritten

    UNetModel(model.config, name="again", basedir=tmp_path)
    assert json.loads((tmp_path / "again" / "config.json").read_text()) == FORMER_CONFIG
    assert UNetModel(model.config, basedir=None).keras_model.count_params() == network.count_params()
    with pytest.raises(ValueError, match="Invalid configuration attributes: filters, train_patch_size"):
        UNetModel(UNetConfig(depth=2, filters=0, train_patch_size=(62, 64)), basedir=None)


def test_fine_tune_with_weighted_bce_starts_from_the_other_models_weights(trained, data_dir, tmp_path):
    import h5py

    tuned = tmp_path / "tuned"
    assert run_cli("train", "unet", "--data", data_dir, "--model", tuned, "--from", trained, "--quiet",
                   "--epochs", "1", "--steps", "1", "--lr", "1e-9", "--loss", "weighted-bce",
                   "--threshold", "0.4") == 0
    card = json.loads((tuned / "pyfiji_dl.json").read_text())
    assert card["fine_tuned_from"] == str(trained.resolve()) and card["network"]["filters"] == 8
    assert card["loss"]["name"].startswith("weighted") and card["loss"]["w0"] == 10.0
    assert card["threshold"] == 0.4 and card["threshold_optimisation"] is None

    def first_kernel(path):
        with h5py.File(path, "r") as f:
            found = []
            f.visititems(lambda name, obj: found.append(obj[()]) if name.endswith("kernel:0") else None)
            return found[0]

    # with a vanishing learning rate the fine-tuned weights stay those of the source model
    np.testing.assert_allclose(first_kernel(tuned / "weights_best.h5"), first_kernel(trained / "weights_best.h5"),
                               atol=1e-5)


def test_clahe_contrast_trains_when_fijis_clahe_is_available(data_dir, tmp_path):
    pytest.importorskip("pyfiji_dl.annotation.clahe", reason="pyfiji_dl/annotation/clahe.py not written yet")
    model = tmp_path / "clahe"
    assert run_cli("train", "unet", "--data", data_dir, "--model", model, "--quiet", "--contrast", "clahe",
                   "--epochs", "1", "--steps", "1", "--patch", "64", "--batch", "2", "--filters", "4",
                   "--depth", "2") == 0
    card = json.loads((model / "pyfiji_dl.json").read_text())
    assert card["contrast"] == {"method": "clahe", "block_size": 127, "bins": 256, "max_slope": 3.0}


# --- weight map and losses ------------------------------------------------------------------

def naive_weight_map(labels, class_weights, w0=10.0, sigma=5.0):
    """The textbook computation: one full-image distance transform per object."""
    ids = [i for i in np.unique(labels) if i]
    distances = np.sort(np.stack([ndimage.distance_transform_edt(labels != i) for i in ids], -1), -1)
    border = w0 * np.exp(-((distances[..., 0] + distances[..., 1]) ** 2) / (2 * sigma**2)) * (labels == 0)
    return border + np.where(labels == 0, class_weights[0], class_weights[1])


def test_weight_map_is_high_between_nearby_objects_and_w_c_elsewhere():
    from pyfiji_dl.data.weights import balanced_class_weights, unet_weight_map

    yy, xx = np.mgrid[:80, :120]
    labels = np.zeros((80, 120), np.int32)
    labels[(yy - 40) ** 2 + (xx - 30) ** 2 <= 10**2] = 1
    labels[(yy - 40) ** 2 + (xx - 53) ** 2 <= 10**2] = 2  # 2 background pixels between the discs
    w_background, w_foreground = balanced_class_weights(labels)
    n = labels.size
    assert w_background == pytest.approx(n / (2 * np.count_nonzero(labels == 0)))
    assert w_foreground == pytest.approx(n / (2 * np.count_nonzero(labels)))

    weights = unet_weight_map(labels, w0=10, sigma=5)
    assert weights.dtype == np.float32 and weights.shape == labels.shape
    gap = weights[40, 41]  # in the gap (x 41-42): distance 1 to one disc, 2 to the other
    assert gap == pytest.approx(w_background + 10 * math.exp(-(3**2) / 50), rel=1e-5)
    assert gap > 8 + w_background and weights.max() == pytest.approx(gap, rel=1e-5)
    assert weights[5, 115] == pytest.approx(w_background)  # far from both: only w_c
    assert weights[40, 30] == pytest.approx(w_foreground)  # inside: only w_c
    np.testing.assert_allclose(weights, naive_weight_map(labels, (w_background, w_foreground)), atol=1e-4)

    one = np.where(labels == 1, 1, 0)
    assert np.allclose(unet_weight_map(one, class_weights=(1, 3)), np.where(one, 3, 1))  # no second object
    with pytest.raises(ValueError, match="2D label map"):
        unet_weight_map(np.zeros((2, 8, 8), int))
    with pytest.raises(ValueError, match="integers"):
        unet_weight_map(np.zeros((8, 8), np.float32))


def test_focal_loss_equals_hand_computed_value():
    from pyfiji_dl.models.unet import binary_focal_loss, weighted_binary_crossentropy

    y = np.array([1, 0, 1, 0], np.float32).reshape(1, 2, 2, 1)
    p = np.array([0.9, 0.2, 0.3, 0.6], np.float32).reshape(1, 2, 2, 1)
    hand = (0.5 * 0.1**2 * -math.log(0.9) + 0.5 * 0.2**2 * -math.log(0.8)
            + 0.5 * 0.7**2 * -math.log(0.3) + 0.5 * 0.6**2 * -math.log(0.4)) / 4
    assert float(binary_focal_loss(2.0, 0.5)(y, p)[0]) == pytest.approx(hand, rel=1e-5)
    assert hand == pytest.approx(0.1162, abs=1e-4)

    weights = np.array([1, 2, 10, 0.5], np.float32).reshape(1, 2, 2, 1)
    hand_bce = (-math.log(0.9) * 1 - math.log(0.8) * 2 - math.log(0.3) * 10 - math.log(0.4) * 0.5) / 4
    loss = weighted_binary_crossentropy()(np.concatenate([y, weights], -1), p)
    assert float(loss[0]) == pytest.approx(hand_bce, rel=1e-5)


def test_focal_loss_equals_keras_up_to_its_log_epsilon():
    """Keras' BinaryFocalCrossentropy is ours plus ``+1e-7`` inside the logs, except on a sigmoid's output.

    Why the U-Net keeps its own loss: see :mod:`pyfiji_dl.models.unet.losses`.
    """
    import tensorflow as tf

    from pyfiji_dl.models.unet import binary_focal_loss

    ours = binary_focal_loss(2.0, 0.5)
    keras = tf.keras.losses.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.5, gamma=2.0)
    rng = np.random.default_rng(0)
    y = (rng.random((2, 16, 16, 1)) < 0.3).astype(np.float32)
    p = rng.uniform(0.05, 0.95, y.shape).astype(np.float32)
    # the log epsilon changes each term by at most 1e-7 / 0.05 relative; float32 rounding adds ~1e-7
    assert float(tf.reduce_mean(ours(y, p))) == pytest.approx(float(keras(y, p)), rel=3e-6)

    def ours_with_keras_log_epsilon(y, p, eps=1e-7):
        p = tf.clip_by_value(p, eps, 1 - eps)
        return tf.reduce_mean(-(0.5 * y * (1 - p) ** 2 * tf.math.log(p + eps)
                                + 0.5 * (1 - y) * p ** 2 * tf.math.log(1 - p + eps)))

    saturated = rng.choice(np.float32([0, 1e-9, 0.5, 1]), y.shape)
    assert float(tf.reduce_mean(ours(y, saturated))) != pytest.approx(float(keras(y, saturated)), rel=1e-2)
    assert float(ours_with_keras_log_epsilon(y, saturated)) == pytest.approx(float(keras(y, saturated)), rel=1e-6)

    # on a sigmoid layer's output (the network's, in training) Keras reads the logits and does not clip
    logits = tf.keras.Input((16, 16, 1))
    net = tf.keras.Model(logits, tf.keras.layers.Activation("sigmoid")(logits))
    z = rng.choice(np.float32([-40, -1, 1, 40]), y.shape)
    graph = tf.function(lambda z, y: (tf.reduce_mean(ours(y, net(z))), keras(y, net(z))))
    ours_value, keras_value = (float(v) for v in graph(z, y))
    unclipped = tf.reduce_mean(tf.where(y > 0, 0.5, 0.5) * tf.pow(tf.abs(y - tf.sigmoid(z)), 2.0)
                               * tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=z))
    assert keras_value == pytest.approx(float(unclipped), rel=1e-5)
    assert keras_value > 1.5 * ours_value


# --- bad input: named, nothing trained --------------------------------------------------------

def test_wrong_inputs_give_clear_errors(data_dir, trained, tmp_path, capsys, monkeypatch):
    from pyfiji_dl.families.unet import UnetOptions
    from pyfiji_dl.models.unet import preprocess

    assert run_cli("train", "unet", "--data", data_dir, "--model", tmp_path / "a", "--quiet", *TINY[:4],
                   "--patch", "50", "--depth", "2") == 1
    assert "must be made of multiples of 4" in capsys.readouterr().err
    assert run_cli("train", "unet", "--data", data_dir, "--model", tmp_path / "b", "--quiet",
                   "--patch", "512", "--depth", "2", "--filters", "4") == 1
    err = capsys.readouterr().err
    assert "images smaller than the training patch (512, 512)" in err and "field0" in err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()

    volumes = tmp_path / "vol"
    for i in range(2):
        write_imagej_tiff(volumes / "images" / f"v{i}.tif", np.zeros((4, 32, 32), np.uint16), "ZYX")
        write_label_image(volumes / "masks" / f"v{i}.tif", np.ones((4, 32, 32), np.uint16), "ZYX")
    assert run_cli("train", "unet", "--data", volumes, "--model", tmp_path / "c", "--quiet", *TINY) == 1
    assert "this U-Net is 2D" in capsys.readouterr().err

    assert run_cli("train", "unet", "--data", data_dir, "--model", trained, "--quiet", *TINY) == 1
    assert "already holds files" in capsys.readouterr().err
    assert run_cli("train", "unet", "--data", data_dir, "--model", tmp_path / "d", "--from", tmp_path,
                   "--quiet", *TINY) == 1
    assert "not a pyfiji_dl model" in capsys.readouterr().err
    with pytest.raises(ValueError, match="loss must be one of focal, weighted-bce"):
        UnetOptions(loss="dice").check()

    write_imagej_tiff(tmp_path / "two.tif", np.zeros((2, 64, 64), np.uint8), "CYX")
    assert run_cli("predict", trained, tmp_path / "two.tif", "-o", tmp_path / "o", "--quiet") == 1
    assert "has 2 channels; choose one with --channel N" in capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:  # refused when the command line is read
        run_cli("predict", trained, tmp_path / "two.tif", "-o", tmp_path / "o", "--threshold", "1.5")
    assert refused.value.code == 2
    assert "--threshold: 1.5 is out of range: a probability between 0 and 1" in capsys.readouterr().err

    # Fiji's CLAHE is imported only when a model asks for it; without it the error says what to do
    monkeypatch.setitem(sys.modules, "pyfiji_dl.annotation.clahe", None)
    with pytest.raises(RuntimeError, match="use --contrast percentile"):
        preprocess(np.zeros((8, 8)), {"method": "clahe"}, {"low": 1, "high": 99.8})


def test_background_training_checks_the_data_first(tmp_path):
    import subprocess
    from pathlib import Path

    exe = str(Path(sys.executable).with_name("pyfiji-dl"))
    out = subprocess.run([exe, "--for-imagej", "train", "unet", "--data", str(tmp_path / "missing"),
                          "--model", str(tmp_path / "never"), "--background"], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 1 and "PYFIJI-DL STATUS error" in out.stdout and "missing" in out.stdout
    assert not (tmp_path / "never").exists()

