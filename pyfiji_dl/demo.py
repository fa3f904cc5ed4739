"""``pyfiji-dl demo``: the main job on bundled data, checked in real ImageJ.

Uses the real DSB2018 nuclei image and its hand-made annotation that ship with
StarDist, cut into four fields as a user's small data set would be:

1. annotations as Fiji ROI Manager sets -> label maps (exact, ids kept; also for a
   4-frame time-lapse, whose ROIs must land on their frames);
2. a small StarDist model trained on CPU on three fields, thresholds optimised, QC
   report written;
3. the held-out field predicted: label map, ROI set, object table, summary;
4. the outputs opened in ImageJ, and the prediction scored against the annotation.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .errors import SetupError

FIELDS = {"field1": (0, 0), "field2": (0, 256), "field3": (256, 0), "field4": (256, 256)}
HELD_OUT = "field4"


def bundled_nuclei() -> tuple[np.ndarray, np.ndarray]:
    """The real 512x512 DSB2018 nuclei image and its label map shipped with StarDist."""
    try:
        from stardist.data import test_image_nuclei_2d
    except ImportError as exc:
        raise SetupError("the demo data ship with StarDist: pip install -e '.[dl]'") from exc
    image, labels = test_image_nuclei_2d(return_mask=True)
    return image, labels


def _conversions(out_dir: Path, image: np.ndarray, truth: np.ndarray) -> bool:
    from .annotation.files import labels_file_to_rois, read_label_image, rois_file_to_labels
    from .fiji.imagej1 import imagej_view
    from .io.tiff import write_imagej_tiff, write_label_image

    print("\n== 1. Fiji annotations <-> label maps ==")
    work = out_dir / "conversions"
    image_path = write_imagej_tiff(work / "images" / "nuclei.tif", image, "YX")
    truth_path = write_label_image(work / "annotations" / "nuclei_labels.tif", truth, "YX")
    n_rois = labels_file_to_rois(truth_path, work / "rois" / "nuclei.zip")
    result = rois_file_to_labels(work / "rois" / "nuclei.zip", work / "masks" / "nuclei.tif", image=image_path)
    same = np.array_equal(read_label_image(result.output)[0], truth)
    print(f"annotation -> ROI Manager set of {n_rois} ROIs -> label map: identical, ids kept: {same}")

    frames = np.stack([np.roll(truth, 16 * k, axis=1) for k in range(4)])
    movie_path = write_imagej_tiff(work / "images" / "nuclei_movie.tif",
                                   np.stack([np.roll(image, 16 * k, axis=1) for k in range(4)]), "TYX")
    movie_labels = write_label_image(work / "annotations" / "nuclei_movie_labels.tif", frames, "TYX")
    n_movie = labels_file_to_rois(movie_labels, work / "rois" / "nuclei_movie.zip")
    movie_back = rois_file_to_labels(work / "rois" / "nuclei_movie.zip", work / "masks" / "nuclei_movie.tif",
                                     image=movie_path)
    movie_same = np.array_equal(read_label_image(movie_back.output)[0], frames)
    print(f"time-lapse: 4 frames -> {n_movie} ROIs -> label stack identical: {movie_same}")
    view = imagej_view(result.output, work / "rois" / "nuclei.zip")
    movie_view = imagej_view(movie_back.output, work / "rois" / "nuclei_movie.zip")
    frames_seen = sorted({roi.position for roi in movie_view.rois})  # a time-lapse is a simple stack
    where = "ROI Manager" if view.via_roi_manager else "RoiDecoder"
    print(f"ImageJ: masks/nuclei.tif is {view.bit_depth}-bit with highest label {view.max_value:.0f}; "
          f"{len(view.rois)} ROIs in the {where}; time-lapse ROIs on frames {frames_seen}")
    return same and movie_same and len(view.rois) == n_rois and frames_seen == [1, 2, 3, 4]


def _stardist(out_dir: Path, image: np.ndarray, truth: np.ndarray, minutes: float, cli) -> bool:
    from .annotation.convert import labels_to_rois
    from .fiji.imagej1 import imagej_view
    from .io.rois import write_rois
    from .io.tiff import read_image, write_imagej_tiff
    from .qc.matching import match_dataset

    print("\n== 2. StarDist: train on three fields, predict the fourth ==")
    data = out_dir / "data"
    for name, (y, x) in FIELDS.items():
        held_out = name == HELD_OUT
        write_imagej_tiff((out_dir / "heldout" if held_out else data) / "images" / f"{name}.tif",
                          image[y:y + 256, x:x + 256], "YX")
        # the annotations a Fiji user saves from the ROI Manager (More > Save...)
        write_rois(out_dir / ("heldout" if held_out else "annotations") / f"{name}.zip",
                   labels_to_rois(truth[y:y + 256, x:x + 256], "YX"))
    commands = [
        ["rois-to-labels", "--rois-dir", str(out_dir / "annotations"), "--images", str(data / "images"),
         "-o", str(data / "masks")],
        ["train", "stardist", "--data", str(data), "--model", str(out_dir / "model"), "--epochs", "200",
         "--steps", "50", "--patch", "128", "--batch", "4", "--max-minutes", str(minutes)],
        ["predict", str(out_dir / "model"), str(out_dir / "heldout" / "images"), "-o", str(out_dir / "predictions")],
    ]
    for command in commands:
        print("\n$ pyfiji-dl " + " ".join(command), flush=True)
        if cli(command) != 0:
            return False

    truth_q, _ = read_image(out_dir / "data" / "masks" / "field1.tif")  # written by rois-to-labels
    y, x = FIELDS["field1"]
    masks_exact = np.array_equal(truth_q, truth[y:y + 256, x:x + 256])
    y, x = FIELDS[HELD_OUT]
    pred, _ = read_image(out_dir / "predictions" / "masks" / f"{HELD_OUT}.tif")
    _, pooled = match_dataset([truth[y:y + 256, x:x + 256]], [pred], thresholds=(0.5,))
    score = pooled[0]
    view = imagej_view(out_dir / "predictions" / "masks" / f"{HELD_OUT}.tif",
                       out_dir / "predictions" / "rois" / f"{HELD_OUT}.zip")
    print(f"\nHeld-out field: {score['n_true']} annotated nuclei, {score['n_pred']} predicted; "
          f"F1 at IoU 0.5 = {score['f1']:.3f}, mean matched IoU = {score['mean_matched_score']:.3f}")
    where = "ROI Manager" if view.via_roi_manager else "RoiDecoder"
    print(f"ImageJ: predicted label map {view.bit_depth}-bit, highest label {view.max_value:.0f}; "
          f"{len(view.rois)} ROIs in the {where}, ready to review and correct")
    return masks_exact and len(view.rois) == score["n_pred"]


def run_demo(out_dir: Path, *, command_line, minutes: float = 4.0) -> int:
    """Run the demo; ``command_line`` is ``pyfiji_dl.cli.main``, which runs the commands as a user types
    them (handed in by the ``demo`` command, as the command line sits above this module)."""
    out_dir = Path(out_dir)
    started = time.perf_counter()
    image, truth = bundled_nuclei()
    print(f"Bundled data: DSB2018 nuclei image {image.shape} {image.dtype}, {len(np.unique(truth)) - 1} "
          f"annotated nuclei (label ids up to {truth.max()}).")
    ok = _conversions(out_dir, image, truth)
    ok = _stardist(out_dir, image, truth, minutes, command_line) and ok
    print(f"\nEverything is in {out_dir.resolve()} ({(time.perf_counter() - started) / 60:.1f} min):")
    for folder in ("conversions", "annotations", "data", "model", "model/qc", "predictions", "heldout"):
        path = out_dir / folder
        if path.exists():
            names = sorted(p.name for p in path.iterdir())
            print(f"  {folder}/: " + ", ".join(names[:8]) + (" ..." if len(names) > 8 else ""))
    print(f"  QC report: {out_dir.resolve() / 'model' / 'qc' / 'index.html'}")
    if not ok:
        print("\nDEMO FAILED: the outputs are not what they should be.")
    return 0 if ok else 1
