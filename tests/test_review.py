"""Review first: confidence per object, ROI sets ordered and coloured for review (read
back by real ImageJ), the review queue over a folder, and corrections."""

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile

from pyfiji_dl.cli import main
from pyfiji_dl.io.tiff import write_imagej_tiff, write_label_image
from pyfiji_dl.prediction.review import CONFIDENCE_RAMP, UNKNOWN_COLOUR, confidence_colour, review_rois

# A tiny StarDist model: seconds of training, enough to give objects of varied confidence.
TINY = ["--epochs", "3", "--steps", "10", "--patch", "64", "--batch", "4", "--rays", "8",
        "--depth", "1", "--filters", "8", "--lr", "3e-3"]
FIELDS = [(0, 0), (0, 128), (128, 0), (128, 128)]


def run_cli(*args):
    return main([str(a) for a in args])


def read_table(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_confidence_colour_ramp_ends_and_unknown():
    assert confidence_colour(0.4, floor=0.4) == CONFIDENCE_RAMP[0]
    assert confidence_colour(0.7, floor=0.4) == CONFIDENCE_RAMP[1]
    assert confidence_colour(1.0, floor=0.4) == CONFIDENCE_RAMP[2]
    assert confidence_colour(0.1, floor=0.4) == CONFIDENCE_RAMP[0]  # below the floor: clipped
    assert confidence_colour(None) == UNKNOWN_COLOUR


def test_review_rois_orders_3d_slices_together_and_unknown_last():
    import roifile

    def roi(name):
        r = roifile.ImagejRoi.frompoints([[0, 0], [3, 0], [3, 3]])
        r.name = name
        return r

    rois = [roi("label-00001-z001"), roi("label-00001-z002"), roi("label-00002-z001"),
            roi("label-00003-z001"), roi("label-00003-z002")]
    ordered = review_rois(rois, {(1, 1): 0.9, (1, 3): 0.3}, n_z=2, model_ndim=3)
    assert [r.name for r in ordered] == ["label-00003-z001 p=0.30", "label-00003-z002 p=0.30",
                                         "label-00001-z001 p=0.90", "label-00001-z002 p=0.90",
                                         "label-00002-z001"]
    assert ordered[0].properties["confidence"] == pytest.approx(0.3)


def test_unet_confidence_is_the_mean_foreground_probability_inside_the_object():
    from pyfiji_dl.models.card import ModelCard
    from pyfiji_dl.models.unet import postprocess
    from pyfiji_dl.prediction.review import review_rois
    from pyfiji_dl.annotation.convert import labels_to_rois

    probability = np.zeros((40, 40), np.float32)
    probability[2:12, 2:12] = 0.9
    probability[20:30, 20:30] = np.linspace(0.55, 0.75, 10)[None, :]
    _, labels, confidences = postprocess(probability, ModelCard.new("unet", threshold=0.5, split_touching=False))
    for label, confidence in confidences.items():
        assert confidence == pytest.approx(probability[labels == label].mean())
    ordered = review_rois(labels_to_rois(labels, "YX"), confidences)
    assert [r.properties["confidence"] for r in ordered] == pytest.approx(sorted(confidences.values()), abs=1e-4)


@pytest.fixture(scope="module")
def nuclei():
    from stardist.data import test_image_nuclei_2d

    return test_image_nuclei_2d(return_mask=True)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, nuclei):
    """Four 128x128 DSB2018 fields with their annotation (training data) and two more to predict."""
    image, labels = nuclei
    root = tmp_path_factory.mktemp("review")
    for i, (y, x) in enumerate(FIELDS):
        write_imagej_tiff(root / "data" / "images" / f"field{i}.tif", image[y:y + 128, x:x + 128], "YX")
        write_label_image(root / "data" / "masks" / f"field{i}.tif", labels[y:y + 128, x:x + 128], "YX")
    for i, (y, x) in enumerate([(256, 256), (300, 0)]):
        write_imagej_tiff(root / "inputs" / f"new{i}.tif", image[y:y + 128, x:x + 128], "YX")
        write_label_image(root / "truth" / f"new{i}.tif", labels[y:y + 128, x:x + 128], "YX")
    return root


@pytest.fixture(scope="module")
def model_dir(data_dir):
    """The tiny model with its probability threshold lowered to a percentile of its
    probability map on an input: a model trained for seconds is unsure of everything, and
    this gives it objects across a range of confidences."""
    from stardist.models import StarDist2D

    from pyfiji_dl.data.normalize import normalize_percentile

    model = data_dir / "model"
    assert run_cli("train", "stardist", "--data", data_dir / "data", "--model", model, "--quiet", *TINY) == 0
    stardist = StarDist2D(None, name=model.name, basedir=str(model.parent))
    image = normalize_percentile(tifffile.imread(data_dir / "inputs" / "new0.tif"))
    prob, _ = stardist.predict(image)
    for percentile in (90, 75, 95, 50, 25):
        threshold = float(np.percentile(prob, percentile))
        labels, _ = stardist.predict_instances(image, prob_thresh=threshold)
        if len(np.unique(labels)) > 5:
            break
    card = json.loads((model / "pyfiji_dl.json").read_text())
    card["thresholds"]["prob"] = threshold
    (model / "pyfiji_dl.json").write_text(json.dumps(card))
    (model / "thresholds.json").write_text(json.dumps(card["thresholds"]))
    return model


@pytest.fixture(scope="module")
def predicted(model_dir, data_dir):
    out = data_dir / "pred"
    assert run_cli("predict", model_dir, data_dir / "inputs", "-o", out, "--quiet") == 0
    return out


def test_confidence_is_stardists_own_object_probability(model_dir, data_dir, predicted):
    from skimage.draw import polygon
    from stardist.models import StarDist2D

    from pyfiji_dl.data.normalize import normalize_percentile

    image = tifffile.imread(data_dir / "inputs" / "new0.tif")
    stardist = StarDist2D(None, name=model_dir.name, basedir=str(model_dir.parent))
    _, details = stardist.predict_instances(normalize_percentile(image))
    labels = tifffile.imread(predicted / "masks" / "new0.tif")
    rows = read_table(predicted / "objects" / "new0.csv")
    assert len(rows) >= 5 and len(rows) == len(np.unique(labels)) - 1
    # each object's own polygon: the one of StarDist's kept polygons covering most of its pixels
    coverage = np.zeros((len(details["prob"]), int(labels.max()) + 1), int)
    for index, coord in enumerate(details["coord"]):
        rr, cc = polygon(coord[0], coord[1], labels.shape)
        coverage[index] = np.bincount(labels[rr, cc], minlength=coverage.shape[1])
    for row in rows:
        own = int(np.argmax(coverage[:, int(row["label"])]))
        assert float(row["confidence"]) == pytest.approx(details["prob"][own], abs=1e-6)
        assert row["confidence"] == row["probability"]
    assert len({row["confidence"] for row in rows}) > 1


def test_roi_set_is_ordered_named_and_coloured_for_review_in_imagej(ij, model_dir, predicted, data_dir):
    from pyfiji_dl.fiji import jvm
    from pyfiji_dl.fiji.imagej1 import read_roi_set
    from pyfiji_dl.models.card import read_card
    from pyfiji_dl.prediction.review import confidence_floor

    rows = read_table(predicted / "objects" / "new0.csv")
    confidence = {int(r["label"]): float(r["confidence"]) for r in rows}
    floor = confidence_floor(read_card(model_dir))
    assert jvm.has_display(), "the ROI Manager needs a display: run under xvfb-run"
    rois, via_manager = read_roi_set(predicted / "rois" / "new0.zip", use_roi_manager=True)
    assert via_manager and len(rois) == len(rows)
    labels = [int(str(r.getName()).split()[0].split("-")[1]) for r in rois]
    seen = [confidence[label] for label in labels]
    assert seen == sorted(seen)  # least confident first, as the ROI Manager lists them
    for roi, label in zip(rois, labels):
        assert str(roi.getName()) == f"label-{label:05d} p={confidence[label]:.2f}"
        assert float(str(roi.getProperty("confidence"))) == pytest.approx(confidence[label], abs=1e-4)
        colour = roi.getStrokeColor()
        assert (colour.getRed(), colour.getGreen(), colour.getBlue()) == confidence_colour(confidence[label], floor)

    # label order on request; the label map is the same, and the set still maps back to its ids
    out = data_dir / "pred_label_order"
    assert run_cli("predict", model_dir, data_dir / "inputs" / "new0.tif", "-o", out, "--quiet",
                   "--roi-order", "label") == 0
    rois, _ = read_roi_set(out / "rois" / "new0.zip", use_roi_manager=True)
    assert [int(str(r.getName()).split()[0].split("-")[1]) for r in rois] == sorted(confidence)
    np.testing.assert_array_equal(tifffile.imread(out / "masks" / "new0.tif"),
                                  tifffile.imread(predicted / "masks" / "new0.tif"))
    assert run_cli("rois-to-labels", predicted / "rois" / "new0.zip", "--image", data_dir / "inputs" / "new0.tif",
                   "-o", data_dir / "roundtrip.tif") == 0
    np.testing.assert_array_equal(tifffile.imread(data_dir / "roundtrip.tif"),
                                  tifffile.imread(predicted / "masks" / "new0.tif"))


def test_review_ranking_on_made_up_tables(tmp_path):
    from pyfiji_dl.io.tables import write_csv
    from pyfiji_dl.models.card import ModelCard
    from pyfiji_dl.prediction.queue import add_review_columns

    card = ModelCard.new("stardist", thresholds={"prob": 0.4})  # low confidence: below 0.7
    tables = {}
    for name, confidences in {"calm.tif": [0.95, 0.9], "doubtful.tif": [0.45, 0.5, 0.99],
                              "unsure.tif": [0.6, 0.8], "empty.tif": []}.items():
        tables[name] = write_csv(tmp_path / f"{name}.csv", [{"frame": 1, "confidence": c} for c in confidences],
                                 ["frame", "confidence"])
    rows = add_review_columns([{"image": name, "frame": "all"} for name in tables], tables, card)
    by_name = {row["image"]: row for row in rows}
    assert [by_name[n]["n_low_confidence"] for n in tables] == [0, 2, 1, 0]
    assert by_name["doubtful.tif"]["mean_confidence"] == pytest.approx((0.45 + 0.5 + 0.99) / 3)
    ranking = sorted(rows, key=lambda r: r["review_rank"])
    assert [r["image"] for r in ranking] == ["doubtful.tif", "unsure.tif", "calm.tif", "empty.tif"]


def test_review_queue_over_a_folder(model_dir, predicted):
    from PIL import Image

    from pyfiji_dl.models.card import read_card
    from pyfiji_dl.prediction.queue import low_confidence_limit
    from pyfiji_dl.prediction.review import CONFIDENCE_RAMP, confidence_floor

    low = low_confidence_limit(confidence_floor(read_card(model_dir)))
    summary = [row for row in read_table(predicted / "summary.csv") if row["frame"] == "all"]
    assert {row["image"] for row in summary} == {"new0.tif", "new1.tif"}
    for row in summary:
        confidences = [float(o["confidence"]) for o in read_table(predicted / "objects" / row["image"].replace(".tif", ".csv"))]
        assert int(row["n_low_confidence"]) == sum(c < low for c in confidences)
        assert float(row["mean_confidence"]) == pytest.approx(np.mean(confidences))
    first, second = sorted(summary, key=lambda r: int(r["review_rank"]))
    assert (int(first["n_low_confidence"]), -float(first["mean_confidence"])) >= \
        (int(second["n_low_confidence"]), -float(second["mean_confidence"]))

    page = (predicted / "review.html").read_text()
    assert page.index(first["image"]) < page.index(second["image"])  # listed in review order
    assert 'href="rois/new0.zip"' in page
    picture = np.asarray(Image.open(predicted / "review" / "new0.png"))
    assert picture.shape == (128, 128, 3)
    # outlines are drawn in the ramp's colours (between its first and last stop, never grey)
    coloured = picture[(picture[..., 0] != picture[..., 1]) | (picture[..., 1] != picture[..., 2])]
    assert len(coloured) > 0
    reds = {c[0] for c in CONFIDENCE_RAMP}
    assert coloured[:, 0].min() >= min(reds) and coloured[:, 0].max() <= max(reds)


def _squares(shape, boxes):
    labels = np.zeros(shape, np.uint16)
    for label, (y, x, h, w) in boxes.items():
        labels[y:y + h, x:x + w] = label
    return labels


def test_corrections_on_made_up_edits():
    from pyfiji_dl.annotation.corrections import compare_labels

    predicted = _squares((64, 64), {1: (0, 0, 10, 10), 2: (0, 20, 10, 10), 3: (20, 0, 10, 10),
                                    4: (20, 20, 10, 10), 5: (40, 40, 10, 10)})
    corrected = _squares((64, 64), {1: (0, 0, 10, 10),        # unchanged
                                    3: (20, 0, 10, 6),        # redrawn (IoU 0.6)
                                    40: (20, 20, 10, 10),     # unchanged, renumbered by the ROI Manager
                                    7: (40, 52, 10, 10),      # 5 deleted, a different object drawn beside it
                                    9: (54, 0, 8, 8)})        # a missed object added
    counts = compare_labels(predicted, corrected)
    assert (counts.removed, counts.added, counts.redrawn, counts.unchanged) == (2, 2, 1, 2)
    assert (counts.n_predicted, counts.n_corrected) == (5, 5)
    assert counts.message().startswith("2 removed, 2 added, 1 redrawn")
    # a barely touching neighbour is not a redraw: 5 and 7 overlap by 2 columns (IoU 0.11)
    touching = corrected.copy()
    touching[40:50, 48:52] = 7
    assert compare_labels(predicted, touching).redrawn == 1
    # time-lapse: frame by frame
    movie_pred, movie_corr = np.stack([predicted, predicted]), np.stack([predicted, corrected])
    counts = compare_labels(movie_pred, movie_corr, "TYX")
    assert (counts.removed, counts.added, counts.redrawn, counts.unchanged) == (2, 2, 1, 7)


@pytest.fixture(scope="module")
def corrections_dir(data_dir, predicted):
    """A reviewer's corrections of new0: two false positives deleted, one object redrawn,
    one missed object drawn on background, as Save Corrections leaves them."""
    labels = tifffile.imread(predicted / "masks" / "new0.tif").astype(np.uint16)
    ids = [int(i) for i in np.unique(labels) if i]
    corrected = labels.copy()
    corrected[np.isin(corrected, ids[:2])] = 0
    redrawn = corrected == ids[2]
    ys, _ = np.nonzero(redrawn)
    corrected[redrawn & (np.arange(labels.shape[0])[:, None] < np.median(ys))] = 0  # top half cut away
    empty = next((y, x) for y in range(0, 120, 4) for x in range(0, 120, 4) if not labels[y:y + 8, x:x + 8].any())
    corrected[empty[0]:empty[0] + 8, empty[1]:empty[1] + 8] = max(ids) + 1
    root = data_dir / "corrections"
    (root / "images").mkdir(parents=True, exist_ok=True)
    shutil.copy(data_dir / "inputs" / "new0.tif", root / "images" / "new0.tif")
    write_label_image(root / "masks" / "new0.tif", corrected, "YX")
    return root


def test_corrections_command_records_the_review(predicted, corrections_dir, capsys):
    assert run_cli("corrections", predicted / "masks" / "new0.tif", corrections_dir / "masks" / "new0.tif") == 0
    out = capsys.readouterr().out
    assert "2 removed, 1 added, 1 redrawn" in out
    rows = read_table(corrections_dir / "corrections.csv")
    assert len(rows) == 1 and rows[0]["image"] == "new0.tif"
    assert (rows[0]["removed"], rows[0]["added"], rows[0]["redrawn"]) == ("2", "1", "1")
    # reviewing the same image again replaces its row
    assert run_cli("corrections", predicted / "masks" / "new0.tif", corrections_dir / "masks" / "new0.tif") == 0
    assert len(read_table(corrections_dir / "corrections.csv")) == 1


def test_fine_tune_from_corrections_writes_a_new_version_with_lineage_and_comparison(
        model_dir, data_dir, predicted, corrections_dir, capsys):
    from pyfiji_dl.annotation.corrections import file_sha256
    from pyfiji_dl.data.instances import load_instance_dataset

    run_cli("corrections", predicted / "masks" / "new0.tif", corrections_dir / "masks" / "new0.tif")
    weights_before = file_sha256(model_dir / "weights_best.h5")
    assert run_cli("fine-tune", model_dir, "--corrections", corrections_dir, "--epochs", "1", "--steps", "2",
                   "--patch", "64", "--quiet") == 0
    child = model_dir.parent / f"{model_dir.name}_v2"
    out = capsys.readouterr().out
    assert str(child) in out and "parent_vs_child" in out
    assert file_sha256(model_dir / "weights_best.h5") == weights_before  # the parent is unchanged

    card = json.loads((child / "pyfiji_dl.json").read_text())
    assert card["fine_tuned_from"] == str(model_dir.resolve())
    # one number is the patch of every axis, also when training starts from another model
    assert json.loads((child / "config.json").read_text())["train_patch_size"] == [64, 64]
    lineage = json.loads((child / "provenance.json").read_text())["lineage"]
    assert lineage["parent_model"] == str(model_dir.resolve())
    assert lineage["parent_weights_sha256"] == weights_before
    corrected = {Path(f["annotation"]).name: f for f in lineage["corrected_files"]}
    assert set(corrected) == {"new0.tif"}
    assert corrected["new0.tif"]["annotation_sha256"] == file_sha256(corrections_dir / "masks" / "new0.tif")
    assert corrected["new0.tif"]["image_sha256"] == file_sha256(corrections_dir / "images" / "new0.tif")
    assert lineage["corrections_recorded"][0]["removed"] == "2"
    # validation: the parent's own held-out files, so both models are scored on images neither trained on
    parent_val = {Path(s.image_path).stem for s in load_instance_dataset(data_dir / "data").val}
    assert set(lineage["validation_files"]) == parent_val
    assert set(lineage["original_files_kept"]) == {f"field{i}" for i in range(4)} - parent_val
    trained_on = {Path(e["path"]).name for e in json.loads((child / "provenance.json").read_text())["data"]}
    assert "new0.tif" in trained_on

    report = (child / "qc" / "parent_vs_child" / "index.html").read_text()
    assert "parent" in report and "child" in report and "f1" in report
    for role in ("parent", "child"):
        assert (child / "qc" / "parent_vs_child" / role / "matching_pooled.csv").exists()
    # the next fine-tune of the child becomes _v3
    from pyfiji_dl.workflows.fine_tune import next_version

    assert next_version(child).name == f"{model_dir.name}_v3"


def test_review_next_follows_the_queue_and_skips_reviewed_images(predicted, data_dir, tmp_path, capsys):
    from pyfiji_dl.io.tables import write_csv

    ranked = sorted((r for r in read_table(predicted / "summary.csv") if r["frame"] == "all"),
                    key=lambda r: int(r["review_rank"]))
    assert run_cli("review-next", predicted, "--data", tmp_path) == 0
    out = capsys.readouterr().out
    assert f"PYFIJI-DL REVIEW IMAGE {(data_dir / 'inputs' / ranked[0]['image']).resolve()}" in out
    assert f"PYFIJI-DL REVIEW ROIS {(predicted / 'rois' / ranked[0]['image'].replace('.tif', '.zip')).resolve()}" in out
    write_csv(tmp_path / "corrections.csv", [{"image": ranked[0]["image"], "removed": 1}])
    assert run_cli("review-next", predicted, "--data", tmp_path) == 0
    assert f"Next to review: {ranked[1]['image']} (rank 2, 1 image(s) left)" in capsys.readouterr().out
    write_csv(tmp_path / "corrections.csv", [{"image": r["image"]} for r in ranked])
    assert run_cli("review-next", predicted, "--data", tmp_path) == 0
    assert "Every image" in capsys.readouterr().out
    assert run_cli("review-next", tmp_path) == 1  # no summary: told to predict first
    assert "Predict a folder first" in capsys.readouterr().err


def test_fine_tune_in_the_background_checks_before_it_starts(model_dir, tmp_path, capsys):
    (tmp_path / "images").mkdir()
    assert run_cli("fine-tune", model_dir, "--corrections", tmp_path, "--background") == 1
    assert "no corrected images" in capsys.readouterr().err
    assert not (model_dir.parent / f"{model_dir.name}_v2.fine_tune.log").exists()


@pytest.mark.imagej
@pytest.mark.display
def test_review_loop_from_fiji_menu_commands(ij, model_dir, data_dir, predicted, tmp_path):
    """Review (next image of the queue, least confident first) -> Save Corrections (what
    changed) -> Fine-tune from Corrections -> Predict StarDist with the new version, each a
    menu command run in real ImageJ."""
    import os
    import sys
    import time

    from pyfiji_dl.fiji.install import install
    from pyfiji_dl.fiji.session import FijiSession

    if not os.environ.get("DISPLAY"):
        pytest.skip("the ROI Manager needs a display (xvfb-run)")
    session = FijiSession.start()
    root = tmp_path / "Fiji.app"
    (root / "jars").mkdir(parents=True)
    install(root, command=Path(sys.executable).with_name("pyfiji-dl"))

    def command(name, options=None):
        result = session.run_macro(root / "plugins" / "pyfiji-dl" / f"{name}.ijm", options)
        assert result.error is None, f"{name}: {result.error}\n{result.log}"
        return result

    def prefs(key):
        return str(session.jimport("ij.Prefs").get(f"pyfiji-dl.{key}", ""))

    data = tmp_path / "corrections data"
    session.jimport("ij.Prefs").set("pyfiji-dl.data", str(data))
    session.run_macro("close('*');")
    session.roi_manager(create=True)  # as in Fiji; without an ImageJ window macros get a hidden one
    ranked = sorted((r for r in read_table(predicted / "summary.csv") if r["frame"] == "all"),
                    key=lambda r: int(r["review_rank"]))
    confidence = {int(r["label"]): float(r["confidence"]) for r in read_table(
        predicted / "objects" / ranked[0]["image"].replace(".tif", ".csv"))}

    # Review Predictions with no image open: the first image of the queue, least confident ROI first
    review = command("Review_Predictions", {"queue": predicted})
    assert str(review.image.getTitle()) == ranked[0]["image"]
    manager = session.roi_manager()
    names = [str(manager.getRoi(i).getName()) for i in range(manager.getCount())]
    assert len(names) == len(confidence)
    assert [confidence[int(n.split()[0].split("-")[1])] for n in names] == sorted(confidence.values())
    for _ in range(2):  # the reviewer deletes the two least confident objects
        manager.select(0)
        manager.runCommand("Delete")

    saved = session.run_macro(root / "plugins" / "pyfiji-dl" / "Save_Corrections.ijm", {"data": data},
                              imp=review.image)  # the reviewed image is the current one
    assert saved.error is None, saved.error
    assert "2 removed, 0 added, 0 redrawn" in saved.log
    assert read_table(data / "corrections.csv")[0]["removed"] == "2"

    # the queue moves on to the next image not corrected yet
    for image in review.images:
        image.close()
    second = command("Review_Predictions", {"queue": predicted})
    assert str(second.image.getTitle()) == ranked[1]["image"]
    for image in second.images:
        image.close()

    tuned = command("Fine_tune_from_Corrections", {"model": model_dir, "data": data, "epochs": 1, "steps": 2})
    version = Path(prefs("stardist"))
    assert version.name.startswith(f"{model_dir.name}_v") and str(version) in tuned.log
    report = version / "qc" / "parent_vs_child" / "index.html"
    deadline = time.time() + 300
    while not report.exists() and time.time() < deadline:  # fine-tuning runs in the background
        time.sleep(2)
    log = version.parent / f"{version.name}.fine_tune.log"
    assert report.exists(), log.read_text() if log.exists() else "no log"

    out = tmp_path / "predictions v2"
    image = session.jimport("ij.IJ").openImage(str(data_dir / "inputs" / "new1.tif"))
    session.show(image)
    predicted_again = session.run_macro(root / "plugins" / "pyfiji-dl" / "Predict_StarDist.ijm",
                                        {"model": prefs("stardist"), "output": out}, imp=image)
    assert predicted_again.error is None, predicted_again.error
    assert (out / "objects" / "new1.csv").exists()
    for opened in predicted_again.images + [image]:
        opened.close()
    session.roi_manager().reset()
